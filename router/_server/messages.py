"""``POST /v1/messages``: Anthropic's Messages API, routed by the same policy as chat.

The body is checked against the Messages surface (router/_core/messages.py), translated to a
chat completion and routed (router/_apis/messages.py); the answer is a Messages response, or with
``stream`` Anthropic's SSE events (``message_start``, ``ping``, ``content_block_start``,
``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``); a
failure mid-stream ends the stream with an ``error`` event. Errors come in Anthropic's shape
(router/_server/errors.py, ``respond``).

The key is ``x-api-key: <key>`` (what Anthropic's SDK sends) or ``Authorization: Bearer
<key>``. ``anthropic-version`` and ``anthropic-beta`` are accepted and ignored: nothing of the
caller's headers is forwarded. The end user is the ``X-Router-User`` header, else
``metadata.user_id`` (see ``_end_user``).

``POST /v1/messages/count_tokens``: the same request (``max_tokens`` not needed), the same
decision; the tokens are counted locally with litellm's tokenizer for the first allowed route,
so no provider is contacted (router/_apis/messages.py, ``count_tokens``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, Final, cast

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from router._apis.messages import API, event_bytes, route_messages, sse, user_of
from router._apis.messages import count_tokens as count
from router._core.redact import named
from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._observe.tracing import remote_parent
from router._server.auth import key_credentials
from router._server.chat import _route_headers, invalid_input, json_object
from router._server.context import Context, context, end_user, router_user
from router._server.errors import ApiError, api_error

_SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ROUTE: Final = SimpleNamespace(path="/v1/messages")
_COUNT_ROUTE: Final = SimpleNamespace(path="/v1/messages/count_tokens")
# Query parameters Anthropic's SDK may add (``beta=true`` on client.beta.messages): ignored.
_IGNORED_QUERY: Final = frozenset({"beta"})


async def messages(request: Request) -> Response:
    """A Messages request routed only to backends the policy allows (JSON, or SSE)."""
    request.scope["route"] = _ROUTE  # what the access log names
    ctx, body, user = await _read(request)
    try:
        with remote_parent(request.headers):  # the request's span joins the caller's trace
            result, answered = await route_messages(
                ctx.router.pipeline, body, user, request_id=request.state.request_id, proxy=True
            )
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        raise invalid_input(exc) from exc
    headers = _route_headers(answered)
    if isinstance(result, dict):
        return JSONResponse(result, headers=headers)
    return StreamingResponse(  # the first chunk is in hand: failover has settled
        _events(result), media_type="text/event-stream", headers=headers | _SSE_HEADERS
    )


async def count_tokens(request: Request) -> Response:
    """The input tokens of a Messages request, counted locally for the route the policy
    would send it to (router/_apis/messages.py, ``count_tokens``): no provider is contacted."""
    request.scope["route"] = _COUNT_ROUTE
    ctx, body, user = await _read(request)
    try:
        counted, route = await count(
            ctx.router.pipeline, body, user, request_id=request.state.request_id
        )
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        raise invalid_input(exc) from exc
    headers = {
        "X-Router-Route": route.key,
        "X-Router-Provider": route.provider.slug,
        "X-Router-Token-Count": "local",  # litellm's tokenizer here, not the provider's count
    }
    return JSONResponse({"input_tokens": counted}, headers=headers)


async def _read(request: Request) -> tuple[Context, dict[str, Any], str | None]:
    """The app's context, the body and the end user, once the key is known; a request refused
    for its body or its user is audited (``route.refused``)."""
    ctx = context(request)
    _authorised(request)
    body: dict[str, Any] = {}
    try:
        body = json_object(await request.body(), "a Messages request")
        user = _end_user(request, body)
    except ApiError as exc:
        model = body.get("model")
        ctx.router.pipeline.refused(
            request.state.request_id, None, model if isinstance(model, str) else None,
            "InvalidRequest", str(exc), api=API,
        )  # fmt: skip
        raise
    return ctx, body, user


def _end_user(request: Request, body: dict[str, Any]) -> str | None:
    """The ``X-Router-User`` header if given, else ``metadata.user_id``.

    Unlike chat, where two different users are refused, the header wins: Anthropic clients
    fill ``metadata.user_id`` themselves (Claude Code: an account and session id), and the
    integration that sets the header names the user whose preferences apply. Either way
    ``metadata`` itself is never forwarded: the one user decided for is, scrubbed per route."""
    header = router_user(request, request.headers.get("x-router-user"))
    if header:
        return end_user(None, header, "X-Router-User", request)
    return end_user(user_of(body), None, "metadata.user_id", request)


def _authorised(request: Request) -> None:
    """The key (x-api-key or Bearer) is known, and the query names nothing but ``beta``."""
    credentials = key_credentials(
        request.headers.get("authorization"), request.headers.get("x-api-key")
    )
    context(request).keys.caller(credentials)
    unknown = sorted(set(request.query_params) - _IGNORED_QUERY)
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {named(unknown[0])}; this endpoint takes none "
            "('beta' is accepted and ignored)",
            code="unsupported_parameter",
            param=unknown[0],
        )


async def _events(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Anthropic's SSE; a failure mid-stream ends it with an ``error`` event in Anthropic's
    shape (never the backend's own text)."""
    stream = sse(events)
    try:
        async for chunk in stream:
            yield chunk
    except RouterError as exc:
        yield event_bytes(api_error(exc).anthropic())
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, stream).aclose()
