"""The HTTP proxy: an OpenAI-compatible front for a ``PolicyRouter``.

- ``POST /v1/chat/completions``: OpenAI's request and response, JSON or SSE (``stream``).
  The end user is the body's ``user`` or the ``X-Router-User`` header; when both are given
  they must name the same user (an ambiguous user is refused, 400: whose preferences apply
  must never be a guess). The raw id decides, then is scrubbed per route like any identifier.
  ``privacy`` (preference fields) tightens the policy for this request only.
- ``GET /v1/models``: models with an allowed route (for ``X-Router-User`` or ``?user=``).
- ``GET|PUT|DELETE /v1/users/{user}/preferences``: admin key only.
- ``GET /healthz`` (the process is up), ``GET /readyz`` (catalog loaded, store reachable).

Auth is ``Authorization: Bearer <key>``: an API key reaches chat and models, an admin key
reaches everything. Every response carries ``X-Request-Id``, the id every audit record of the
request carries. Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.

The modules of the proxy: ``_server`` (this one: the app, its routes, the models, preference
and health endpoints), ``_server_chat`` (chat completions), ``_server_schemas`` (bodies),
``_server_auth`` (keys), ``_server_context`` (the caller and end user of a request),
``_server_errors`` (OpenAI's error shape) and ``_server_envelope`` (id, size limit, access log).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from router._errors import ConfigError, StoreUnavailable
from router._router import ModelAvailability, PolicyRouter
from router._server import hot
from router._server.auth import Keys, check_auth_settings, is_loopback
from router._server.chat import chat_completions
from router._server.context import Admin, Caller, Context, RouterUser, context, end_user
from router._server.envelope import Envelope
from router._server.errors import ApiError, add_error_handlers
from router._server.schemas import (
    ChatCompletion,
    Deleted,
    ErrorResponse,
    Health,
    ModelEntry,
    ModelList,
    RouteInfo,
    StoredPreferences,
)
from router._settings import PrivacyFields, Settings

__all__ = ["check_auth_settings", "create_app", "is_loopback"]

log = logging.getLogger("router.server")

SUMMARY: Final = (
    "An OpenAI-compatible proxy that routes each call only where the privacy policy allows."
)


# --- endpoints ----------------------------------------------------------------------------


async def list_models(
    request: Request,
    caller: Caller,
    x_router_user: RouterUser = None,
    user: Annotated[str | None, Query(description="The end user; or X-Router-User.")] = None,
) -> ModelList:
    """Models with at least one allowed route, for the end user if one is named."""
    router = context(request).router
    models = await router.available_models(end_user(user, x_router_user, "user"))
    created = int(datetime.combine(router.catalog.effective, datetime.min.time(), UTC).timestamp())
    return ModelList(data=[_model_entry(m, created) for m in models])


def _model_entry(found: ModelAvailability, created: int) -> ModelEntry:
    routes = [
        RouteInfo(**r.to_dict(), provider_name=r.provider.name, **r.policy.effective().to_dict())
        for r in found.routes
    ]
    return ModelEntry(
        id=found.slug,
        created=created,
        owned_by="policy-router",
        name=found.name,
        aliases=list(found.model.aliases),
        providers=[r.provider for r in routes],
        routes=routes,
    )


async def get_preferences(request: Request, user: str, caller: Admin) -> StoredPreferences:
    """A user's stored preferences (404 if none: the operator's policy alone applies)."""
    stored = await context(request).router.preferences.get(user)
    if stored is None:
        raise ApiError(
            404,
            "no preferences are stored for this user; the operator's policy applies",
            code="preferences_not_found",
            param="user",
        )
    return StoredPreferences(user=user, preferences=PrivacyFields.model_validate(stored.to_dict()))


async def put_preferences(
    request: Request, user: str, body: PrivacyFields, actor: Admin
) -> StoredPreferences:
    """Replace a user's preferences; the audit records which admin key did it."""
    prefs = body.preferences()
    stored = await context(request).router.preferences.set(
        user, prefs, actor=actor, request_id=request.state.request_id
    )
    return StoredPreferences(user=user, preferences=PrivacyFields.model_validate(stored.to_dict()))


async def delete_preferences(request: Request, user: str, actor: Admin) -> Deleted:
    """Forget a user's preferences; ``deleted`` is false if there were none."""
    deleted = await context(request).router.preferences.delete(
        user, actor=actor, request_id=request.state.request_id
    )
    return Deleted(user=user, deleted=deleted)


async def healthz(request: Request) -> Health:
    """The process is up."""
    return Health(status="ok", catalog_version=context(request).router.catalog.label)


async def readyz(request: Request) -> JSONResponse:
    """Ready when the catalog has models and the preference store answers (else 503)."""
    router = context(request).router
    checks = {"catalog": "ok" if router.catalog.models else "empty", "preference_store": "ok"}
    try:
        await router.preferences.ping()
    except (StoreUnavailable, ConfigError) as exc:
        log.warning("not ready: %s", exc)
        checks["preference_store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    health = Health(
        status="ready" if ready else "not ready",
        catalog_version=router.catalog.label,
        checks=checks,
    )
    return JSONResponse(health.model_dump(), status_code=200 if ready else 503)


# --- the app ------------------------------------------------------------------------------


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in codes}
    out["default"] = {"model": ErrorResponse, "description": "Any other error (500)"}
    return out


_CHAT_OK: Final = {
    "model": ChatCompletion,
    "description": "The completion; with stream=true, SSE events 'data: <chunk>' then 'data: [DONE]'.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def _add_routes(app: FastAPI) -> None:
    chat = _errors(400, 401, 403, 404, 413, 502, 503)
    app.add_api_route(
        "/v1/chat/completions",
        chat_completions,
        methods=["POST"],
        response_model=None,
        responses={200: _CHAT_OK, **chat},
    )
    app.add_api_route("/v1/models", list_models, methods=["GET"], responses=_errors(400, 401, 503))
    prefs, path = _errors(400, 401, 403, 404, 503), "/v1/users/{user:path}/preferences"
    for endpoint, method in ((get_preferences, "GET"), (put_preferences, "PUT")):
        app.add_api_route(
            path, endpoint, methods=[method], responses=prefs, response_model_exclude_none=True
        )
    app.add_api_route(path, delete_preferences, methods=["DELETE"], responses=prefs)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        response_model=None,
        responses={200: {"model": Health}, 503: {"model": Health}},
    )


def create_app(router: PolicyRouter, settings: Settings) -> FastAPI:
    """The ASGI app serving ``router``. Raises ConfigError if the auth settings are unsafe."""
    check_auth_settings(settings.server)
    app = FastAPI(title="policy-router", version=_version(), redoc_url=None, summary=SUMMARY)
    app.state.policy_router = Context(router, Keys.of(settings.server))
    _add_routes(app)
    # The hot endpoint first: it serves /v1/chat/completions; FastAPI's stays for the document.
    app.router.routes.insert(
        0, Route("/v1/chat/completions", hot.chat_completions, methods=["POST"])
    )
    add_error_handlers(app)
    app.add_middleware(Envelope, max_body_bytes=settings.server.max_body_bytes)
    return app


def _version() -> str:
    try:
        return version("policy-router")
    except PackageNotFoundError:
        return "0+unknown"
