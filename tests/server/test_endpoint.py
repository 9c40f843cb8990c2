"""router/_server/endpoint.py's ``Streamed`` (an SSE response sent from the request's own
task), ``Handled`` (an endpoint's exceptions answered by the app's handlers) and
``Endpoint.authorise`` (the envelope's key check, or its own).

It replaces Starlette's task group (a second task sending the body): the connection says when
the client has gone (``CLIENT_GONE``, router/_server/connection.py), or else one task waits
for ``http.disconnect``. These tests drive it with ASGI ``receive``/``send`` callables of their
own, and once on uvicorn with ``serve``'s connection: a client that goes away mid-stream ends
the response and closes the events' source (so the attempt is audited), a cancellation that is
not the response's own still propagates, and a response sent to its end leaves no cancellation
behind. ``asyncio.wait_for`` only guards against a hang; nothing is timed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import uvicorn
from starlette.exceptions import HTTPException
from starlette.responses import StreamingResponse

from router._config.settings import ServerSettings
from router._server.auth import Keys
from router._server.chat import Chat
from router._server.connection import CLIENT_GONE, with_header_deadline
from router._server.context import Context
from router._server.endpoint import Handled, streamed
from router._server.envelope import BODY, CALLER, DIRECT, direct
from router._server.errors import ApiError
from router._upstream import sse

SCOPE = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
GUARD = 10.0  # seconds before a test that would hang fails instead


class _Source:
    """Events, then (``hold``) a wait no upstream ever ends; records that it was closed."""

    def __init__(self, events: list[bytes], *, hold: bool) -> None:
        self.events = events
        self.hold = hold
        self.closed = asyncio.Event()
        self.sent = asyncio.Event()  # the first event was handed over

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            for event in self.events:
                yield event
                self.sent.set()
            if self.hold:
                await asyncio.Event().wait()
        finally:
            self.closed.set()


class _Client:
    """The ASGI side: what was sent, and a ``receive`` that says disconnect when told to."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.leave = asyncio.Event()
        self.receives = 0

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


RELAYS = pytest.mark.parametrize(
    "loop", ["own", "generator"], ids=["the response's own loop", "relay's generator"]
)


def _response(source: _Source, loop: str = "own") -> Any:
    """The response of ``source``'s events: an ``sse.Relay`` (relayed by the response's own
    loop, as the endpoints' are) or ``sse.relay``'s generator (any iterator of bytes)."""
    relay = sse.Relay if loop == "own" else sse.relay
    events = relay(source(), lambda e: bytes(e), lambda _: b"", last=sse.DONE)
    return streamed(events, {"X-Router-Route": "r"})


@RELAYS
async def test_streamed__sends_every_event_then_done_and_leaves_no_cancellation(loop: str) -> None:
    source, client = _Source([b"data: a\n\n", b"data: b\n\n"], hold=False), _Client()

    await asyncio.wait_for(_response(source, loop)(SCOPE, client.receive, client.send), GUARD)
    await asyncio.sleep(0)  # the disconnect watcher, cancelled, cancels nothing of ours

    assert client.messages[0]["status"] == 200
    assert (b"x-router-route", b"r") in client.messages[0]["headers"]
    assert client.body() == b"data: a\n\ndata: b\n\n" + sse.DONE
    # [DONE] goes with the response's end, in one message
    assert client.messages[-1] == {
        "type": "http.response.body",
        "body": sse.DONE,
        "more_body": False,
    }
    assert len(client.messages) == 4  # the head, two events, [DONE] with the end
    assert source.closed.is_set()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@RELAYS
async def test_streamed__a_client_gone_mid_stream_ends_it_and_closes_the_source(loop: str) -> None:
    source, client = _Source([b"data: a\n\n"], hold=True), _Client()
    response = asyncio.ensure_future(_response(source, loop)(SCOPE, client.receive, client.send))
    await asyncio.wait_for(source.sent.wait(), GUARD)

    client.leave.set()  # the upstream holds the stream open: only the disconnect ends it
    await asyncio.wait_for(response, GUARD)

    assert response.exception() is None  # the response's own cancellation is not raised
    assert source.closed.is_set()
    assert client.body() == b"data: a\n\n"  # no [DONE]: the stream was cut, not finished


@RELAYS
async def test_streamed__a_cancellation_from_the_server_propagates(loop: str) -> None:
    source, client = _Source([b"data: a\n\n"], hold=True), _Client()
    response = asyncio.ensure_future(_response(source, loop)(SCOPE, client.receive, client.send))
    await asyncio.wait_for(source.sent.wait(), GUARD)

    response.cancel()  # uvicorn past its graceful timeout: the client is still there

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(response, GUARD)
    assert source.closed.is_set()


@RELAYS
async def test_streamed__the_connection_says_the_client_is_gone_and_the_stream_ends(
    loop: str,
) -> None:
    """Under ``serve``'s connection no task waits on ``receive``: the connection calls back."""
    source, client, callbacks = _Source([b"data: a\n\n"], hold=True), _Client(), []
    scope = SCOPE | {CLIENT_GONE: callbacks.append}
    response = asyncio.ensure_future(_response(source, loop)(scope, client.receive, client.send))
    await asyncio.wait_for(source.sent.wait(), GUARD)

    (gone,) = callbacks
    gone()  # the connection was lost: the upstream holds the stream open, this ends it
    await asyncio.wait_for(response, GUARD)

    assert response.exception() is None  # the response's own cancellation is not raised
    assert source.closed.is_set()
    assert client.body() == b"data: a\n\n"
    assert client.receives == 0


async def _failing(source: _Source, error: Exception) -> AsyncIterator[bytes]:
    """``source``'s events, then ``error``."""
    async for event in source():
        yield event
    raise error


def test_streamed__its_head_is_the_one_starlette_writes() -> None:
    headers = {"X-Router-Route": "r", "X-Router-Provider": "p"}
    ours = streamed(sse.Relay(empty(), bytes, bytes), headers)
    theirs = StreamingResponse(empty(), media_type=sse.MEDIA_TYPE, headers=headers | sse.HEADERS)
    assert ours.raw_headers == theirs.raw_headers
    assert (ours.status_code, ours.media_type, ours.background) == (200, sse.MEDIA_TYPE, None)


async def empty() -> AsyncIterator[bytes]:
    for item in ():
        yield item


async def test_streamed__a_failure_mid_stream_ends_with_its_event_and_closes_the_source() -> None:
    source, client = _Source([b"data: a\n\n"], hold=False), _Client()
    failing = _failing(source, ValueError("the upstream broke"))
    relay = sse.Relay(failing, bytes, lambda exc: f"failed: {exc}".encode(), last=sse.DONE)
    await asyncio.wait_for(streamed(relay, {})(SCOPE, client.receive, client.send), GUARD)

    assert [m.get("body") for m in client.messages[1:]] == [
        b"data: a\n\n",
        b"failed: the upstream broke",
        b"",  # no [DONE]: the stream failed; its end
    ]
    assert client.messages[-1]["more_body"] is False
    assert source.closed.is_set()


async def test_streamed__an_error_the_relay_does_not_catch_propagates_after_the_close() -> None:
    source, client = _Source([b"data: a\n\n"], hold=False), _Client()
    relay = sse.Relay(_failing(source, KeyError("x")), bytes, lambda _: b"", catch=ValueError)
    with pytest.raises(KeyError):
        await asyncio.wait_for(streamed(relay, {})(SCOPE, client.receive, client.send), GUARD)
    assert source.closed.is_set()


async def test_streamed__body_messages_go_straight_to_the_server_past_the_envelope() -> None:
    """Under the envelope, the head goes through its send (which adds ``X-Request-Id``), the
    events to the server's own (``envelope.direct``); any other send is used for all."""
    source, client = _Source([b"data: a\n\n"], hold=False), _Client()
    wrapped: list[dict[str, Any]] = []

    async def envelopes(message: dict[str, Any]) -> None:
        wrapped.append(message)
        await client.send(message)

    server = client.send
    scope = SCOPE | {DIRECT: (envelopes, server)}
    await asyncio.wait_for(_response(source)(scope, client.receive, envelopes), GUARD)
    assert [m["type"] for m in wrapped] == ["http.response.start"]
    assert client.body() == b"data: a\n\n" + sse.DONE

    assert direct(scope, envelopes) is server
    other = _Client().send
    assert direct(scope, other) is other  # not the envelope's: as it is
    assert direct(SCOPE, envelopes) is envelopes  # no envelope


@pytest.mark.parametrize("unread", [0, 100_000], ids=["no body", "a body uvicorn stops reading"])
async def test_streamed__on_uvicorn_a_client_that_closes_its_connection_ends_the_stream(
    unread: int,
) -> None:
    """The whole way: uvicorn with ``serve``'s connection, a client that reads the first
    event and closes its socket; the events' source is closed (its attempt audited). Also
    when uvicorn had stopped reading the connection (a body over its buffer, unread)."""
    source, scopes = _Source([b"data: a\n\n"], hold=True), []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await _response(source)(scope, receive, send)

    listening = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=with_header_deadline(GUARD), lifespan="off",
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listening]))
    try:
        reader, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {unread}\r\n\r\n"
        writer.write(head.encode() + b"x" * unread)
        await asyncio.wait_for(reader.readuntil(b"data: a\n\n"), GUARD)
        writer.close()
        await asyncio.wait_for(source.closed.wait(), GUARD)
        assert callable(scopes[0][CLIENT_GONE])  # the connection said so, no task waited
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, GUARD)
        listening.close()


# --- Handled: an endpoint's exceptions answered by the app's handlers, in one layer --------


class _Refused(ValueError):
    """An exception whose handler is registered for its base class."""


async def _json_handler(_request: Any, exc: Exception) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"handled": type(exc).__name__}, status_code=418)


def _sync_handler(_request: Any, exc: Exception) -> Any:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(f"sync {type(exc).__name__}", status_code=409)


def _raising(exc: Exception) -> Any:
    async def handle(_request: Any) -> Any:
        raise exc

    return handle


async def _call(app: Any) -> _Client:
    client = _Client()
    await app(dict(SCOPE), client.receive, client.send)
    return client


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (_Refused("x"), 418, b'{"handled":"_Refused"}'),
        (KeyError("x"), 409, b"sync KeyError"),
        (HTTPException(404), 418, b'{"handled":"HTTPException"}'),
        (HTTPException(400, "bad"), 400, b"bad"),
    ],
    ids=[
        "a handler for a base class answers a subclass",
        "a plain function handler answers (in the thread pool)",
        "an HTTPException's status handler comes first",
        "an HTTPException without one: Starlette's plain-text answer",
    ],
)
async def test_handled__an_exception_gets_the_handler_starlette_would_pick(
    exc: Exception, status: int, body: bytes
) -> None:
    handlers = {ValueError: _json_handler, LookupError: _sync_handler, 404: _json_handler}

    client = await _call(Handled(_raising(exc), handlers))

    assert client.messages[0]["status"] == status
    assert client.body() == body
    assert exc.__traceback__ is None  # a reused instance accumulates no tracebacks


async def test_handled__an_exception_without_a_handler_is_raised_to_the_envelope() -> None:
    with pytest.raises(TypeError):
        await _call(Handled(_raising(TypeError("x")), {ValueError: _json_handler}))


async def test_handled__a_response_is_sent_as_the_endpoint_made_it() -> None:
    from starlette.responses import Response

    async def handle(request: Any) -> Any:
        return Response(request.url.path.encode(), headers={"X-One": "1"})

    client = await _call(Handled(handle, {}))

    assert client.messages[0]["status"] == 200
    assert (b"x-one", b"1") in client.messages[0]["headers"]
    assert client.body() == b"/v1/chat/completions"


# --- authorise: the envelope's finding, or the key checked again -----------------------------


def _authorised(state: dict[str, Any], keys: Keys, key: str) -> None:
    from starlette.requests import Request

    headers = [(b"authorization", f"Bearer {key}".encode())]
    request = Request(dict(SCOPE, headers=headers, state=state))
    Chat().authorise(request, Context(cast(Any, None), keys))


def test_authorise__the_envelopes_finding_under_the_apps_keys_stands() -> None:
    keys = Keys.of(ServerSettings(api_keys=["right-key-0123456789"]))
    _authorised(
        {CALLER: (keys, "api-key-0")}, keys, "wrong-key-0123456789"
    )  # checked before the body


@pytest.mark.parametrize(
    "state",
    [
        lambda keys: {},
        lambda keys: {CALLER: (Keys.of(ServerSettings(api_keys=["wrong-key-0123456789"])), "x")},
    ],
    ids=["no finding", "a finding under other keys"],
)
def test_authorise__without_the_envelopes_finding_the_key_is_checked(state: Any) -> None:
    keys = Keys.of(ServerSettings(api_keys=["right-key-0123456789"]))
    _authorised(state(keys), keys, "right-key-0123456789")
    with pytest.raises(ApiError) as refused:
        _authorised(state(keys), keys, "wrong-key-0123456789")
    assert refused.value.status == 401


async def test_handled__the_body_the_envelope_read_is_the_requests_without_a_receive() -> None:
    from starlette.responses import Response

    async def handle(request: Any) -> Any:
        return Response(await request.body())

    async def no_receive() -> Any:
        raise AssertionError("the body was read again")

    client = _Client()
    await Handled(handle, {})(dict(SCOPE, **{BODY: b'{"a":1}'}), no_receive, client.send)

    assert client.body() == b'{"a":1}'


# --- the envelope's deadline for a body: asyncio.timeout's rule, in one timer ----------------


async def test_within__a_body_in_time_is_returned() -> None:
    from router._server.envelope import _within

    async def body() -> bytes:
        await asyncio.sleep(0)
        return b"{}"

    assert await _within(GUARD, body()) == b"{}"


@pytest.mark.parametrize("given", [False, True], ids=["loop_asked", "callers_loop_given"])
async def test_within__past_the_deadline_a_timeout_and_no_cancellation_left(given: bool) -> None:
    from router._server.envelope import _within

    never = asyncio.Event()

    async def body() -> bytes:
        await never.wait()
        return b""

    with pytest.raises(TimeoutError):
        await _within(0.01, body(), asyncio.get_running_loop() if given else None)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation is pending either


async def test_within__a_cancellation_from_elsewhere_is_raised_as_it_came() -> None:
    from router._server.envelope import _within

    started = asyncio.Event()

    async def body() -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    reading = asyncio.ensure_future(_within(GUARD, body()))
    await started.wait()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
