"""Whose pseudonym the audit record of a refused request carries.

A request refused at the HTTP layer, before the router saw it (bad JSON, a conflicting or
malformed user, a missing field), gets the same ``route.refused`` record as one the router
refuses (router/_server/endpoint.py, ``Endpoint.refuse``), so that every request id of a POST
endpoint has a decision or a refusal in the audit. The record names the user by pseudonym
only when the request names exactly one well-formed user.
"""

from __future__ import annotations

from router._errors import InvalidPreferences
from router._pipeline.user_preferences import check_user


def named_user(stated: object, headers: list[str]) -> str | None:
    """The one well-formed user the request names, for the record's pseudonym; else none."""
    named = {u for u in (stated, *headers) if u and isinstance(u, str)}
    if len(named) != 1:
        return None
    try:
        return check_user(named.pop())
    except InvalidPreferences:
        return None
