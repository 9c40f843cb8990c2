"""What a handler knows about its request: the app's router, the calling key, the end user.

``Caller`` and ``Admin`` are FastAPI dependencies that check the Bearer key (``Keys``) and
name the caller (``api-key-<i>``, ``admin-key-<i>``); ``end_user`` settles the one end user a
request names, in the body or query and in the ``X-Router-User`` header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from router._core.invariant import holds_user
from router._core.redact import named
from router._errors import InvalidPreferences
from router._pipeline.user_preferences import check_user
from router._router import PolicyRouter
from router._server.auth import Keys
from router._server.errors import ApiError


@dataclass(frozen=True, slots=True)
class Context:
    """The app's state: the router it serves and the keys that may call it."""

    router: PolicyRouter
    keys: Keys


def context(request: Request) -> Context:
    return cast(Context, request.app.state.policy_router)


_bearer = HTTPBearer(auto_error=False, description="An API key, or an admin key.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _caller(request: Request, credentials: Credentials) -> str:
    return context(request).keys.caller(credentials)


async def _admin(request: Request, credentials: Credentials) -> str:
    return context(request).keys.admin_caller(credentials)


Caller = Annotated[str, Depends(_caller)]
Admin = Annotated[str, Depends(_admin)]
RouterUser = Annotated[str | None, Header(alias="X-Router-User", description="The end user.")]


async def known_query(request: Request) -> None:
    """Refuse query parameters the endpoint does not declare (400): a misspelt ``?usr=`` must
    not silently answer for no user. Applied to every route (``create_app``)."""
    route = request.scope.get("route")
    declared = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", [])}
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {named(unknown[0])}; this endpoint takes "
            f"{', '.join(map(repr, sorted(declared))) or 'none'}",
            code="unsupported_parameter",
            param=unknown[0],
        )


def router_user(request: Request, header: str | None) -> str | None:
    """The ``X-Router-User`` header, given at most once: two of them are refused, since which
    one a proxy or framework keeps is a guess, and whose preferences apply must never be."""
    given = request.headers.getlist("x-router-user")
    if len(given) > 1:
        raise ApiError(
            400,
            f"the X-Router-User header is given {len(given)} times; send it once, naming one user",
            code="conflicting_user",
            param="X-Router-User",
        )
    if header is not None and "," in header:
        raise ApiError(
            400,
            "the X-Router-User header holds a comma, as a header merged from several values "
            "does (RFC 9110 joins repeated fields with commas): whose preferences apply cannot "
            "be told; send one X-Router-User header naming one user, without a comma",
            code="conflicting_user",
            param="X-Router-User",
        )
    return header


def end_user(
    stated: str | None, header: str | None, field: str, request: Request | None = None
) -> str | None:
    """The one end user a request names; two different ones are refused, and so is a
    request id (``X-Request-Id``) that holds the user id (it is copied into every record)."""
    users = {u for u in (stated, header) if u}
    if len(users) > 1:
        raise ApiError(
            400,
            f"the end user is named twice and differently ({field!r} and the X-Router-User header); name one user",
            code="conflicting_user",
            param=field,
        )
    user = next(iter(users), None)
    try:
        checked = None if user is None else check_user(user)
    except InvalidPreferences as exc:
        raise ApiError(400, str(exc), code="invalid_value", param=field) from exc
    if checked is not None and request is not None:
        request_id_apart(request, checked)
    return checked


def request_id_apart(request: Request, user: str) -> None:
    """Refuse (400) a request id (``X-Request-Id``) that is or holds the user id: it is copied
    into every audit record and log line. The request goes on under a fresh id."""
    if holds_user(request.state.request_id, user):
        request.state.request_id = uuid.uuid4().hex  # the records never carry it
        raise ApiError(
            400,
            "the X-Request-Id header holds the user id; the request id is copied into "
            "every audit record and log line, where the id must never be: send a "
            "random id (or none, and the router makes one)",
            code="invalid_request_id",
            param="X-Request-Id",
        )
