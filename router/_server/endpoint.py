"""The one shape of the four POST endpoints: body, user, route, respond, refusal audit.

``Endpoint.handle`` is the whole of a request to ``/v1/chat/completions``, ``/v1/responses``,
``/v1/messages`` and ``/v1/messages/count_tokens`` (router/_server/chat.py, responses.py,
messages.py), each a plain Starlette route: no FastAPI dependency or pydantic model runs per
request. In order:

1. the route the access log names (``scope["route"]``: the endpoint's own ``Route``);
2. the key, checked again here (the envelope checked it before the body was read), and the
   endpoint's own header and query rules (``authorise``);
3. the body: a JSON object, else 400 (``json_object``);
4. the end user (``user``) and the endpoint's own fields (``check``): a refusal here is a
   400 and a ``route.refused`` audit record (``refuse``), since the router never saw it;
5. the route (``forward``), the request's span joined to the caller's trace; an argument
   the router refuses is a 400 naming it (``invalid_input``), audited by the router;
6. the answer (``respond``): JSON, or SSE (``streamed``) once the first chunk is in hand,
   with the route and provider that answered in ``X-Router-Route`` / ``X-Router-Provider``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Final, cast

import anyio
import orjson
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router._core.surface import MAX_DEPTH
from router._errors import InvalidPreferences, InvalidRequest, UnknownProvider
from router._observe.tracing import remote_parent
from router._pipeline.failover import Answered
from router._server.auth import key_credentials
from router._server.connection import CLIENT_GONE
from router._server.context import Context, context
from router._server.envelope import BODY, CALLER, direct
from router._server.errors import ApiError, api_error
from router._server.refusal import named_user
from router._upstream import sse
from router._upstream.lean import Raw

__all__ = [
    "Answer",
    "Endpoint",
    "Handled",
    "invalid_input",
    "json_answer",
    "json_body",
    "json_object",
    "model_named",
    "model_span",
    "relayed_answer",
    "route_headers",
    "streamed",
]

REFUSED_BY_ROUTER: Final = (InvalidPreferences, UnknownProvider, InvalidRequest)


class Endpoint:
    """One POST endpoint: subclasses say what differs (the class attributes, ``user``,
    ``check``, ``forward``, ``respond``); ``handle`` is the order every one of them follows."""

    path: ClassVar[str]
    api: ClassVar[str]  # the audit records' ``api``
    what: ClassVar[str]  # what the body must be, for the 400 when it is not a JSON object
    anthropic: ClassVar[bool] = False  # the key may come as x-api-key

    def __init__(self) -> None:
        self.route = Route(self.path, self.handle, methods=["POST"])

    async def handle(self, request: Request) -> Response | Answer:
        request.scope["route"] = self.route  # what the access log names
        ctx = context(request)
        self.authorise(request, ctx)
        fields: dict[str, Any] = {}
        try:
            fields = json_object(await request.body(), self.what)
            user = self.user(request, fields)
            self.check(fields)
        except ApiError as exc:
            self.refuse(request, ctx, fields, str(exc))
            raise
        try:
            with remote_parent(request.headers):  # the request's span joins the caller's trace
                result = await self.forward(ctx, fields, user, request.state.request_id)
        except REFUSED_BY_ROUTER as exc:
            raise invalid_input(exc) from exc
        return self.respond(result, fields)

    def authorise(self, request: Request, ctx: Context) -> None:
        """The key is known (401 otherwise): found by the envelope before the body was read,
        under the app's own keys (``CALLER`` in the scope's state), or checked here."""
        found = request.scope.get("state", {}).get(CALLER)
        if found is not None and found[0] is ctx.keys:
            return
        headers = request.headers
        x_api_key = headers.get("x-api-key") if self.anthropic else None
        ctx.keys.caller(key_credentials(headers.get("authorization"), x_api_key))

    def user(self, request: Request, fields: dict[str, Any]) -> str | None:
        """The one end user the request names (taken out of ``fields``); ApiError if none is
        well-formed or two differ."""
        raise NotImplementedError

    def stated_user(self, fields: dict[str, Any]) -> object:
        """The user the body names, for the pseudonym of a refusal's record."""
        return fields.get("user")

    def check(self, fields: dict[str, Any]) -> None:
        """The fields the router needs before it can check the rest; ApiError if not."""

    async def forward(
        self, ctx: Context, fields: dict[str, Any], user: str | None, request_id: str
    ) -> Any:
        raise NotImplementedError

    def respond(self, result: Any, fields: dict[str, Any]) -> Response | Answer:
        raise NotImplementedError

    def refuse(self, request: Request, ctx: Context, fields: dict[str, Any], message: str) -> None:
        """The ``route.refused`` record of a request refused before the router saw it, with
        the user's pseudonym when the body and header name one well-formed user."""
        model = fields.get("model")
        ctx.router.pipeline.refused(
            request.state.request_id,
            named_user(self.stated_user(fields), request.headers.getlist("x-router-user")),
            model if isinstance(model, str) else None,
            "InvalidRequest",
            message,
            api=self.api,
        )


def invalid_input(exc: InvalidPreferences | UnknownProvider | InvalidRequest) -> ApiError:
    """The 400 for a refused argument, naming it in ``param`` (a bad ``privacy`` field: privacy)."""
    error = api_error(exc)
    error.error["param"] = exc.param if isinstance(exc, InvalidRequest) else "privacy"
    return error


def json_body(body: bytes) -> Any:
    """The request body's JSON value (orjson, else Python's reader, which takes what orjson
    refuses, a lone surrogate); not JSON at all is a 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except ValueError:
            raise ApiError(
                400, "the request body is not valid JSON", code="invalid_value"
            ) from None
        except RecursionError:  # orjson stops at 1024 levels; Python's reader runs out of stack
            raise ApiError(
                400,
                f"the request body is nested deeper than {MAX_DEPTH} levels of objects and "
                "lists; flatten it",
                code="invalid_value",
            ) from None


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """The request body's JSON object; anything else is a 400 saying ``what`` it must be."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise ApiError(
            400, f"the request body must be a JSON object ({what})", code="invalid_value"
        )
    return data


def route_headers(answered: Answered) -> dict[str, str]:
    """Where the answer came from; the body's ``model`` is the name the caller asked for."""
    headers = {
        "X-Router-Route": answered.route.key,
        "X-Router-Provider": answered.route.provider.slug,
    }
    if answered.offline:
        headers["X-Router-Offline"] = "true"
    if answered.dropped:
        headers["X-Router-Dropped-Params"] = ", ".join(answered.dropped)
    if answered.overridden:
        headers["X-Router-Overridden-Params"] = ", ".join(answered.overridden)
    return headers


class Answer:
    """A whole answer as the two ASGI messages Starlette's ``Response`` sends (its headers,
    then ``Content-Length`` and ``Content-Type``; a ``text/`` type without a charset gets
    ``utf-8``), without building one: the POST endpoints' relayed JSON."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(
        self, body: bytes, content_type: str, headers: dict[str, str], status_code: int = 200
    ) -> None:
        if content_type.startswith("text/") and "charset=" not in content_type.lower():
            content_type += "; charset=utf-8"
        self.body = body
        self.status_code = status_code
        self.raw_headers = [
            *[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            (b"content-length", str(len(body)).encode()),
            (b"content-type", content_type.encode("latin-1")),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send(start | {"headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def json_answer(body: dict[str, Any], headers: dict[str, str]) -> Answer:
    """``body`` rendered by orjson (compact, UTF-8, as Starlette's ``JSONResponse`` renders it
    with Python's encoder, at a fraction of its cost), as an ``application/json`` answer."""
    return Answer(orjson.dumps(body), "application/json", headers)


def relayed_answer(routed: Raw, model: str, headers: dict[str, str]) -> Answer:
    """An upstream's JSON answer as it came, naming the ``model`` the caller asked for: the
    field replaced in its bytes where they show it plainly (``model_named``), else the JSON
    parsed, the field set, and rendered again."""
    body = model_named(routed.body, model)
    if body is None:
        body = orjson.dumps(orjson.loads(routed.body) | {"model": model})
    return Answer(body, routed.content_type, headers)


_MODEL_FIELD: Final = re.compile(rb'"model"\s*:\s*"([^"\\]*)"')


def model_named(data: bytes, model: str) -> bytes | None:
    """``data`` (a JSON object's bytes) with its top-level ``model`` string replaced by
    ``model``, where the bytes show that field plainly (``model_span``); else None (parse it
    instead)."""
    span = model_span(data)
    if span is None:
        return None
    return data[: span[0]] + orjson.dumps(model) + data[span[1] :]


def model_span(data: bytes) -> tuple[int, int] | None:
    """Where the top-level ``model`` string's value (its quotes included) lies in ``data`` (a
    JSON object's bytes), if the bytes show that field plainly; else None.

    Plainly: ``"model"`` occurs once in ``data`` (so no nested key, no second top-level key
    and no string value is named so), its value is a string without escapes, and every byte
    before it is the object's opening brace and scalar fields without brackets or escapes
    (so it is a key of the top-level object, not text inside a string). (``find``, not
    ``in``: see router/_upstream/sse.py.)"""
    if not data.startswith(b"{") or data.count(b'"model"') != 1:
        return None
    found = _MODEL_FIELD.search(data)
    if found is None:
        return None
    before = data[1 : found.start()].rstrip()
    if before and not before.endswith(b","):
        return None
    if before.find(b"{") >= 0 or before.find(b"[") >= 0 or before.find(b"\\") >= 0:
        return None
    if before.count(b'"') % 2:
        return None
    return found.start(1) - 1, found.end(1) + 1


def streamed(events: AsyncIterator[bytes] | sse.Relay, headers: dict[str, str]) -> Streamed:
    """An SSE response of ``events`` (bytes; router/_upstream/sse.py ``Relay``, or another
    iterator of bytes)."""
    return Streamed(events, headers)


def _head_lines(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


_SSE_HEAD: Final = (
    *_head_lines(sse.HEADERS),
    (b"content-type", f"{sse.MEDIA_TYPE}; charset=utf-8".encode("latin-1")),
)  # the head lines every SSE response ends with, as Starlette's ``init_headers`` writes them


class Streamed(StreamingResponse):
    """Starlette's StreamingResponse, sent from the request's own task.

    Starlette, on an ASGI server older than spec 2.4 (uvicorn says 2.3), sends the body from a
    second task in an anyio task group while the first waits for ``http.disconnect``; here the
    body is sent from the request's task, which is cancelled when the client goes away (the
    cancellation is then this response's own: it ends the response, as Starlette's does, and
    is not raised further). The connection says the client is gone (``CLIENT_GONE`` in the
    scope: ``serve``'s, router/_server/connection.py); under another server one plain asyncio
    task waits for ``http.disconnect``. Either way the events' source is closed (``sse.relay``'s
    rule), so the attempt's audit record is written, ``cancelled``. The stream's last bytes
    (its ``[DONE]``) go out with the response's end, in one write.

    An ``sse.Relay`` is relayed by this response's own loop (``relay``'s, in this frame: no
    generator between the upstream's reads and the client's sends), its body messages sent
    straight to the server once the head is out (``direct``).

    Its head lines are ``headers`` then the SSE ones (``sse.HEADERS``, the media type), as
    Starlette's ``init_headers`` writes them, built once but for ``headers``."""

    def __init__(self, content: AsyncIterator[bytes] | sse.Relay, headers: dict[str, str]) -> None:
        self.body_iterator = cast(Any, content)
        self.status_code = 200
        self.media_type = sse.MEDIA_TYPE
        self.background = None
        self.raw_headers = _head_lines(headers)
        self.raw_headers.extend(_SSE_HEAD)

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send(start | {"headers": self.raw_headers})
        events = cast(AsyncIterator[bytes], self.body_iterator)
        async for chunk in events:
            final = isinstance(chunk, sse.Last)
            await send({"type": "http.response.body", "body": chunk, "more_body": not final})
            if final:
                await cast(Any, events).aclose()  # relay's own end: its source is closed
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if task is None or scope["type"] != "http":  # pragma: no cover  (uvicorn: a task, http)
            await super().__call__(scope, receive, send)
            return
        gone, watcher = _watched(scope, receive, task)
        relay = self.body_iterator
        try:
            if not isinstance(relay, sse.Relay):
                await self.stream_response(send)
                return
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})  # fmt: skip
            send = direct(scope, send)
            source, render, ended = relay.source, relay.render, False
            end = relay.last
            try:
                async for item in source:
                    await send(
                        {"type": "http.response.body", "body": render(item), "more_body": True}
                    )
                ended = True
            except relay.catch as exc:
                await send(
                    {"type": "http.response.body", "body": relay.failed(exc), "more_body": True}
                )
                end = b""
            finally:
                await _close(source, shielded=not ended)
            await send({"type": "http.response.body", "body": end, "more_body": False})
        except asyncio.CancelledError:
            if not gone.seen or task.uncancel() > 0:
                raise  # not (only) ours: the server cancelled the request
        finally:
            if watcher is not None:
                watcher.cancel()


def _watched(
    scope: Scope, receive: Receive, task: asyncio.Task[Any]
) -> tuple[_Gone, asyncio.Future[None] | None]:
    """What cancels the response's ``task`` once its client has gone: the connection's word
    (``CLIENT_GONE``), or else a task waiting for ``http.disconnect`` (returned, to cancel)."""
    gone = _Gone(task)
    when_gone = scope.get(CLIENT_GONE)
    if when_gone is not None:
        when_gone(gone)
        return gone, None
    return gone, asyncio.ensure_future(_disconnect(receive, gone))


async def _close(source: AsyncIterator[Any], *, shielded: bool) -> None:
    """Close a relayed source: shielded from the cancellation that ends the response unless
    it was read to its end (then it has recorded its attempt, and closing is a formality)."""
    if not shielded:
        await cast(Any, source).aclose()
        return
    with anyio.CancelScope(shield=True):
        await cast(Any, source).aclose()


class _Gone:
    """Cancels a response's task once its client has gone away (its response is then no
    one's), and remembers that it did."""

    __slots__ = ("seen", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.seen = False

    def __call__(self) -> None:
        self.seen = True
        self.task.cancel()


async def _disconnect(receive: Receive, gone: _Gone) -> None:
    """``gone()`` once ``receive`` says the client has gone away."""
    message: Message = await receive()
    while message["type"] != "http.disconnect":
        message = await receive()
    gone()


class Handled:
    """An endpoint's ``handle`` as an ASGI app, its exceptions answered by the app's handlers.

    What ``ExceptionMiddleware(request_response(handle), handlers)`` does, in one layer: one
    ``Request``, no wrapper around every ``send``. An exception from ``handle`` gets the
    handler Starlette would pick (for an ``HTTPException`` its status's, else the first of its
    classes, in MRO order, that has one; none: raised), whose response is sent. One raised
    while the response is sent (its head may be out) goes to the envelope as it is, which
    logs it and answers 500 if nothing was sent: Starlette re-raised such an exception too,
    as a RuntimeError when a handler existed."""

    def __init__(self, handle: Any, handlers: dict[Any, Any], *, debug: bool = False) -> None:
        self.handle = handle
        middleware = ExceptionMiddleware(handle, handlers=handlers, debug=debug)
        self._handlers = (middleware._exception_handlers, middleware._status_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(scope, receive, send)
        await response(scope, receive, send)

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> ASGIApp:
        """The response to the request, not yet sent: the envelope sends it from its own
        frame (router/_server/envelope.py), one layer fewer under a streamed answer's events."""
        scope["starlette.exception_handlers"] = self._handlers
        request = Request(scope, receive, send)
        body = scope.get(BODY)
        if body is not None:  # read by the envelope: Starlette's body() then returns it as is
            request._body = body
        try:
            return cast(ASGIApp, await self.handle(request))
        except Exception as exc:  # noqa: BLE001  the handlers decide; none: raised again
            return await self._answer(request, exc)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        exceptions, statuses = self._handlers
        handler: Any = statuses.get(exc.status_code) if isinstance(exc, HTTPException) else None
        if handler is None:
            handler = _lookup_exception_handler(exceptions, exc)
        if handler is None:
            raise exc
        if is_async_callable(handler):
            response: Response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        exc.__traceback__ = None  # a reused exception instance would accumulate tracebacks
        return response
