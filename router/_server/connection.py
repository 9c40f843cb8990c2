"""uvicorn's HTTP/1.1 connection, with a deadline for a request's headers, and word of a
client gone mid-response.

uvicorn closes a kept-alive connection that stays idle ``timeout_keep_alive`` seconds after an
answer, but a new connection that sends nothing, or sends its headers a byte at a time, stays
open for as long as the client likes: each byte restarts the idle timer. ``with_header_deadline``
gives every wait for a request's headers (from the connection's start, and from the end of each
answer) a fixed deadline that bytes do not restart; past it the connection is closed. The
body's own deadline is the envelope's (router/_server/envelope.py).

A streamed response needs to know when its client goes away, to stop reading the upstream
(router/_server/endpoint.py's ``Streamed``). ASGI says so only through ``receive``, which a
task of its own would have to wait on for every stream; instead each request's scope holds
``CLIENT_GONE``: a function that takes a callback, which the connection calls if it is lost
before the response has ended (the slot is emptied when the response ends). Registering it
resumes reading the connection, as ``receive`` does, since a client gone is seen only while
its bytes are read.

This subclasses uvicorn's httptools protocol (C parsing, measured cheaper: bench/README.md),
or its h11 protocol where httptools is missing; both have the hooks used here:
tests/server/test_faults.py checks the attributes it relies on, so a uvicorn upgrade that
moves them fails a test rather than silently losing the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

CLIENT_GONE: Final = "router.client_gone"  # the scope's key of the function described above


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
        _gone: Callable[[], object] | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_deadline()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[CLIENT_GONE] = self._when_gone

        def _when_gone(self, callback: Callable[[], object]) -> None:
            """Call ``callback`` if the connection is lost before this response ends."""
            self._gone = callback
            self.flow.resume_reading()

        def on_response_complete(self) -> None:
            self._gone = None
            super().on_response_complete()
            self._start_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            gone, self._gone = self._gone, None
            super().connection_lost(exc)
            if gone is not None:
                gone()

        def _start_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._on_deadline)

        def _on_deadline(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadline
