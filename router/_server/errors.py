"""Errors in OpenAI's shape: ``ApiError`` and the table from ``RouterError`` to HTTP.

Every error response is ``{"error": {"message", "type", "param", "code"}}``, except on the
Anthropic Messages paths (``ANTHROPIC_PATHS``), where it is Anthropic's
``{"type": "error", "error": {"type", "message", ...}}`` (``respond`` picks by path). Handlers raise
``ApiError``; a ``RouterError`` is mapped by ``api_error`` (one registration per subclass,
status and code chosen there); FastAPI's validation and HTTP errors are reshaped the same way.
Details that could leak internals (a traceback) go to the log; a backend's own error text goes
nowhere but the caller's exception (providers echo request content), the log gets its kind.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, cast

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from router._core.catalog import Route
from router._core.decision import Decision
from router._core.redact import FIELD_LIKE
from router._errors import (
    BackendsUnconfigured,
    BackendUnavailable,
    ConfigError,
    InvalidPreferences,
    InvalidRequest,
    PolicyViolation,
    RequestRejected,
    RouterError,
    StoredPreferencesInvalid,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
    UpstreamFailure,
)
from router._upstream.deployment import OPERATOR_FACTS

log = logging.getLogger("router.server")

# Paths that speak Anthropic's Messages API: its error shape, and x-api-key auth.
ANTHROPIC_PATHS: Final = frozenset({"/v1/messages", "/v1/messages/count_tokens"})
# Anthropic's error type for an error the HTTP layer answers itself (a RouterError's is its
# own, router/_errors.py, and agrees: tests/test_errors.py); other 4xx: invalid_request_error.
_ANTHROPIC_TYPES: Final = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_INTERNAL: Final = "internal error; the operator's log has the details"


class ApiError(Exception):
    """An error response in OpenAI's shape, raised by handlers and rendered in one place."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        anthropic_type: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.anthropic_type = anthropic_type
        self.error = {"message": message, "type": kind, "param": param, "code": code, **extra}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error}, status_code=self.status, headers=self.headers)

    def anthropic(self) -> dict[str, Any]:
        """The error in Anthropic's shape: its type for the status, then the router's own
        details (``code``, ``param``, the rejected routes and alternatives, ...)."""
        kind = self.anthropic_type or anthropic_type(self.status)
        details = {k: v for k, v in self.error.items() if k != "type" and v is not None}
        return {"type": "error", "error": {"type": kind, **details}}

    def anthropic_response(self) -> JSONResponse:
        return JSONResponse(self.anthropic(), status_code=self.status, headers=self.headers)


def anthropic_type(status: int) -> str:
    """Anthropic's error type for a status the HTTP layer answers without a RouterError."""
    default = "api_error" if status >= 500 else "invalid_request_error"
    return _ANTHROPIC_TYPES.get(status, default)


def respond(error: ApiError, path: str) -> JSONResponse:
    """``error`` in the shape of the API that ``path`` belongs to."""
    return error.anthropic_response() if path in ANTHROPIC_PATHS else error.response()


def internal_error() -> ApiError:
    """The 500 for anything unexpected; what went wrong is in the operator's log only."""
    return _tabled(RouterError, _INTERNAL, {})


def api_error(exc: RouterError) -> ApiError:
    """The HTTP error for a router error: status, code and types from the error table
    (router/_errors.py), the message and details from ``_details``."""
    message, extra = _details(exc)
    return _tabled(exc, message, extra)


def _tabled(
    error: RouterError | type[RouterError], message: str, extra: dict[str, Any]
) -> ApiError:
    return ApiError(
        error.http_status,
        message,
        kind=error.openai_type,
        code=error.error_code,
        anthropic_type=error.anthropic_type,
        **extra,
    )


@functools.singledispatch
def _details(exc: RouterError) -> tuple[str, dict[str, Any]]:
    """The message and body fields of ``exc``; details that could leak internals go to the log."""
    log.error("request failed: %s", type(exc).__name__)
    return _INTERNAL, {}


@_details.register
def _(exc: PolicyViolation) -> tuple[str, dict[str, Any]]:
    public = PolicyViolation(_without_operator_facts(exc.decision), exc.alternatives)
    rejected = [r.to_dict() for r in public.decision.rejected]
    return str(public), {"rejected": rejected, "alternatives": list(exc.alternatives)}


# What an API caller reads instead of a deployment fact (which variables the operator lacks).
NOT_CONFIGURED: Final = "it is not configured on this server (the operator's log says why)"


def _without_operator_facts(decision: Decision) -> Decision:
    """``decision`` with each reason about the deployment (missing credentials, a route with
    no model string) replaced by ``NOT_CONFIGURED``; the originals go to the operator's log."""
    rejected = []
    for rejection in decision.rejected:
        facts = [r for r in rejection.reasons if _operator_fact(r)]
        for fact in facts:
            log.warning("route %s is not servable: %s", rejection.route.key, fact)
        reasons = tuple(NOT_CONFIGURED if _operator_fact(r) else r for r in rejection.reasons)
        rejected.append(replace(rejection, reasons=reasons))
    return replace(decision, rejected=tuple(rejected))


def _operator_fact(reason: str) -> bool:
    return reason.startswith(OPERATOR_FACTS)


@_details.register
def _(exc: BackendsUnconfigured) -> tuple[str, dict[str, Any]]:
    log.warning("no route can be served: %s", exc)
    message = (
        f"no route of {exc.decision.model.name!r} is configured on this server (its providers' "
        "credentials or the deployment are missing); the operator's log says what to set"
    )
    return message, {"unconfigured": [r.route.to_dict() for r in exc.decision.rejected]}


@_details.register
def _(exc: UnknownModel) -> tuple[str, dict[str, Any]]:
    return str(exc), {"param": "model"}


@_details.register(InvalidPreferences)
@_details.register(InvalidRequest)
@_details.register(UnknownProvider)
@_details.register(RequestRejected)
def _(exc: RouterError) -> tuple[str, dict[str, Any]]:
    return str(exc), {}


@_details.register
def _(exc: BackendUnavailable) -> tuple[str, dict[str, Any]]:
    attempts = [_attempt(a) for a in exc.attempts]
    tried = "; ".join(f"{a['provider']}: {a['outcome']}" for a in attempts) or "none"
    log.warning("backends unavailable: %s", tried)
    message = f"every allowed backend failed (tried {tried}); try again later"
    extra: dict[str, Any] = {"attempts": attempts}
    if exc.retry_after is not None:  # the last provider's own word on when to try again
        extra["headers"] = {"retry-after": str(math.ceil(exc.retry_after))}
    return message, extra


@_details.register
def _(exc: UpstreamFailure) -> tuple[str, dict[str, Any]]:
    log.warning("backend failed: %s: %s (status %s)", exc.provider, exc.kind, exc.status_code)
    return (
        f"the backend failed ({exc.kind}) and no other route could take over; try again later",
        {},
    )


@_details.register
def _(exc: StoredPreferencesInvalid) -> tuple[str, dict[str, Any]]:
    log.error("stored preferences unusable: %s", exc)
    message = (
        "the stored preferences of this user cannot be used (a server-side data fault); "
        "requests for this user are refused until an admin sets or deletes them"
    )
    return message, {}


@_details.register
def _(exc: StoreUnavailable) -> tuple[str, dict[str, Any]]:
    log.warning("preference store unavailable: %s", type(exc).__name__)
    return "the preference store cannot be reached; requests are refused until it is back", {}


@_details.register
def _(exc: ConfigError) -> tuple[str, dict[str, Any]]:
    log.error("configuration error while serving: %s", exc)
    return "the router is misconfigured; the operator's log has the details", {}


def _attempt(attempt: object) -> dict[str, Any]:
    """An attempt without the backend's own error text, which stays in the audit log."""
    route = cast(Route, getattr(attempt, "route", None))
    return {
        **route.to_dict(),
        "outcome": getattr(attempt, "outcome", "failed"),
        "status_code": getattr(attempt, "status_code", None),
    }


def add_error_handlers(app: FastAPI) -> None:
    """Render every error ``app`` raises in OpenAI's shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RouterError, _on_router_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    return respond(cast(ApiError, exc), request.url.path)


async def _on_router_error(request: Request, exc: Exception) -> Response:
    return respond(api_error(cast(RouterError, exc)), request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    invalid = cast(RequestValidationError, exc)
    first = invalid.errors()[0]
    where = [key_part(p) for p in first["loc"][1:]] if first["type"] != "json_invalid" else []
    param = ".".join(where) or None
    if first["type"] == "json_invalid":
        message = "the request body is not valid JSON"
    elif param is None:
        message = f"the request body must be a JSON object (Content-Type: application/json): {first['msg']}"
    else:
        message = f"{param}: {str(first['msg']).removeprefix('Value error, ')}"
    return ApiError(400, message, code="invalid_value", param=param).response()


def key_part(part: object) -> str:
    """A part of a validation error's place: a key the caller chose that does not read as a
    parameter name is shown as ``{key}``, never as itself (it lands in the audit record)."""
    text = str(part)
    return text if isinstance(part, int) or FIELD_LIKE.fullmatch(text) else "{key}"


async def _on_http_error(request: Request, exc: Exception) -> Response:
    http = cast(HTTPException, exc)
    code = {404: "not_found", 405: "method_not_allowed"}.get(http.status_code)
    headers = dict(http.headers or {})
    if http.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
    error = ApiError(http.status_code, str(http.detail), code=code, headers=headers)
    return respond(error, request.url.path)


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path: Starlette's 405 names only the first
    route's, and the preference path has one route per method."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            allowed |= getattr(route, "methods", None) or set()
    return allowed
