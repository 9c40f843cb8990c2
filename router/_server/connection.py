"""uvicorn's HTTP/1.1 connection, with a deadline for a request's headers.

uvicorn closes a kept-alive connection that stays idle ``timeout_keep_alive`` seconds after an
answer, but a new connection that sends nothing, or sends its headers a byte at a time, stays
open for as long as the client likes: each byte restarts the idle timer. ``with_header_deadline``
gives every wait for a request's headers (from the connection's start, and from the end of each
answer) a fixed deadline that bytes do not restart; past it the connection is closed. The
body's own deadline is the envelope's (router/_server/envelope.py).

This subclasses uvicorn's httptools protocol (C parsing, measured cheaper: bench/README.md),
or its h11 protocol where httptools is missing; both have the hooks used here:
tests/test_server_resources.py checks the attributes it relies on, so a uvicorn upgrade that
moves them fails a test rather than silently losing the deadline.

A response whose head names its length (every ``Response`` with its body in hand: the hot
endpoint's JSON answers, errors) goes to the socket in one ``write``: uvicorn's own ``send``
renders and checks the head as always, but the head's bytes are held until the body's first
message and written with it (``_coalescing``). A head without a length (a stream) is written at
once, as before. uvicorn writes every message with one ``transport.write``, so a request
answered this way costs one system call less.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any


def _base() -> type[Any]:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def with_header_deadline(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol, closing a connection whose next request's headers take
    longer than ``seconds``."""

    class HeaderDeadline(_base()):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_deadline()

        def _start_asgi_task(self, cycle: Any, app: Any) -> None:  # httptools' only
            super()._start_asgi_task(_coalesced(cycle), app)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _start_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._on_deadline)

        def _on_deadline(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadline


class _Held:
    """Where a cycle's writes go while ``_Coalescing.send`` holds them."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)


def _coalescing(base: type[Any]) -> type[Any]:
    """uvicorn's request-response cycle (``base``), writing a head with ``content-length``
    together with the body's first message: one ``transport.write`` for both.

    uvicorn's ``send`` does all its work (the checks of every header, the access log, the
    length's bookkeeping) with the cycle's transport swapped for ``_Held`` while it runs; the
    held bytes then go to the real transport in one write. Anything else (a stream's head,
    its chunks, a message after the first body) goes through untouched. A subclass, not a
    wrapper: a closure over the cycle would make a reference cycle, and every request's
    objects garbage for the collector."""

    class Coalescing(base):  # type: ignore[misc]
        _head: bytes | None = None
        transport: Any

        async def send(self, message: MutableMapping[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start" and not self.response_started:
                headers = message.get("headers", ())
                if not any(name.lower() == b"content-length" for name, _ in headers):
                    await super().send(message)
                    return
            elif kind != "http.response.body" or self._head is None:
                await super().send(message)
                return
            transport, held = self.transport, _Held()
            self.transport = held
            try:
                await super().send(message)
            finally:
                self.transport = transport
            if kind == "http.response.start":
                self._head = b"".join(held.parts)
                return
            data = b"".join([self._head or b"", *held.parts])
            self._head = None
            if data and not transport.is_closing():
                transport.write(data)

    return Coalescing


_CYCLES: dict[type[Any], type[Any]] = {}


def _coalesced(cycle: Any) -> Any:
    """``cycle``, its class changed to ``_coalescing`` of its class (same attributes)."""
    kind = type(cycle)
    if kind not in _CYCLES:
        _CYCLES[kind] = _coalescing(kind)
    cycle.__class__ = _CYCLES[kind]
    return cycle
