"""The audit record of a chat request refused at the HTTP layer, before the router saw it.

Bad input that FastAPI's validation or the chat handler refuses (a field of the wrong type, a
conflicting or malformed user, an unsupported field) never reaches ``acompletion``, which
writes the ``route.refused`` record of every refusal it makes itself; this writes the same
record for these, so that every chat request id has a decision or a refusal in the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from fastapi import Request

from router._errors import InvalidPreferences
from router._pipeline.user_preferences import check_user
from router._router import PolicyRouter

CHAT_PATH: Final = "/v1/chat/completions"


def audit_refusal(request: Request, body: object, message: str) -> None:
    """A ``route.refused`` record for a chat request refused with ``message`` (other paths: none)."""
    if request.url.path != CHAT_PATH or request.method != "POST":
        return
    fields = body if isinstance(body, Mapping) else {}
    model = fields.get("model")
    router: PolicyRouter = request.app.state.policy_router.router
    router.pipeline.refused(
        request.state.request_id,
        _user(fields.get("user"), request.headers.getlist("x-router-user")),
        model if isinstance(model, str) else None,
        "InvalidRequest",
        message,
    )


def _user(stated: object, headers: list[str]) -> str | None:
    """The one well-formed user the request names, for the record's pseudonym; else none."""
    named = {u for u in (stated, *headers) if u and isinstance(u, str)}
    if len(named) != 1:
        return None
    try:
        return check_user(named.pop())
    except InvalidPreferences:
        return None
