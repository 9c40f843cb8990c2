"""The HTTP proxy: an OpenAI-compatible front for a ``PolicyRouter``.

- ``POST /v1/chat/completions``: OpenAI's request and response, JSON or SSE (``stream``).
  The end user is the body's ``user`` or the ``X-Router-User`` header; when both are given
  they must name the same user (an ambiguous user is refused, 400: whose preferences apply
  must never be a guess). The raw id decides, then is scrubbed per route like any identifier.
  ``privacy`` (preference fields) tightens the policy for this request only.
- ``POST /v1/responses``: OpenAI's Responses API, JSON or SSE, routed on the same path as
  chat (router/_server/responses.py); what would keep state at the provider is refused.
- ``POST /v1/messages``: Anthropic's Messages request and response, JSON or SSE, through the
  same policy path as chat (router/_server/messages.py); errors in Anthropic's shape, and the
  key may come as ``x-api-key``.
- ``GET /v1/models``, ``GET /v1/models/{id}``: models with an allowed route (for
  ``X-Router-User`` or ``?user=``; router/_server/models.py).
- ``GET|PUT|PATCH|DELETE /v1/users/{user}/preferences``, ``GET /v1/users``: admin key only
  (router/_server/users.py).
- ``GET /healthz`` (the process is up), ``GET /readyz`` (catalog loaded, store reachable, a
  route servable), ``GET /metrics`` and ``POST /admin/reload`` (admin key): ``operations``.

Auth is ``Authorization: Bearer <key>``: an API key reaches chat and models, an admin key
reaches everything. Every response carries ``X-Request-Id``, the id every audit record of the
request carries. Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.

The modules of the proxy (router/_server/): ``app`` (this one: the app and its routes),
``endpoint`` (the one shape of the four POST endpoints), ``chat``, ``responses`` and
``messages`` (those endpoints), ``models``, ``users`` and ``operations`` (the GET and admin
endpoints), ``openapi`` (the document, the POST bodies generated from the request surface
tables), ``schemas`` (the other bodies), ``auth`` (keys), ``context`` (the caller and end user
of a request), ``errors`` (the error shapes), ``envelope`` (id, auth, size limit, access log)
and ``bootstrap`` (``serve``'s start-up, one process or several).
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.auth import Keys, check_auth_settings, is_loopback
from router._server.chat import Chat
from router._server.context import Context, context, known_query
from router._server.endpoint import Endpoint, Handled
from router._server.envelope import Envelope, Limits
from router._server.errors import add_error_handlers
from router._server.messages import CountTokens, Messages
from router._server.models import add_model_routes
from router._server.openapi import precise
from router._server.operations import add_operation_routes, install_metrics
from router._server.responses import Responses
from router._server.schemas import ErrorResponse, Health
from router._server.users import add_user_routes

__all__ = ["check_auth_settings", "create_app", "is_loopback"]

log = logging.getLogger("router.server")

SUMMARY: Final = (
    "An OpenAI-compatible proxy that routes each call only where the privacy policy allows."
)


# --- endpoints ----------------------------------------------------------------------------


async def healthz(request: Request) -> Health:
    """The process is up."""
    return Health(status="ok", catalog_version=context(request).router.catalog.label)


# --- the app ------------------------------------------------------------------------------


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in codes}
    out["default"] = {"model": ErrorResponse, "description": "Any other error (500)"}
    return out


def _add_routes(app: FastAPI) -> None:
    add_model_routes(app, _errors(400, 401, 404, 503))
    add_user_routes(app, _errors(400, 401, 403, 404, 503))
    app.add_api_route("/healthz", healthz, methods=["GET"], response_model_exclude_none=True)
    add_operation_routes(app)


class _App(FastAPI):
    """FastAPI, with the four POST endpoints answered ahead of its stack.

    Each goes through the same envelope and the same exception handlers as every route
    (``posts``, built by ``create_app`` once the handlers are in place), without the layers
    it has no use for: FastAPI's middleware stack, the router's path matching and FastAPI's
    per-route telemetry. Every other request, and any other method on those paths, takes
    FastAPI's whole stack (whose router holds the same endpoints, for a 405's ``Allow``)."""

    posts: dict[str, ASGIApp] = {}  # noqa: RUF012  replaced per app by create_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not self.root_path:
            stack = self.posts.get(scope["path"])
            if stack is not None:
                scope["app"] = self  # what Starlette sets: request.app
                await stack(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


ENDPOINTS: Final = (Chat, Responses, Messages, CountTokens)


def _posts(
    app: FastAPI, endpoints: tuple[Endpoint, ...], keys: Keys, limits: Limits
) -> dict[str, ASGIApp]:
    """Each POST endpoint in the envelope and the app's exception handlers (as FastAPI's
    ExceptionMiddleware and the route itself hold them, applied in one layer: ``Handled``;
    500 and ``Exception`` are the envelope's, as they were: it answers every other exception)."""
    handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
    return {
        e.path: Envelope(Handled(e.handle, handlers, debug=app.debug), keys=keys, limits=limits)
        for e in endpoints
    }


def create_app(router: PolicyRouter, settings: Settings) -> FastAPI:
    """The ASGI app serving ``router``. Raises ConfigError if the auth settings are unsafe."""
    check_auth_settings(settings.server)
    app = _App(
        title="policy-router",
        version=_version(),
        redoc_url=None,
        summary=SUMMARY,
        dependencies=[Depends(known_query)],
    )
    keys = Keys.of(settings.server)
    app.state.policy_router = Context(router, keys)
    install_metrics(router)
    _add_routes(app)
    endpoints = tuple(e() for e in ENDPOINTS)
    app.router.routes[:0] = [e.route for e in endpoints]  # for the 405's Allow
    app.openapi = precise(app, router.catalog)  # type: ignore[method-assign]
    add_error_handlers(app)
    limits = Limits(settings.server.max_body_bytes, settings.server.read_timeout)
    app.add_middleware(Envelope, keys=keys, limits=limits)
    app.posts = _posts(app, endpoints, keys, limits)
    return app


def _version() -> str:
    try:
        return version("policy-router")
    except PackageNotFoundError:
        return "0+unknown"
