"""The connection pool given to litellm's httpx clients: idle connections are kept and reused.

Each test runs the same traffic through httpcore's stock pool and through KeepAlivePool
against a loopback HTTP/1.1 server that counts the connections it accepts, so each
difference asserted here is one httpcore's pool really has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpcore
import httpx
import pytest
import respx

from router._upstream.keepalive import KeepAlivePool, KeepAliveTransport, keep_alive

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
END = b"0\r\n\r\n"  # the chunked body's last line


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE = SSE_HEAD + _chunk(b"data: {}\n\n") + _chunk(b"data: [DONE]\n\n")
# what each path answers now, and what 0.3 s later
ANSWERS = {
    b"/sse": (SSE + END, b""),  # as providers send it: the end with the last event
    b"/sse-big": (SSE + _chunk(b": padding\n" * 10_000) + END, b""),  # 100 kB after [DONE]
    b"/sse-late": (SSE, END),
}


@dataclass
class Server:
    url: str
    connections: int = 0
    delay: float = 0.02


class _Connection(asyncio.Protocol):
    """Answers each request after a delay (/slow: 0.3 s), or as ANSWERS says; keeps alive."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            loop = asyncio.get_running_loop()
            if path in ANSWERS:
                now, later = ANSWERS[path]
                self._answer(now)
                loop.call_later(0.3, self._answer, later)
            else:
                delay = 0.3 if path == b"/slow" else self.server.delay
                loop.call_later(delay, self._answer, RESPONSE)

    def _answer(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    loop = asyncio.get_running_loop()
    state = Server(url="")
    listener = await loop.create_server(lambda: _Connection(state), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/"
    try:
        yield state
    finally:
        listener.close()


def _client(pool: str, **limits: int | float) -> httpx.AsyncClient:
    client = httpx.AsyncClient(limits=httpx.Limits(**limits))  # type: ignore[arg-type]
    return keep_alive(client) if pool == "keep-alive" else client


async def _wave(client: httpx.AsyncClient, url: str, requests: int) -> None:
    responses = await asyncio.gather(*(client.get(url) for _ in range(requests)))
    assert [r.status_code for r in responses] == [200] * requests


def _idle(client: httpx.AsyncClient) -> int:
    transport = client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    return sum(c.is_idle() for c in transport._pool.connections)


@pytest.mark.parametrize(("pool", "connections"), [("stock", 5), ("keep-alive", 4)])
async def test_pool__keeps_an_idle_connection_while_others_are_busy(
    server: Server, pool: str, connections: int
) -> None:
    async with _client(pool, max_connections=100, max_keepalive_connections=2) as client:
        busy = [asyncio.create_task(client.get(f"{server.url}slow")) for _ in range(3)]
        await asyncio.sleep(0.1)  # three connections busy
        await _wave(client, server.url, 1)  # a fourth, idle afterwards: 1 idle, 4 in the pool
        await _wave(client, server.url, 1)
        opened = server.connections
        await asyncio.gather(*busy)

    # httpcore's pool counts every connection as idle (4 > 2) and closes the fourth
    assert opened == connections


@pytest.mark.parametrize(("pool", "connections"), [("stock", 4), ("keep-alive", 2)])
async def test_pool__at_its_limit_hands_a_returned_connection_to_a_waiting_request(
    server: Server, pool: str, connections: int
) -> None:
    server.delay = 0.1
    async with _client(pool, max_connections=2, max_keepalive_connections=1) as client:
        await _wave(client, server.url, 4)  # two at a time, two waiting
        idle_after = _idle(client)

    assert server.connections == connections
    assert idle_after == (2 if pool == "keep-alive" else 1)  # keep_alive keeps what it may open


async def test_pool__closes_idle_connections_beyond_its_own_keepalive_limit(server: Server) -> None:
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=1))
    transport._pool.__class__ = KeepAlivePool  # the pool alone, without keep_alive's limit
    async with httpx.AsyncClient(transport=transport) as client:
        await _wave(client, server.url, 3)
        idle_after = _idle(client)

    assert server.connections == 3
    assert idle_after == 1


async def test_pool__an_expired_idle_connection_is_closed_and_replaced(server: Server) -> None:
    async with _client("keep-alive", keepalive_expiry=0.05) as client:
        await _wave(client, server.url, 1)
        await _wave(client, server.url, 1)
        assert server.connections == 1
        await asyncio.sleep(0.1)

        await _wave(client, server.url, 1)

        assert server.connections == 2
        assert _idle(client) == 1


async def _read_to_done(client: httpx.AsyncClient, url: str) -> None:
    """As the openai SDK reads a stream: up to ``data: [DONE]``, then close the response."""
    async with client.stream("GET", url) as response:
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                break


@pytest.mark.parametrize(("pool", "path", "connections"), [
    ("stock", "sse", 3),  # the unread end of the body costs a connection per stream
    ("keep-alive", "sse", 1),
    ("keep-alive", "sse-big", 3),  # more than DRAIN_BYTES left: not read, closed
    ("keep-alive", "sse-late", 3),  # the end not there within DRAIN_SECONDS: closed
])  # fmt: skip
async def test_transport__a_stream_closed_at_its_last_event_keeps_its_connection(
    server: Server, pool: str, path: str, connections: int
) -> None:
    async with _client(pool) as client:
        for _ in range(3):
            await _read_to_done(client, f"{server.url}{path}")
        idle_after = _idle(client)

    assert server.connections == connections
    assert idle_after == (1 if connections == 1 else 0)


async def test_pool__respx_still_sees_every_request() -> None:
    client = keep_alive(httpx.AsyncClient())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get("https://provider.example/v1/models").respond(200, json={"data": []})
        response = await client.get("https://provider.example/v1/models")
    await client.aclose()

    assert response.json() == {"data": []}
    assert route.call_count == 1


async def test_keep_alive__switches_only_httpx_own_pools_in_place() -> None:
    custom = httpx.MockTransport(lambda request: httpx.Response(204))
    proxied = httpx.AsyncHTTPTransport(proxy="http://127.0.0.1:9")
    client = httpx.AsyncClient(mounts={"http://other.example": custom, "http://proxied": proxied})
    transport = client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    pool = transport._pool

    assert keep_alive(client) is client
    assert keep_alive(client) is client  # twice: no harm

    assert transport._pool is pool
    assert type(transport) is KeepAliveTransport
    assert type(pool) is KeepAlivePool
    assert pool._max_keepalive_connections == pool._max_connections == 100
    assert type(proxied._pool) is httpcore.AsyncHTTPProxy
    assert (await client.get("http://other.example/")).status_code == 204
    await client.aclose()


@pytest.mark.parametrize(("pool", "woken_for_nothing"), [("stock", True), ("keep-alive", False)])
async def test_pool__a_returned_connection_wakes_one_waiting_request(
    server: Server, pool: str, woken_for_nothing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore hands one idle connection to every waiting request; all but one fail and requeue."""
    from httpcore._async.connection_pool import AsyncPoolRequest

    requeued: list[object] = []
    clear = AsyncPoolRequest.clear_connection

    def counted(self: AsyncPoolRequest) -> None:
        requeued.append(self)
        clear(self)

    monkeypatch.setattr(AsyncPoolRequest, "clear_connection", counted)
    server.delay = 0.01
    async with _client(pool, max_connections=2, max_keepalive_connections=2) as client:
        await _wave(client, server.url, 20)

    assert server.connections == 2
    assert bool(requeued) is woken_for_nothing
