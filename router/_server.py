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
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Final, Literal, cast

import anyio
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router._catalog import Route
from router._errors import (
    BackendUnavailable,
    ConfigError,
    InvalidPreferences,
    InvalidRequest,
    PolicyViolation,
    RequestRejected,
    RouterError,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
)
from router._litellm import UpstreamFailure
from router._preferences import Preferences
from router._router import BACKEND_KWARGS, ModelAvailability, PolicyRouter
from router._settings import ServerSettings, Settings
from router._user_preferences import check_user

log = logging.getLogger("router.server")
access_log = logging.getLogger("router.access")

NO_AUTH: Final = "no-auth"
SUMMARY: Final = (
    "An OpenAI-compatible proxy that routes each call only where the privacy policy allows."
)
# OpenAI chat-completion fields forwarded as given besides the typed ones below (identifiers
# among them are scrubbed per route by the router). Left out on purpose: ``store`` (a stored
# completion outlives the retention the catalog declares for the route), and the SDK-side
# ``extra_body``/``extra_headers``/``timeout``, which are not fields of OpenAI's request.
PASSTHROUGH: Final = frozenset(
    {
        "functions", "function_call", "modalities", "audio", "prediction", "service_tier",
        "verbosity", "web_search_options", "metadata", "safety_identifier", "prompt_cache_key",
        "top_k", "thinking",
    }
)  # fmt: skip
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --- schemas ------------------------------------------------------------------------------


class PrivacyFields(BaseModel):
    """Preference fields: a request's ``privacy`` or a user's stored preferences."""

    model_config = ConfigDict(extra="forbid")

    max_retention: str | None = Field(None, examples=["none", "24h", "30d", "unlimited"])
    allow_flagged_retention: bool | None = None
    allow_training: bool | None = None
    allow_providers: list[str] | None = Field(None, examples=[["openai", "Groq"]])
    deny_providers: list[str] | None = None

    def plain(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completion request; ``model`` names a catalog model. Other OpenAI fields
    accepted untyped: see ``PASSTHROUGH``."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="Display name, alias or slug of a model.")
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(None, description="The end user; or the X-Router-User header.")
    privacy: PrivacyFields | None = Field(None, description="Tightens the policy for this call.")
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    reasoning_effort: str | None = None


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, as the backend answered (``model`` is its upstream name)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error shape; a policy violation adds ``rejected`` and ``alternatives``, an
    outage ``attempts``."""

    error: ErrorDetail


class RouteInfo(BaseModel):
    provider: str
    provider_name: str
    retention: str
    flagged_retention: str
    trains_on_api_data: bool | None
    user_identifier: str


class ModelEntry(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    name: str
    aliases: list[str]
    providers: list[str] = Field(description="Providers allowed for this caller, in order.")
    routes: list[RouteInfo]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]


class StoredPreferences(BaseModel):
    user: str
    preferences: PrivacyFields


class Deleted(BaseModel):
    user: str
    deleted: bool


class Health(BaseModel):
    status: str
    catalog_version: str
    checks: dict[str, str] = Field(default_factory=dict)


# --- errors -------------------------------------------------------------------------------


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
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.error = {"message": message, "type": kind, "param": param, "code": code, **extra}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error}, status_code=self.status, headers=self.headers)


@functools.singledispatch
def api_error(exc: RouterError) -> ApiError:
    """The HTTP error for a router error; details that could leak internals go to the log."""
    log.error("request failed: %s: %s", type(exc).__name__, exc)
    return ApiError(
        500,
        "internal error; the operator's log has the details",
        kind="server_error",
        code="internal_error",
    )


@api_error.register
def _(exc: PolicyViolation) -> ApiError:
    rejected = [_rejection(r.route, r.reasons) for r in exc.decision.rejected]
    return ApiError(
        403,
        str(exc),
        kind="permission_error",
        code="policy_violation",
        rejected=rejected,
        alternatives=list(exc.alternatives),
    )


@api_error.register
def _(exc: UnknownModel) -> ApiError:
    return ApiError(404, str(exc), code="model_not_found", param="model")


@api_error.register(InvalidPreferences)
@api_error.register(InvalidRequest)
@api_error.register(UnknownProvider)
def _(exc: RouterError) -> ApiError:
    return ApiError(400, str(exc), code="invalid_value")


@api_error.register
def _(exc: RequestRejected) -> ApiError:
    status = exc.status_code if exc.status_code and 400 <= exc.status_code < 500 else 400
    return ApiError(status, str(exc), code="rejected_by_provider")


@api_error.register
def _(exc: BackendUnavailable) -> ApiError:
    log.warning("backends unavailable: %s", exc)
    attempts = [_attempt(a) for a in exc.attempts]
    tried = "; ".join(f"{a['provider']}: {a['outcome']}" for a in attempts) or "none"
    message = f"every allowed backend failed (tried {tried}); try again later"
    return ApiError(
        503, message, kind="server_error", code="backends_unavailable", attempts=attempts
    )


@api_error.register
def _(exc: UpstreamFailure) -> ApiError:
    log.warning("backend failed: %s", exc)
    message = f"the backend failed ({exc.kind}) and no other route could take over; try again later"
    return ApiError(502, message, kind="server_error", code="upstream_failure")


@api_error.register
def _(exc: StoreUnavailable) -> ApiError:
    log.warning("preference store unavailable: %s", exc)
    message = "the preference store cannot be reached; requests are refused until it is back"
    return ApiError(503, message, kind="server_error", code="preference_store_unavailable")


@api_error.register
def _(exc: ConfigError) -> ApiError:
    log.error("configuration error while serving: %s", exc)
    return ApiError(
        500,
        "the router is misconfigured; the operator's log has the details",
        kind="server_error",
        code="misconfigured",
    )


def _rejection(route: Route, reasons: tuple[str, ...]) -> dict[str, Any]:
    return {"route": route.key, "provider": route.provider.slug, "reasons": list(reasons)}


def _attempt(attempt: object) -> dict[str, Any]:
    """An attempt without the backend's own error text, which stays in the audit log."""
    route = cast(Route, getattr(attempt, "route", None))
    return {
        "route": route.key,
        "provider": route.provider.slug,
        "outcome": getattr(attempt, "outcome", "failed"),
        "status_code": getattr(attempt, "status_code", None),
    }


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(
        401, message, kind="authentication_error", code=code, headers={"WWW-Authenticate": "Bearer"}
    )


async def _on_api_error(_request: Request, exc: Exception) -> Response:
    return cast(ApiError, exc).response()


async def _on_router_error(_request: Request, exc: Exception) -> Response:
    return api_error(cast(RouterError, exc)).response()


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    first = cast(RequestValidationError, exc).errors()[0]
    where = [str(p) for p in first["loc"][1:]] if first["type"] != "json_invalid" else []
    param = ".".join(where) or None
    if first["type"] == "json_invalid":
        message = "the request body is not valid JSON"
    elif param is None:
        message = f"the request body must be a JSON object (Content-Type: application/json): {first['msg']}"
    else:
        message = f"{param}: {first['msg']}"
    return ApiError(400, message, code="invalid_value", param=param).response()


async def _on_http_error(_request: Request, exc: Exception) -> Response:
    http = cast(HTTPException, exc)
    code = {404: "not_found", 405: "method_not_allowed"}.get(http.status_code)
    return ApiError(http.status_code, str(http.detail), code=code, headers=http.headers).response()


# --- auth ---------------------------------------------------------------------------------


def check_auth_settings(server: ServerSettings) -> None:
    """Refuse to serve without keys, unless allowed and on a loopback host (ConfigError)."""
    keys = [k.get_secret_value() for k in (*server.api_keys, *server.admin_keys)]
    if any(not k.strip() for k in keys):
        raise ConfigError(
            "refusing to start: an API or admin key is empty; remove it or set a real key"
        )
    if keys:
        return
    if not server.allow_no_auth:
        raise ConfigError(
            "refusing to start: no API key is configured; set POLICY_ROUTER_SERVER__API_KEYS='[\"<key>\"]' "
            "(and POLICY_ROUTER_SERVER__ADMIN_KEYS for the preference endpoints), "
            "or for local development on a loopback host pass --allow-no-auth"
        )
    if not is_loopback(server.host):
        raise ConfigError(
            f"refusing to start: --allow-no-auth is allowed on a loopback host only (127.0.0.1, ::1, "
            f"localhost), not {server.host!r}; set POLICY_ROUTER_SERVER__API_KEYS to serve on it"
        )


def is_loopback(host: str) -> bool:
    if host.strip().casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class _Keys:
    """Digests of the configured keys; compared in constant time, each key every time."""

    api: tuple[bytes, ...]
    admin: tuple[bytes, ...]

    @classmethod
    def of(cls, server: ServerSettings) -> _Keys:
        return cls(
            tuple(_digest(k.get_secret_value()) for k in server.api_keys),
            tuple(_digest(k.get_secret_value()) for k in server.admin_keys),
        )

    def caller(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        """Who calls: ``admin-key-<i>`` or ``api-key-<i>`` (index in settings), or 401."""
        if not (self.api or self.admin):
            return NO_AUTH
        token = _token(credentials)
        found = _find("admin-key", token, self.admin) or _find("api-key", token, self.api)
        if found is None:
            raise _unauthorized("invalid API key", "invalid_api_key")
        return found

    def admin_caller(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        """``admin-key-<i>``; an API key gets 403, a wrong or missing key 401."""
        caller = self.caller(credentials)
        if caller != NO_AUTH and not caller.startswith("admin-key-"):
            raise ApiError(
                403,
                "this endpoint needs an admin key (POLICY_ROUTER_SERVER__ADMIN_KEYS)",
                kind="permission_error",
                code="admin_key_required",
            )
        return caller


def _token(credentials: HTTPAuthorizationCredentials | None) -> bytes:
    if credentials is None or not credentials.credentials:
        raise _unauthorized(
            "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key"
        )
    return _digest(credentials.credentials)


def _find(label: str, token: bytes, keys: tuple[bytes, ...]) -> str | None:
    found = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(token, key) and found is None:
            found = f"{label}-{index}"
    return found


@dataclass(frozen=True, slots=True)
class _Context:
    router: PolicyRouter
    keys: _Keys


def _context(request: Request) -> _Context:
    return cast(_Context, request.app.state.policy_router)


_bearer = HTTPBearer(auto_error=False, description="An API key, or an admin key.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _caller(request: Request, credentials: Credentials) -> str:
    return _context(request).keys.caller(credentials)


async def _admin(request: Request, credentials: Credentials) -> str:
    return _context(request).keys.admin_caller(credentials)


Caller = Annotated[str, Depends(_caller)]
Admin = Annotated[str, Depends(_admin)]
RouterUser = Annotated[str | None, Header(alias="X-Router-User", description="The end user.")]


# --- endpoints ----------------------------------------------------------------------------


async def chat_completions(
    request: Request, body: ChatCompletionRequest, caller: Caller, x_router_user: RouterUser = None
) -> Response:
    """A chat completion routed only to backends the policy allows (JSON, or SSE if ``stream``)."""
    user = _end_user(body.user, x_router_user, "user")
    privacy = body.privacy.plain() if body.privacy else None
    try:
        result = await _context(request).router.acompletion(
            body.model,
            body.messages,
            user,
            privacy=privacy,
            stream=body.stream,
            request_id=request.state.request_id,
            **_forwarded(body),
        )
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        error = api_error(exc)
        error.error["param"] = _bad_field(exc, body)
        raise error from exc
    if body.stream:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_sse(result), media_type="text/event-stream", headers=headers)
    return JSONResponse(_plain(result), headers=_route_headers(result))


def _forwarded(body: ChatCompletionRequest) -> dict[str, Any]:
    """The OpenAI fields besides model, messages, user, privacy and stream; unknown ones: 400."""
    extra = body.model_extra or {}
    unknown = sorted(extra.keys() - PASSTHROUGH - BACKEND_KWARGS)
    if unknown:
        raise ApiError(
            400,
            f"unsupported field {unknown[0]!r}: the proxy forwards OpenAI chat-completion fields only",
            code="unsupported_field",
            param=unknown[0],
        )
    own = {"model", "messages", "user", "privacy", "stream"}
    return body.model_dump(exclude=own, exclude_unset=True, exclude_none=True)


def _bad_field(exc: RouterError, body: ChatCompletionRequest) -> str | None:
    if isinstance(exc, InvalidRequest):
        named = sorted(BACKEND_KWARGS & (body.model_extra or {}).keys())
        return named[0] if named else None
    return "privacy"


def _end_user(stated: str | None, header: str | None, field: str) -> str | None:
    """The one end user a request names; two different ones are refused."""
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
        return None if user is None else check_user(user)
    except InvalidPreferences as exc:
        raise ApiError(400, str(exc), code="invalid_value", param=field) from exc


def _plain(obj: Any, *, exclude_none: bool = False) -> dict[str, Any]:
    return cast(dict[str, Any], obj.model_dump(mode="json", exclude_none=exclude_none))


def _route_headers(response: Any) -> dict[str, str]:
    where = (getattr(response, "_hidden_params", None) or {}).get("policy_router") or {}
    headers = {"X-Router-Route": where.get("route"), "X-Router-Provider": where.get("provider")}
    if where.get("offline"):
        headers["X-Router-Offline"] = "true"
    return {k: str(v) for k, v in headers.items() if v}


async def _sse(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """``data: <chunk>`` events then ``data: [DONE]``; a failure mid-stream ends with an error event."""
    try:
        async for chunk in chunks:
            yield _event(_plain(chunk, exclude_none=True))
    except RouterError as exc:
        yield _event({"error": api_error(exc).error})
        return
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, chunks).aclose()
    yield b"data: [DONE]\n\n"


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def list_models(
    request: Request,
    caller: Caller,
    x_router_user: RouterUser = None,
    user: Annotated[str | None, Query(description="The end user; or X-Router-User.")] = None,
) -> ModelList:
    """Models with at least one allowed route, for the end user if one is named."""
    router = _context(request).router
    models = await router.available_models(_end_user(user, x_router_user, "user"))
    created = int(datetime.combine(router.catalog.effective, datetime.min.time(), UTC).timestamp())
    return ModelList(data=[_model_entry(m, created) for m in models])


def _model_entry(found: ModelAvailability, created: int) -> ModelEntry:
    routes = [
        RouteInfo(
            provider=r.provider.slug,
            provider_name=r.provider.name,
            retention=str(r.policy.effective_retention),
            flagged_retention=str(r.policy.effective_flagged_retention),
            trains_on_api_data=r.policy.trains_on_api_data,
            user_identifier=r.policy.effective_user_identifier.value,
        )
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
    stored = await _context(request).router.preferences.get(user)
    if stored is None:
        raise ApiError(
            404,
            "no preferences are stored for this user; the operator's policy applies",
            code="preferences_not_found",
            param="user",
        )
    return StoredPreferences(user=user, preferences=PrivacyFields(**stored.to_dict()))


async def put_preferences(
    request: Request, user: str, body: PrivacyFields, actor: Admin
) -> StoredPreferences:
    """Replace a user's preferences; the audit records which admin key did it."""
    prefs = Preferences.from_dict(body.plain())
    stored = await _context(request).router.preferences.set(
        user, prefs, actor=actor, request_id=request.state.request_id
    )
    return StoredPreferences(user=user, preferences=PrivacyFields(**stored.to_dict()))


async def delete_preferences(request: Request, user: str, actor: Admin) -> Deleted:
    """Forget a user's preferences; ``deleted`` is false if there were none."""
    deleted = await _context(request).router.preferences.delete(
        user, actor=actor, request_id=request.state.request_id
    )
    return Deleted(user=user, deleted=deleted)


async def healthz(request: Request) -> Health:
    """The process is up."""
    return Health(status="ok", catalog_version=_context(request).router.catalog.label)


async def readyz(request: Request) -> JSONResponse:
    """Ready when the catalog has models and the preference store answers (else 503)."""
    router = _context(request).router
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
    app.state.policy_router = _Context(router, _Keys.of(settings.server))
    _add_routes(app)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RouterError, _on_router_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_middleware(Envelope, max_body_bytes=settings.server.max_body_bytes)
    return app


def _version() -> str:
    try:
        return version("policy-router")
    except PackageNotFoundError:
        return "0+unknown"


# --- the envelope of every request ---------------------------------------------------------


class Envelope:
    """Around every request: its id (``X-Request-Id``), the body-size limit (413), an access
    log line without user ids, and a last-resort 500 in OpenAI's shape, never a traceback."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send)
        try:
            body = await _bounded_body(scope, receive, self.limit)
            if body is None:
                await _too_large(self.limit).response()(scope, receive, exchange.send)
            else:
                await self.app(scope, _replay(body, receive), exchange.send)
        except Exception:
            if exchange.status:
                raise
            log.exception("request %s failed", exchange.request_id)
            error = ApiError(
                500,
                "internal error; the operator's log has the details",
                kind="server_error",
                code="internal_error",
            )
            await error.response()(scope, receive, exchange.send)
        finally:
            exchange.log()


class _Exchange:
    """One request's id and status; adds ``X-Request-Id`` to the response it sends."""

    def __init__(self, scope: Scope, send: Send) -> None:
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        self.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = self.request_id
        self.scope = scope
        self.status = 0
        self.started = time.perf_counter()
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", self.request_id.encode()),
            ]
        await self._send(message)

    def log(self) -> None:
        route = getattr(self.scope.get("route"), "path", "<no route>").replace(":path", "")
        elapsed = (time.perf_counter() - self.started) * 1000
        access_log.info(
            "%s %s %s %.0fms request_id=%s",
            self.scope["method"],
            route,
            self.status,
            elapsed,
            self.request_id,
        )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {limit} bytes (POLICY_ROUTER_SERVER__MAX_BODY_BYTES)",
        code="request_too_large",
    )


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it is known to exceed ``limit`` (declared or counted)."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the app the body already read, then the connection's own messages (disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
