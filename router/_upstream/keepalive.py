"""httpcore's connection pool and httpx's transport, keeping connections alive and queues fair.

Three things made litellm's httpx transport open a connection per request under load and
give some requests seconds more latency than others (bench/README.md has the figures):

- httpcore 1.0's ``AsyncConnectionPool`` decides which idle connections to close with
  ``len([c.is_idle() for c in connections]) > max_keepalive_connections``: the length of a
  list of booleans, so every connection counts as idle. Once a pool holds more connections
  than its keep-alive limit (httpx's default: 20), each is closed the moment it is free and
  a waiting request opens a new one. :class:`KeepAlivePool` counts the idle ones, checks
  expiry on idle connections only (the only ones that expire), never closes one a request
  has been handed, and :func:`keep_alive` lets it keep as many idle as it may open.
- When a connection comes back, httpcore hands it to every waiting request at once; all
  but one wake, fail and queue again (CPU, and an order decided by who runs first).
  :class:`KeepAlivePool` hands it to the first waiting request only.
- The openai SDK stops reading an SSE body at ``data: [DONE]`` and closes the response; the
  chunked body's last line (``0``, usually in the same packet) is still unread, so httpcore
  cannot reuse the connection. :class:`KeepAliveTransport` reads what is left of an HTTP/1.1
  body closed early, within :data:`DRAIN_BYTES` and :data:`DRAIN_SECONDS`; a body with more
  left (a consumer that gave up half-way) is closed as before.

Against a real provider each avoided connection is a TCP and TLS handshake. Everything else,
including ``AsyncConnectionPool.handle_async_request`` (where respx and other httpcore-level
tools hook in), is httpcore's and httpx's own. :func:`keep_alive` switches the transport and
pool of an httpx client built by someone else, in place; the adapter applies it to the
clients litellm builds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final

import httpcore
import httpx
from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "KeepAlivePool", "KeepAliveTransport", "keep_alive"]

# What is read of a body closed before its end, at most, to keep its connection.
DRAIN_BYTES: Final = 64 * 1024
DRAIN_SECONDS: Final = 0.05


class KeepAlivePool(httpcore.AsyncConnectionPool):
    """``httpcore.AsyncConnectionPool`` that keeps up to its keep-alive limit of idle connections."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        """httpcore's algorithm, with idle connections counted right and reused first.

        Called (under the pool's lock) whenever a request is added to or removed from the
        pool. Closed connections are dropped and expired idle ones closed; waiting requests
        get an available connection, else a new one, else (at the limit) an idle connection
        to another origin is closed to make room; only then are idle connections beyond the
        keep-alive limit closed, never one a request has been handed and not yet used.
        Returns the connections to close, which the caller closes outside the lock.
        """
        closing: list[AsyncConnectionInterface] = []
        kept: list[AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            # keep-alive expiry and server hang-ups apply to idle connections only
            if connection.is_idle() and connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)

        # connections handed to a request that has not started on them yet look idle: keep them
        assigned = {id(r.connection) for r in self._requests if r.connection is not None}
        waiting_on: list[httpcore.Origin] = []  # origins with nothing free this pass
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            if origin in waiting_on:
                continue
            found = next((c for c in kept if self._free_for(c, origin, assigned)), None)
            if found is not None:
                connection = found
            else:
                if len(kept) >= self._max_connections:
                    spare = next((c for c in kept if c.is_idle() and id(c) not in assigned), None)
                    if spare is None:
                        waiting_on.append(origin)
                        continue
                    kept.remove(spare)
                    closing.append(spare)
                connection = self.create_connection(origin)
                kept.append(connection)
            pool_request.assign_to_connection(connection)
            assigned.add(id(connection))

        idle = [c for c in kept if c.is_idle() and id(c) not in assigned]
        surplus = idle[: max(0, len(idle) - self._max_keepalive_connections)]
        if surplus:  # the longest-held idle connections beyond the keep-alive limit
            dropped = {id(connection) for connection in surplus}
            closing.extend(surplus)
            kept = [connection for connection in kept if id(connection) not in dropped]
        self._connections = kept
        return closing

    @staticmethod
    def _free_for(
        connection: AsyncConnectionInterface, origin: httpcore.Origin, assigned: set[int]
    ) -> bool:
        """Whether a waiting request for ``origin`` can have ``connection``.

        An idle connection already handed to a request is not handed to a second one: httpcore
        would, and all but one of them would then wake, fail and queue again.
        """
        if not (connection.can_handle_request(origin) and connection.is_available()):
            return False
        return not (connection.is_idle() and id(connection) in assigned)


class KeepAliveTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose HTTP/1.1 bodies, closed early, are drained if short."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.extensions.get("http_version") == b"HTTP/1.1" and isinstance(
            response.stream, httpx.AsyncByteStream
        ):
            response.stream = _DrainOnClose(response.stream)
        return response


class _DrainOnClose(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part
        self._ended = True

    async def aclose(self) -> None:
        try:
            if not self._ended:
                await self._drain()
        finally:
            await self._stream.aclose()

    async def _drain(self) -> None:
        """Read the rest of the body if it is short and arrives at once; else leave it."""
        read = 0
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                async for part in self._stream:
                    read += len(part)
                    if read > DRAIN_BYTES:
                        return
        except Exception:  # noqa: BLE001 (a timeout, a network error: whatever stops the drain)
            return  # the connection is then closed, as it would have been without us
        self._ended = True


def keep_alive(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Make ``client``'s plain httpx transports keep their connections alive, in place.

    Each ``httpx.AsyncHTTPTransport`` becomes a :class:`KeepAliveTransport` and its httpcore
    pool a :class:`KeepAlivePool` that may keep as many connections idle as it may open (httpx's
    default keeps 20 of 100: under bursts of more than 20 answers at once, the rest were closed
    and reopened; idle ones still close after the keep-alive expiry, 5 s by default). Nothing
    else is switched (not proxies, not other transports), so the client keeps its TLS, proxy,
    HTTP/2 and other settings as built.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if type(transport) is httpx.AsyncHTTPTransport:
            transport.__class__ = KeepAliveTransport
        if isinstance(transport, httpx.AsyncHTTPTransport):
            pool = transport._pool
            if type(pool) is httpcore.AsyncConnectionPool:
                pool.__class__ = KeepAlivePool
                if pool._max_keepalive_connections < pool._max_connections:
                    pool._max_keepalive_connections = pool._max_connections
    return client
