"""The lean path's own HTTP/1.1 client (``transport = "httptools"``): a POST of a JSON body to a
provider, its answer read whole or piece by piece as it arrives (an SSE stream).

It does what the lean path needs and nothing else, on asyncio's ``Protocol`` and httptools'
response parser (the same parser uvicorn serves with), so a request costs a fraction of the
Python calls of aiohttp's client:

- one pool per event loop (``Client``), keyed by (scheme, host, port); a connection whose answer
  was read to its end and that the server keeps alive is reused (the most recent first); an
  idle one expires after ``IDLE_SECONDS``; one the server closed, or that said
  ``Connection: close``, is never reused. At most ``LIMIT`` connections are in use at once (as
  aiohttp's ``limit``); a request past it waits for one to be released.
- http and https (the system's default trust store, SNI, ALPN ``http/1.1``); the call's
  timeout bounds connecting and each wait for the next bytes (aiohttp's ``sock_connect`` and
  ``sock_read``).
- answers with a Content-Length, chunked, or delimited by the server closing; ``gzip`` is
  accepted (``Accept-Encoding: gzip``, what aiohttp's client sent too) and decoded; any other
  content-encoding is the caller's to refuse (router/_upstream/lean.py: a bad response).
- a request is written once: a connection that fails after that raises ``ConnectionError`` (or
  ``TimeoutError``), never sends it again; the caller's failover decides (router/_core/resend.py).
- a reader that stops early (``Response.close``) leaves the connection to finish its answer
  within ``DRAIN_BYTES`` and ``DRAIN_SECONDS`` (a stream ends at ``[DONE]``, before its chunked
  body's last line) and be reused; otherwise it is closed.

``Request`` is the request as it is written: the caller checks its headers (the identifier
invariant) before ``Client.send`` writes exactly those.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import urlsplit

import httptools

__all__ = ["Client", "Request", "Response", "ServerDisconnected"]

IDLE_SECONDS: Final = 15.0
LIMIT: Final = 1000
DRAIN_BYTES: Final = 64 * 1024
DRAIN_SECONDS: Final = 0.5
_HIGH_WATER: Final = 256 * 1024  # bytes of an answer read ahead of its reader: reading pauses
_AGENT: Final = "policy-router"
_GZIP: Final = zlib.MAX_WBITS | 16


class ServerDisconnected(ConnectionError):
    """The connection ended before the answer did."""


class Request:
    """A POST as it goes on the wire: where to (``key``: scheme, host, port), the request
    line's target, every header line (``headers``: the ones given, then Host, Content-Length,
    Accept-Encoding and User-Agent) and the body."""

    __slots__ = ("body", "headers", "key", "target")

    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.key, self.target, host = _where(url)
        self.headers = [
            *headers.items(),
            ("Host", host),
            ("Content-Length", str(len(body))),
            ("Accept-Encoding", "gzip"),
            ("User-Agent", _AGENT),
        ]
        self.body = body

    def encode(self) -> bytes:
        """The bytes written: request line, header lines, body."""
        lines = [f"{name}: {value}" for name, value in self.headers]
        text = "\r\n".join(lines)
        breaks = len(lines) - 1
        if text.count("\r") != breaks or text.count("\n") != breaks or "\0" in text:
            raise ValueError("a request header has a line break in it")
        return f"POST {self.target} HTTP/1.1\r\n{text}\r\n\r\n".encode("latin-1") + self.body


@functools.lru_cache(maxsize=256)
def _where(url: str) -> tuple[tuple[str, str, int], str, str]:
    """A URL's pool key (scheme, host, port), request target and Host header."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        raise ValueError("the provider's URL must be http:// or https:// with a host")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in target for c in " \r\n\0"):
        raise ValueError("the provider's URL has a space or a line break in its path")
    name = f"[{host}]" if ":" in host else host
    return (scheme, host, port), target, name if port == default else f"{name}:{port}"


class Client:
    """The connections of one event loop (the one it is first used on)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit: int = LIMIT) -> None:
        self.closed = False
        self.limit = limit
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._every: set[_Connection] = set()
        self._busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None

    async def send(self, request: Request, seconds: float) -> Response:
        """Write ``request`` once and return its answer once its head has arrived."""
        if self.closed:
            raise RuntimeError("the client is closed")
        data = request.encode()
        connection = await self._acquire(request.key, seconds)
        try:
            connection.transport.write(data)
            await connection.head(seconds)
        except BaseException:
            self.release(connection, drop=True)
            raise
        return Response(connection, seconds)

    async def _acquire(self, key: tuple[str, str, int], seconds: float) -> _Connection:
        while self._busy >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # the turn it was given goes to the next one
                raise
        self._busy += 1
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            fresh = now - connection.idle_since < IDLE_SECONDS
            if connection.usable and fresh and not connection.transport.is_closing():
                connection.busy = True
                return connection
            connection.close()
        try:
            return await self._connect(key, seconds)
        except BaseException:
            self._busy -= 1
            self._wake()
            raise

    async def _connect(self, key: tuple[str, str, int], seconds: float) -> _Connection:
        scheme, host, port = key
        context = None
        if scheme == "https":
            context = self._ssl = self._ssl or default_context()
        connection = _Connection(self, key)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(
                    lambda: connection, host, port, ssl=context,
                    server_hostname=host if context else None,
                )  # fmt: skip
        except TimeoutError:
            connection.close()
            raise TimeoutError(f"connecting took longer than {seconds:g} s") from None
        self._every.add(connection)
        return connection

    def release(self, connection: _Connection, *, drop: bool = False) -> None:
        """Give back a connection in use: kept for reuse if its answer is complete and the
        server keeps it, else closed."""
        connection.draining = False
        if connection.busy:
            connection.busy = False
            self._busy -= 1
            self._wake()
        if drop or not connection.usable or not connection.complete or self.closed:
            connection.close()
            return
        connection.reset()
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.setdefault(connection.key, deque()).append(connection)
        if self._sweep is None:
            self._sweep = loop.call_later(IDLE_SECONDS, self._expire)

    def forget(self, connection: _Connection) -> None:
        """A connection is closed: never handed out again."""
        self._every.discard(connection)
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)
        if connection.draining:
            self.release(connection)

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _expire(self) -> None:
        """Close the connections idle for ``IDLE_SECONDS``; look again when the next one is."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now, oldest = loop.time(), None
        for idle in self._idle.values():
            for connection in [c for c in idle if now - c.idle_since >= IDLE_SECONDS]:
                idle.remove(connection)
                connection.close()
            if idle:
                first = min(c.idle_since for c in idle)
                oldest = first if oldest is None else min(oldest, first)
        if oldest is not None:
            self._sweep = loop.call_later(oldest + IDLE_SECONDS - now, self._expire)

    async def close(self) -> None:
        """Close every connection, in use or idle, and wait (briefly) until they are."""
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        every = list(self._every)
        self._idle.clear()
        for connection in every:
            connection.fail(ServerDisconnected("the client was closed"))
            connection.close()
        lost = [c.lost for c in every if not c.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=1.0)


def default_context() -> ssl.SSLContext:
    """TLS as a browser checks it: the system's trust store, the host name, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class Response:
    """An answer whose head has arrived: ``status``, ``headers`` (names in lower case), and
    its body to ``read`` whole or take in ``pieces``; ``close`` gives the connection back."""

    __slots__ = ("_connection", "_done", "_timeout", "headers", "status")

    def __init__(self, connection: _Connection, seconds: float) -> None:
        self._connection = connection
        self._done = False
        self._timeout = seconds
        self.status: int = connection.status
        self.headers: dict[str, str] = connection.headers

    async def read(self) -> bytes:
        """The whole body (the answer is closed afterwards, read or failed)."""
        connection = self._connection
        try:
            while not connection.complete:
                await connection.wait(self._timeout)
            data = b"".join(connection.body)
            connection.body.clear()
        finally:
            self.close()
        if self.headers.get("content-encoding") == "gzip":
            return _gunzip(data)
        return data

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives: what each read of the connection brought, together. The
        answer is closed when they end, fail, or the reader closes them (``aclose``)."""
        connection = self._connection
        body = connection.body
        gzipped = self.headers.get("content-encoding") == "gzip"
        inflate = zlib.decompressobj(_GZIP) if gzipped else None
        connection.streamed = True
        try:
            while True:
                if body:
                    data = body[0] if len(body) == 1 else b"".join(body)
                    body.clear()
                    connection.size = 0
                    if connection.paused:
                        connection.taken()
                    if inflate is not None:
                        data = _inflated(inflate, data)
                    if data:
                        yield data
                elif connection.complete:
                    break
                else:
                    await connection.wait(self._timeout)
            if inflate is not None and not inflate.eof:
                raise ServerDisconnected("the gzip body ended before its end")
        finally:
            self.close()

    def close(self) -> None:
        """Done with the answer: the connection goes back (or drains first, or closes)."""
        if self._done:
            return
        self._done = True
        connection = self._connection
        if connection.complete or not connection.usable:
            connection.client.release(connection)
            return
        connection.drain()


def _gunzip(data: bytes) -> bytes:
    inflate = zlib.decompressobj(_GZIP)
    data = _inflated(inflate, data)
    if not inflate.eof:
        raise ServerDisconnected("the gzip body ended before its end")
    return data


def _inflated(inflate: Any, data: bytes) -> bytes:
    try:
        return bytes(inflate.decompress(data))
    except zlib.error:
        raise ServerDisconnected("the gzip body is not valid") from None


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it (httptools calls the ``on_`` methods)."""

    def __init__(self, client: Client, key: tuple[str, str, int]) -> None:
        self.client = client
        self.key = key
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.usable = True  # False once closed, failed, or the server said it closes
        self.busy = True
        self.draining = False
        self.idle_since = 0.0
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.seconds = 0.0  # the current wait's timeout, and when it ends
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.error: BaseException | None = None
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.body: list[bytes] = []
        self.size = 0
        self.streamed = False  # read in pieces: reading pauses while they wait for the reader
        self._names: list[bytes] = []

    # -- asyncio ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes no request asked for: the connection is not to be trusted
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken("the server switched protocols")
            return
        except httptools.HttpParserError:
            self._broken("the answer is not valid HTTP/1.1")
            return
        if self.draining:
            if self.complete:
                self.client.release(self)
            elif self.size > DRAIN_BYTES:
                self.close()
            return
        if self.size > _HIGH_WATER and self.streamed and not self.paused and self.usable:
            self.paused = True
            self.transport.pause_reading()
        waiter = self.waiter  # as _wake, without a call per read
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _broken(self, why: str) -> None:
        self.fail(ServerDisconnected(why))
        self.transport.close()

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()
        if not self.lost.done():
            self.lost.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.client.forget(self)

    def _ended(self) -> None:
        """The server closed: the end of a close-delimited body, else the answer's failure."""
        self.usable = False
        headers = self.headers
        delimited = "content-length" in headers or "transfer-encoding" in headers
        if self.head_done and not self.complete and self.error is None and not delimited:
            self.complete = True
        if not self.complete:
            self.fail(ServerDisconnected("the server closed the connection before the answer"))
        self._wake()

    # -- httptools -------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._names.append(name)
        self._names.append(value)

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an informational answer: the real one follows
            self._names.clear()
            return
        pairs = self._names
        self.headers = {
            pairs[i].decode("latin-1").lower(): pairs[i + 1].decode("latin-1")
            for i in range(0, len(pairs), 2)
        }
        self.status = status
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        if not self.head_done:  # the end of an informational answer
            return
        self.complete = True
        if not self.parser.should_keep_alive():
            self.usable = False

    # -- the reader ------------------------------------------------------------------------

    async def head(self, seconds: float) -> None:
        while not self.head_done:
            await self.wait(seconds)

    def wait(self, seconds: float) -> asyncio.Future[None]:
        """What to await until the connection brings something (or fails, or ``seconds``
        pass); a failure already there raises. No coroutine of its own: the readers loop, and
        meet a failure that ended the wait here when they call again.

        One timer per connection, not one per wait: each wait moves the deadline; the timer,
        when it fires, times the wait out if the deadline has passed, else sets itself for the
        deadline (as asyncio's and uvicorn's timeouts do). A timer set later than the new
        deadline (a shorter timeout on a reused connection) is set again."""
        if self.error is not None:
            raise self.error
        loop = self.loop
        self.waiter = waiter = loop.create_future()
        self.seconds = seconds
        self.deadline = deadline = loop.time() + seconds
        if self.timer is None or deadline < self.timer_at:
            self._arm(deadline)
        return waiter

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = self.loop.call_at(when, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # no one waits: the next wait sets the timer
        if self.loop.time() < self.deadline:
            self._arm(self.deadline)
            return
        seconds = self.seconds
        waiter.set_exception(TimeoutError(f"no answer from the provider for {seconds:g} s"))
        self.usable = False

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def taken(self) -> None:
        """The reader took the buffered body: read on if reading was paused."""
        self.size = 0
        if self.paused:
            self.paused = False
            self.transport.resume_reading()

    def fail(self, error: BaseException) -> None:
        self.usable = False
        if self.error is None:
            self.error = error
        self._wake()

    def drain(self) -> None:
        """The reader stopped early: read the rest of the answer (within the bounds) to reuse
        the connection; else close it."""
        if self.size > DRAIN_BYTES:
            self.client.release(self, drop=True)
            return
        self.draining = True
        self.body = []
        self.taken()
        self.loop.call_later(DRAIN_SECONDS, self._drained)

    def _drained(self) -> None:
        if self.draining and self.busy:
            self.client.release(self, drop=True)

    def close(self) -> None:
        self.usable = False
        self.draining = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()
