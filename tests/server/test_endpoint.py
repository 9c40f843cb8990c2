"""router/_server/endpoint.py's ``Streamed``: an SSE response sent from the request's own task.

It replaces Starlette's task group (a second task sending the body) with one task that waits
for ``http.disconnect``. These tests drive it with ASGI ``receive``/``send`` callables of their
own: a client that goes away mid-stream ends the response and closes the events' source (so
the attempt is audited), a cancellation that is not the response's own still propagates, and a
response sent to its end leaves no cancellation behind. ``asyncio.wait_for`` only guards
against a hang; nothing is timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from router._server.endpoint import streamed
from router._upstream import sse

SCOPE = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
GUARD = 10.0  # seconds before a test that would hang fails instead


class _Source:
    """Events, then (``hold``) a wait no upstream ever ends; records that it was closed."""

    def __init__(self, events: list[bytes], *, hold: bool) -> None:
        self.events = events
        self.hold = hold
        self.closed = False
        self.sent = asyncio.Event()  # the first event was handed over

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            for event in self.events:
                yield event
                self.sent.set()
            if self.hold:
                await asyncio.Event().wait()
        finally:
            self.closed = True


class _Client:
    """The ASGI side: what was sent, and a ``receive`` that says disconnect when told to."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.leave = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


def _response(source: _Source) -> Any:
    events = sse.relay(source(), lambda e: bytes(e), lambda _: b"", last=sse.DONE)
    return streamed(events, {"X-Router-Route": "r"})


async def test_streamed__sends_every_event_then_done_and_leaves_no_cancellation() -> None:
    source, client = _Source([b"data: a\n\n", b"data: b\n\n"], hold=False), _Client()

    await asyncio.wait_for(_response(source)(SCOPE, client.receive, client.send), GUARD)
    await asyncio.sleep(0)  # the disconnect watcher, cancelled, cancels nothing of ours

    assert client.messages[0]["status"] == 200
    assert (b"x-router-route", b"r") in client.messages[0]["headers"]
    assert client.body() == b"data: a\n\ndata: b\n\n" + sse.DONE
    assert client.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert source.closed
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_streamed__a_client_gone_mid_stream_ends_it_and_closes_the_source() -> None:
    source, client = _Source([b"data: a\n\n"], hold=True), _Client()
    response = asyncio.ensure_future(_response(source)(SCOPE, client.receive, client.send))
    await asyncio.wait_for(source.sent.wait(), GUARD)

    client.leave.set()  # the upstream holds the stream open: only the disconnect ends it
    await asyncio.wait_for(response, GUARD)

    assert response.exception() is None  # the response's own cancellation is not raised
    assert source.closed
    assert client.body() == b"data: a\n\n"  # no [DONE]: the stream was cut, not finished


async def test_streamed__a_cancellation_from_the_server_propagates() -> None:
    source, client = _Source([b"data: a\n\n"], hold=True), _Client()
    response = asyncio.ensure_future(_response(source)(SCOPE, client.receive, client.send))
    await asyncio.wait_for(source.sent.wait(), GUARD)

    response.cancel()  # uvicorn past its graceful timeout: the client is still there

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(response, GUARD)
    assert source.closed
