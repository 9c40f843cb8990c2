"""httpcore's connection pool, keeping idle connections alive as httpcore means to.

httpcore 1.0's ``AsyncConnectionPool`` decides which idle connections to close with
``len([c.is_idle() for c in connections]) > max_keepalive_connections``: the length of a
list of booleans, so it counts every connection, not the idle ones. Once a pool holds more
connections than its keep-alive limit (httpx's default: 20), every connection is closed the
moment it becomes idle, and a request waiting for a connection gets a new one instead of the
one just handed back. Measured here (bench/README.md): ``policy-router serve`` at
concurrency 200 on the httpx transport opened about one upstream connection per request
(a TCP and TLS handshake each, against a real provider); with this pool, none after warm-up,
and about 30 % less CPU per request.

:class:`KeepAlivePool` changes only that decision, and checks for expiry only the idle
connections, the only ones that can expire. Everything else, including
``handle_async_request`` (where respx and other httpcore-level tools hook in), is
httpcore's own. :func:`keep_alive` switches the pools of an httpx client built by someone
else, in place; the adapter applies it to the clients litellm builds.
"""

from __future__ import annotations

import httpcore
import httpx
from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["KeepAlivePool", "keep_alive"]


class KeepAlivePool(httpcore.AsyncConnectionPool):
    """``httpcore.AsyncConnectionPool`` that keeps up to its keep-alive limit of idle connections."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        """httpcore's algorithm, with idle connections counted right and reused first.

        Called (under the pool's lock) whenever a request is added to or removed from the
        pool. Closed connections are dropped and expired idle ones closed; waiting requests
        get an available connection, else a new one, else (at the limit) an idle connection
        to another origin is closed to make room; only then are idle connections beyond the
        keep-alive limit closed, never one a request has been handed and not yet used. Returns the
        connections to close, which the caller closes outside the lock.
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
            found = next(
                (c for c in kept if c.can_handle_request(origin) and c.is_available()), None
            )
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


def keep_alive(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Make every plain httpcore pool of ``client`` a :class:`KeepAlivePool`, in place.

    Only pools of httpx's own ``AsyncHTTPTransport`` are switched (not proxies, not other
    transports), so the client keeps its TLS, proxy, HTTP/2 and limit settings as built.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if isinstance(transport, httpx.AsyncHTTPTransport):
            pool = transport._pool
            if type(pool) is httpcore.AsyncConnectionPool:
                pool.__class__ = KeepAlivePool
    return client
