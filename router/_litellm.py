"""The litellm adapter: the one module that imports litellm.

It forwards one already-scrubbed call to one route's backend, and translates litellm's
errors into ours at exactly this boundary (``_outcomes`` is the table). litellm is
imported on first use, not when this module is: the import takes seconds, and commands
that never forward a request must not pay for it.

litellm is configured once, on that first use: its environment is set before the import
(no network fetches of price maps or header lists, httpx transport so every provider
call goes through one client stack that respx can see), then its module settings (no
callbacks, no message logging, no debug banner) and its log handlers (removed: records
propagate to whatever logging the application configured). Each call runs as one of
litellm's "internal" calls, which skips its per-call logging work. The httpx clients
litellm builds get a connection pool that keeps idle connections alive (router/_keepalive.py).

Retries are never litellm's: each call is one attempt, and failover is the caller's.
Where litellm's behaviour differs per provider, the wire tests (tests/test_wire.py) say so.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from enum import StrEnum
from types import MappingProxyType, ModuleType
from typing import Any, Final, Literal

from router._deployment import Target
from router._errors import RequestRejected, RouterError

Transport = Literal["httpx", "aiohttp"]

# Read by litellm at import or on first use; set before the import, whatever was set before.
ENVIRONMENT: Final = MappingProxyType(
    {
        "LITELLM_OFFLINE_MODE": "true",  # no download of the model price map at import
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "true",  # no download on the first Anthropic call
        "DISABLE_AIOHTTP_TRANSPORT": "True",  # httpx for every provider (respx sees it)
    }
)
_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
# Module-level lists of litellm's callbacks: each would see every request and response.
_CALLBACK_LISTS: Final = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "service_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
)
# Arguments this adapter sets on every call; a caller's value for one of them is replaced.
_OWNED: Final = frozenset(
    {
        "model",
        "custom_llm_provider",
        "stream",
        "timeout",
        "api_base",
        "num_retries",
        "max_retries",
        "drop_params",
        "mock_response",
    }
)
# Arguments that would send the request elsewhere or hand it to an observer.
REFUSED: Final = frozenset(
    {
        "api_key",
        "base_url",
        "callbacks",
        "success_callback",
        "failure_callback",
        "logger_fn",
        "litellm_logging_obj",
    }
)
_DETAIL_LIMIT: Final = 300
_CAUSE_DEPTH: Final = 12
# Statuses that say the backend, not the request, failed, whatever class litellm chose.
_NOT_ABOUT_THE_REQUEST: Final = frozenset({401, 403, 404, 408, 429, 500, 502, 503, 504})
_SECRET_ENV: Final = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.IGNORECASE)


class FailureKind(StrEnum):
    """Why a backend failed; every kind but ``budget`` is worth trying the next route for."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    BAD_RESPONSE = "bad_response"
    CONFIG = "config"
    BUDGET = "budget"


_NOT_RETRYABLE: Final = frozenset({FailureKind.BUDGET})


class UpstreamFailure(RouterError):
    """One route's backend failed; ``retryable`` says whether another route may succeed.

    The message names the litellm provider, the kind and the HTTP status, with litellm's
    own first line, credentials redacted. ``__cause__`` is litellm's exception, unredacted.
    """

    def __init__(
        self, message: str, *, kind: FailureKind, status_code: int | None, provider: str
    ) -> None:
        self.kind = kind
        self.status_code = status_code
        self.provider = provider
        self.retryable = kind not in _NOT_RETRYABLE
        super().__init__(message)


def configure(transport: Transport = "httpx") -> None:
    """Import and configure litellm now (idempotent), with the HTTP transport to use.

    ``httpx`` (the default) keeps every provider call on httpx, where respx and other
    httpx-level tools see it. ``aiohttp`` is litellm's own default: measured here it costs
    less CPU per call, keeps streamed connections alive and has a much lower p99 under
    concurrency (bench/README.md). litellm caches its clients per event loop, so choose the
    transport before the first request; a later change applies only to new event loops.
    """
    litellm: Any = _module()
    use_httpx = transport == "httpx"
    if litellm.disable_aiohttp_transport is not use_httpx:  # called per request: write on change
        os.environ["DISABLE_AIOHTTP_TRANSPORT"] = str(use_httpx)
        litellm.disable_aiohttp_transport = use_httpx


async def complete(
    target: Target,
    kwargs: Mapping[str, Any],
    *,
    api_base: str | None,
    timeout: float,  # noqa: ASYNC109 (litellm's per-request httpx timeout, not a wait of ours)
    offline: bool,
    offline_text: str,
) -> Any:
    """One non-streaming call to ``target``; returns litellm's ``ModelResponse``.

    ``kwargs`` are scrubbed OpenAI-style arguments without ``model``. Offline, litellm
    answers ``offline_text`` itself: no network, no credentials.
    """
    call = _arguments(target, kwargs, api_base, timeout, offline_text if offline else None)
    return await _acompletion(call, target)


async def open_stream(
    target: Target,
    kwargs: Mapping[str, Any],
    *,
    api_base: str | None,
    timeout: float,  # noqa: ASYNC109 (litellm's per-request httpx timeout, not a wait of ours)
    offline: bool,
    offline_text: str,
) -> AsyncIterator[Any]:
    """Start a streaming call; return its chunks once the first one has arrived.

    A failure before the first chunk raises from here, so the caller can still fail over;
    a failure after it raises, translated, from the iteration.
    """
    call = _arguments(target, kwargs, api_base, timeout, offline_text if offline else None)
    stream = await _acompletion(call | {"stream": True}, target)
    _unobserved(stream)
    first = await _first_chunk(stream, target)
    return _chunks(first, stream, target)


async def _acompletion(call: dict[str, Any], target: Target) -> Any:
    """``litellm.acompletion`` marked as litellm's own internal call, errors translated.

    An internal call skips litellm's success and failure logging (a task per call that
    builds a logging payload for callbacks we never register), about a third of its CPU.
    """
    litellm = _module()
    internal = litellm._internal_context.is_internal_call
    token = internal.set(True)
    try:
        return await litellm.acompletion(**call)
    except _translated() as exc:
        raise translate(exc, target) from exc
    finally:
        internal.reset(token)


def _unobserved(stream: Any) -> None:
    """Skip the success logging litellm runs at the end of a stream when nothing would see it.

    The internal-call mark skips it for a JSON answer but not for a stream: there, litellm
    still builds a logging payload, deep-copies it to redact messages and hands it to no one
    (measured: about a tenth of a streamed call's CPU). Only this call's logging object is
    touched, and only while no callback and no cache is registered with litellm: an
    application that registers one gets litellm's logging, redacted, as before.
    """
    litellm = _module()
    if litellm.cache is not None or any(getattr(litellm, name) for name in _CALLBACK_LISTS):
        return
    logging_obj = getattr(stream, "logging_obj", None)
    if logging_obj is not None:
        logging_obj.dispatch_success_handlers = _no_success_logging


async def _no_success_logging(*_args: object, **_kwargs: object) -> None:
    return None


async def _first_chunk(stream: Any, target: Target) -> Any:
    try:
        return await anext(stream)
    except StopAsyncIteration:
        await stream.aclose()
        raise UpstreamFailure(
            f"{target.prefix}: server: the stream ended before its first chunk",
            kind=FailureKind.SERVER,
            status_code=None,
            provider=target.prefix,
        ) from None
    except _translated() as exc:
        await stream.aclose()
        raise translate(exc, target) from exc


async def _chunks(first: Any, stream: Any, target: Target) -> AsyncIterator[Any]:
    try:
        yield first
        async for chunk in stream:
            yield chunk
    except _translated() as exc:
        raise translate(exc, target) from exc
    finally:
        await stream.aclose()


def _arguments(
    target: Target,
    kwargs: Mapping[str, Any],
    api_base: str | None,
    timeout: float,
    mock_response: str | None,
) -> dict[str, Any]:
    refused = sorted(REFUSED & kwargs.keys())
    if refused:
        raise RequestRejected(
            f"{', '.join(map(repr, refused))}: set by the router's deployment, not by a request; "
            "remove it from the call",
            status_code=400,
        )
    call = {key: value for key, value in kwargs.items() if key not in _OWNED}
    if isinstance(call.get("metadata"), Mapping):
        call["metadata"] = dict(call["metadata"])  # litellm adds keys to the dict it is given
    call.update(
        model=target.model,
        custom_llm_provider=target.prefix,
        stream=False,
        timeout=timeout,
        num_retries=0,
        max_retries=0,
        drop_params=True,
    )
    call.update(_prefix_arguments(target.prefix))
    if mock_response is not None:
        call["mock_response"] = mock_response
    elif api_base is not None:
        call["api_base"] = api_base
    return call


def _prefix_arguments(prefix: str) -> dict[str, Any]:
    """Per-provider corrections of litellm's behaviour, fresh on each call (litellm mutates)."""
    if prefix == "deepinfra":
        # litellm drops max_retries=0 for DeepInfra (not among its supported params), and the
        # openai SDK client it then builds retries twice by itself; this lets the param through.
        return {"allowed_openai_params": ["max_retries"]}
    return {}


# --- errors -------------------------------------------------------------------------------

# RequestRejected: the request itself was refused, so no other route is tried.
REJECT: Final[Literal["reject"]] = "reject"
# A generic class (APIError, …): its status code decides.
BY_STATUS: Final[Literal["by_status"]] = "by_status"
Outcome = FailureKind | Literal["reject", "by_status"]


@functools.cache
def _outcomes() -> Mapping[type[BaseException], Outcome]:
    """Every exception class litellm defines, and what it means here."""
    e = _module().exceptions
    router = _module().types.router
    return MappingProxyType(
        {
            e.BadRequestError: REJECT,
            e.InvalidRequestError: REJECT,
            e.UnsupportedParamsError: REJECT,
            e.ContextWindowExceededError: REJECT,
            e.ContentPolicyViolationError: REJECT,
            e.RejectedRequestError: REJECT,
            e.ImageFetchError: REJECT,
            e.VectorStoreSearchError: REJECT,
            e.UnprocessableEntityError: REJECT,
            e.GuardrailRaisedException: REJECT,
            e.BlockedPiiEntityError: REJECT,
            e.SensitiveDataRouteException: REJECT,
            e.ModifyResponseException: REJECT,
            e.Timeout: FailureKind.TIMEOUT,
            e.APIConnectionError: FailureKind.CONNECTION,
            e.RateLimitError: FailureKind.RATE_LIMIT,
            router.RouterRateLimitError: FailureKind.RATE_LIMIT,
            router.RouterRateLimitErrorBasic: FailureKind.RATE_LIMIT,
            e.InternalServerError: FailureKind.SERVER,
            e.ServiceUnavailableError: FailureKind.SERVER,
            e.BadGatewayError: FailureKind.SERVER,
            e.MidStreamFallbackError: FailureKind.SERVER,
            e.AuthenticationError: FailureKind.AUTH,
            e.PermissionDeniedError: FailureKind.AUTH,
            e.NotFoundError: FailureKind.NOT_FOUND,
            e.APIResponseValidationError: FailureKind.BAD_RESPONSE,
            e.JSONSchemaValidationError: FailureKind.BAD_RESPONSE,
            e.LiteLLMUnknownProvider: FailureKind.CONFIG,
            e.ModelNotMappedError: FailureKind.CONFIG,
            e.BudgetExceededError: FailureKind.BUDGET,
            e.APIError: BY_STATUS,
            e.MockException: BY_STATUS,
            e.OpenAIError: BY_STATUS,
        }
    )


def outcome_of(exc: BaseException) -> Outcome | None:
    """The table's entry for ``exc``'s class or its nearest listed base; None if unlisted."""
    table = _outcomes()
    return next((table[cls] for cls in type(exc).__mro__ if cls in table), None)


@functools.cache
def _translated() -> tuple[type[BaseException], ...]:
    return tuple(_outcomes())


def translate(exc: BaseException, target: Target) -> RouterError:
    """Our error for litellm's ``exc`` on ``target``: RequestRejected or UpstreamFailure."""
    status = _status_code(exc)
    outcome = _refined(outcome_of(exc), status, exc)
    detail = _detail(exc)
    where = target.prefix + (f" (HTTP {status})" if status else "")
    if outcome == REJECT:
        return RequestRejected(
            f"{where} refused the request: {detail}", status_code=status, provider=target.prefix
        )
    kind = FailureKind(outcome)
    return UpstreamFailure(
        f"{where}: {kind}: {detail}", kind=kind, status_code=status, provider=target.prefix
    )


def _refined(outcome: Outcome | None, status: int | None, exc: BaseException) -> Outcome:
    """Correct litellm's labels where its own status code or cause says more.

    litellm labels some provider errors by the wrong class (Vertex AI's 403 arrives as
    BadRequestError) and a refused connection as InternalServerError.
    """
    if outcome is None or outcome == BY_STATUS:
        return _by_status(status)
    if outcome == REJECT and status in _NOT_ABOUT_THE_REQUEST:
        return _by_status(status)
    if outcome in (FailureKind.SERVER, FailureKind.CONNECTION):
        return _transport_kind(exc) or outcome
    return outcome


def _by_status(status: int | None) -> Outcome:
    if status in (400, 413, 422):
        return REJECT
    return {
        401: FailureKind.AUTH,
        403: FailureKind.AUTH,
        404: FailureKind.NOT_FOUND,
        408: FailureKind.TIMEOUT,
        429: FailureKind.RATE_LIMIT,
    }.get(status or 0, FailureKind.SERVER)


def _transport_kind(exc: BaseException) -> FailureKind | None:
    """TIMEOUT or CONNECTION when an httpx transport error caused ``exc``, else None."""
    import httpx

    cause: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if cause is None:
            return None
        if isinstance(cause, httpx.TimeoutException):
            return FailureKind.TIMEOUT
        if isinstance(cause, httpx.TransportError):
            return FailureKind.CONNECTION
        cause = cause.__cause__ or cause.__context__
    return None


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and status > 0 else None


def _detail(exc: BaseException) -> str:
    """litellm's first line of the message, without credentials, cut to a readable length."""
    lines = str(exc).strip().splitlines()
    text = (lines[0] if lines else type(exc).__name__).removeprefix("litellm.")
    text = _redacted(text)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _redacted(text: str) -> str:
    """Remove every credential this process holds, by value, then litellm's patterns by shape."""
    secrets = sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6),
        key=len,
        reverse=True,
    )
    for secret in secrets:
        text = text.replace(secret, "[REDACTED]")
    redact: Any = _module()._logging.redact_secrets
    return str(redact(text))


# --- litellm, imported once ---------------------------------------------------------------


def _keep_connections_alive(litellm: Any) -> None:
    """Give every httpx client litellm builds from now on router._keepalive's pool and transport.

    litellm builds its clients in two places: the openai SDK's (OpenAI-compatible
    providers, Azure) and its own ``AsyncHTTPHandler`` (every other provider). Both are
    wrapped, once; a client the application handed litellm (``aclient_session``) is left as
    it is. tests/test_litellm.py checks both places, so a litellm upgrade that moves them fails
    a test rather than silently losing the pool.
    """
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: TID251
    from litellm.llms.openai.common_utils import BaseOpenAILLM  # noqa: TID251

    from router._keepalive import keep_alive

    if getattr(AsyncHTTPHandler.create_client, "_keeps_alive", False):
        return
    create_client = AsyncHTTPHandler.create_client
    sdk_client = BaseOpenAILLM._get_async_http_client

    @functools.wraps(create_client)
    def handler_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return keep_alive(create_client(self, *args, **kwargs))

    @functools.wraps(sdk_client)
    def openai_client(*args: Any, **kwargs: Any) -> Any:
        client = sdk_client(*args, **kwargs)
        if client is None or client is litellm.aclient_session:
            return client
        return keep_alive(client)

    handler_client._keeps_alive = True  # type: ignore[attr-defined]
    setattr(AsyncHTTPHandler, "create_client", handler_client)  # noqa: B010
    setattr(BaseOpenAILLM, "_get_async_http_client", staticmethod(openai_client))  # noqa: B010


@functools.cache
def _module() -> ModuleType:
    os.environ.update(ENVIRONMENT)
    import litellm  # noqa: TID251
    import litellm._internal_context  # noqa: TID251
    import litellm.exceptions  # noqa: TID251

    # Registers a "cache" callback on import (a module-level Cache()): imported here, before
    # the callback lists are cleared, not by the first Vertex AI call after it.
    import litellm.llms.vertex_ai.context_caching.vertex_ai_context_caching  # noqa: TID251
    import litellm.types.router  # noqa: TID251

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on each error
    litellm.disable_aiohttp_transport = True  # in case litellm was imported before us
    litellm.turn_off_message_logging = True  # its logging payloads never hold message content
    litellm.disable_streaming_logging = True  # no per-chunk logging work on a thread
    _keep_connections_alive(litellm)
    for name in _CALLBACK_LISTS:
        setattr(litellm, name, [])
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.ERROR)  # its warnings are about pricing we do not use
    return litellm
