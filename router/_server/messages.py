"""``POST /v1/messages``: Anthropic's Messages API, routed by the same policy as chat.

The body is checked against the Messages surface (router/_core/messages.py), translated to a
chat completion and routed (router/_messages.py); the answer is a Messages response, or with
``stream`` Anthropic's SSE events (``message_start``, ``ping``, ``content_block_start``,
``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``); a
failure mid-stream ends the stream with an ``error`` event. Errors come in Anthropic's shape
(router/_server/errors.py, ``respond``).

The key is ``x-api-key: <key>`` (what Anthropic's SDK sends) or ``Authorization: Bearer
<key>``. ``anthropic-version`` and ``anthropic-beta`` are accepted and ignored: nothing of the
caller's headers is forwarded. The end user is the ``X-Router-User`` header, else
``metadata.user_id`` (see ``_end_user``). ``POST /v1/messages/count_tokens`` is
answered with an Anthropic-shaped error saying it is not supported (see ``count_tokens``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, Final, cast

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._messages import API, event_bytes, sse, user_of
from router._server.auth import key_credentials
from router._server.chat import _route_headers
from router._server.context import context, end_user, router_user
from router._server.errors import ApiError, api_error
from router._tracing import remote_parent

_SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ROUTE: Final = SimpleNamespace(path="/v1/messages")
_COUNT_ROUTE: Final = SimpleNamespace(path="/v1/messages/count_tokens")
# Query parameters Anthropic's SDK may add (``beta=true`` on client.beta.messages): ignored.
_IGNORED_QUERY: Final = frozenset({"beta"})


async def messages(request: Request) -> Response:
    """A Messages request routed only to backends the policy allows (JSON, or SSE)."""
    request.scope["route"] = _ROUTE  # what the access log names
    ctx = context(request)
    _authorised(request)
    body = _body(await request.body())
    try:
        user = _end_user(request, body)
    except ApiError as exc:
        model = body.get("model")
        ctx.router.refused(
            request.state.request_id, None, model if isinstance(model, str) else None,
            "InvalidRequest", str(exc), api=API,
        )  # fmt: skip
        raise
    try:
        with remote_parent(request.headers):  # the request's span joins the caller's trace
            result, answered = await ctx.router.route_messages(
                body, user, request_id=request.state.request_id
            )
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        error = api_error(exc)
        error.error["param"] = exc.param if isinstance(exc, InvalidRequest) else "privacy"
        raise error from exc
    headers = _route_headers(answered)
    if body.get("stream"):  # the first chunk is in hand: failover has settled
        return StreamingResponse(
            _events(result), media_type="text/event-stream", headers=headers | _SSE_HEADERS
        )
    return JSONResponse(result, headers=headers)


def _end_user(request: Request, body: dict[str, Any]) -> str | None:
    """The ``X-Router-User`` header if given, else ``metadata.user_id``.

    Unlike chat, where two different users are refused, the header wins: Anthropic clients
    fill ``metadata.user_id`` themselves (Claude Code: an account and session id), and the
    integration that sets the header names the user whose preferences apply. Either way
    ``metadata`` itself is never forwarded: the one user decided for is, scrubbed per route."""
    header = router_user(request, request.headers.get("x-router-user"))
    if header:
        return end_user(None, header, "X-Router-User")
    return end_user(user_of(body), None, "metadata.user_id")


async def count_tokens(request: Request) -> Response:
    """Not supported: refused in Anthropic's shape, after the key check.

    litellm 1.104.0 counts Anthropic's routes by calling Anthropic's own count endpoint (the
    request's content would reach a provider outside any decision and attempt record), and
    every other route with a local tokenizer that is not the route's own (a guess presented
    as a count). Neither is an answer the router can stand behind."""
    request.scope["route"] = _COUNT_ROUTE
    _authorised(request)
    raise ApiError(
        400,
        "POST /v1/messages/count_tokens is not supported by policy-router: counting would "
        "either send the messages to a provider outside the routing policy or guess with "
        "another model's tokenizer; use the usage (input_tokens) of a /v1/messages response",
        code="unsupported_endpoint",
    )


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
            f"unknown query parameter {unknown[0]!r}; this endpoint takes none "
            "('beta' is accepted and ignored)",
            code="unsupported_parameter",
            param=unknown[0],
        )


def _body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object; anything else is refused (400)."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON", code="invalid_value") from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "the request body must be a JSON object (a Messages request)",
            code="invalid_value",
        )
    return data


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
