"""The preference endpoints (admin key only): each end user's stored preferences.

- ``GET /v1/users/{user}/preferences``: what is stored, the effective preferences under the
  operator's policy, and each stored field that has no effect (the operator's is as strict).
- ``PUT`` replaces the stored preferences; ``PATCH`` merges (JSON Merge Patch, RFC 7396: a
  field given replaces the stored one, ``null`` removes it, fields left out are kept).
- ``DELETE`` forgets them; ``GET /v1/users`` lists users with stored preferences, paged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request

from router._core.preferences import Preferences, without_effect
from router._pipeline.user_preferences import MAX_PAGE
from router._server.context import Admin, context, request_id_apart
from router._server.errors import ApiError
from router._server.schemas import Deleted, PreferenceReport, PrivacyFields, UserPage


async def get_preferences(request: Request, user: str, caller: Admin) -> PreferenceReport:
    """A user's stored and effective preferences (404 if none: the operator's policy applies)."""
    stored = await context(request).router.preferences.get(user)
    if stored is None:
        raise ApiError(
            404,
            "no preferences are stored for this user; the operator's policy applies",
            code="preferences_not_found",
            param="user",
        )
    return await _report(request, user, stored)


async def put_preferences(
    request: Request, user: str, body: PrivacyFields, actor: Admin
) -> PreferenceReport:
    """Replace a user's preferences; the audit records which admin key did it."""
    stored = await context(request).router.preferences.set(
        user, body.preferences(), actor=actor, request_id=request.state.request_id
    )
    return await _report(request, user, stored)


async def patch_preferences(
    request: Request, user: str, body: PrivacyFields, actor: Admin
) -> PreferenceReport:
    """Merge into a user's preferences (JSON Merge Patch: a field given replaces the stored
    one, ``null`` removes it, fields left out are kept); audited as action ``update``."""
    patch = body.model_dump(include=body.model_fields_set)
    stored = await context(request).router.preferences.update(
        user, patch, actor=actor, request_id=request.state.request_id
    )
    return await _report(request, user, stored)


async def delete_preferences(request: Request, user: str, actor: Admin) -> Deleted:
    """Forget a user's preferences; ``deleted`` is false if there were none."""
    deleted = await context(request).router.preferences.delete(
        user, actor=actor, request_id=request.state.request_id
    )
    return Deleted(user=user, deleted=deleted)


async def list_users(
    request: Request,
    caller: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")] = 100,
    after: Annotated[str | None, Query(description="The last user of the previous page.")] = None,
) -> UserPage:
    """Users with stored preferences, sorted; page with ``after`` = the previous ``last``."""
    users, more = await context(request).router.preferences.page(limit=limit, after=after)
    return UserPage(data=users, has_more=more, last=users[-1] if users else None)


async def _report(request: Request, user: str, stored: Preferences) -> PreferenceReport:
    router = context(request).router
    effective = await router.effective_preferences(user)
    return PreferenceReport(
        user=user,
        preferences=PrivacyFields.model_validate(stored.to_dict()),
        effective=PrivacyFields.model_validate(effective.to_dict()),
        without_effect=[w.to_dict() for w in without_effect(router.operator_preferences, stored)],
    )


def _apart(request: Request, user: str) -> None:
    """The request id must not hold the user id the path names (see ``request_id_apart``)."""
    request_id_apart(request, user)


def add_user_routes(app: FastAPI, errors: dict[int | str, dict[str, Any]]) -> None:
    """Register the endpoints above; ``errors`` are their documented error responses."""
    path = "/v1/users/{user:path}/preferences"
    for endpoint, method in (
        (get_preferences, "GET"),
        (put_preferences, "PUT"),
        (patch_preferences, "PATCH"),
    ):
        app.add_api_route(
            path, endpoint, methods=[method], responses=errors, response_model_exclude_none=True,
            dependencies=[Depends(_apart)],
        )  # fmt: skip
    app.add_api_route(
        path, delete_preferences, methods=["DELETE"], responses=errors,
        dependencies=[Depends(_apart)],
    )  # fmt: skip
    app.add_api_route("/v1/users", list_users, methods=["GET"], responses=errors)
