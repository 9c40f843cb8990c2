"""One write for a response with its length: uvicorn's checks still run, streams as before."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from router._server.connection import _coalesced, with_header_deadline


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def _cycle(transport: Transport, method: str = "GET") -> Any:
    cycle = RequestResponseCycle(
        scope={
            "type": "http",
            "method": method,
            "path": "/",
            "query_string": b"",
            "http_version": "1.1",
            "client": None,
        },
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    return _coalesced(cycle)


def _start(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": 200, "headers": list(headers)}


def _body(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def test_a_response_with_its_length_is_one_write() -> None:
    transport = Transport()
    cycle = _cycle(transport)
    await cycle.send(_start((b"content-length", b"2"), (b"content-type", b"application/json")))
    assert transport.writes == []  # held until the body
    await cycle.send(_body(b"{}"))
    assert transport.writes == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
    ]
    assert cycle.response_complete
    assert cycle.transport is transport


async def test_a_cycle_is_freed_without_the_collector() -> None:
    transport = Transport()
    cycle = _cycle(transport)
    await cycle.send(_start((b"content-length", b"2")))
    await cycle.send(_body(b"{}"))
    gone = weakref.ref(cycle)
    gc.disable()
    try:
        del cycle
        assert gone() is None  # no reference cycle: every request's objects go at once
    finally:
        gc.enable()


async def test_a_stream_writes_its_head_at_once_and_each_chunk() -> None:
    transport = Transport()
    cycle = _cycle(transport)
    await cycle.send(_start((b"content-type", b"text/event-stream")))
    assert len(transport.writes) == 1
    assert b"transfer-encoding: chunked" in transport.writes[0]
    await cycle.send(_body(b"data: 1\n\n", more=True))
    await cycle.send(_body(b""))
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


async def test_a_head_request_writes_the_head_alone() -> None:
    transport = Transport()
    cycle = _cycle(transport, method="HEAD")
    await cycle.send(_start((b"content-length", b"2")))
    await cycle.send(_body(b"{}"))
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"]


async def test_uvicorns_checks_still_refuse() -> None:
    transport = Transport()
    cycle = _cycle(transport)
    with pytest.raises(RuntimeError, match="Invalid HTTP header value"):
        await cycle.send(_start((b"content-length", b"2"), (b"x-bad", b"a\r\nb")))
    assert transport.writes == []
    assert cycle.transport is transport
    cycle = _cycle(transport)
    await cycle.send(_start((b"content-length", b"2")))
    with pytest.raises(RuntimeError, match="longer than Content-Length"):
        await cycle.send(_body(b"{}{}"))
    assert transport.writes == []
    assert cycle.transport is transport


async def test_nothing_is_written_to_a_closing_transport() -> None:
    transport = Transport()
    cycle = _cycle(transport)
    await cycle.send(_start((b"content-length", b"2")))
    transport.closing = True
    await cycle.send(_body(b"{}"))
    assert transport.writes == []


def test_the_protocol_coalesces_every_cycle_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr(
        HttpToolsProtocol, "_start_asgi_task", lambda self, cycle, app: started.append(cycle)
    )
    protocol = with_header_deadline(5.0)
    cycle = RequestResponseCycle.__new__(RequestResponseCycle)
    protocol._start_asgi_task(object.__new__(protocol), cycle, None)  # type: ignore[attr-defined]
    assert started == [cycle]
    assert isinstance(cycle, RequestResponseCycle)
    assert type(cycle).send is not RequestResponseCycle.send
