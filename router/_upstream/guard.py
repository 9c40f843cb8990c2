"""The wire guard: every request litellm sends during an attempt is counted and checked.

An httpx request hook on every client litellm uses (its own ``AsyncHTTPHandler`` clients and
the openai SDK's, on both transports, and a client the application handed litellm) looks at
the request as it goes out, URL, headers and body, while an attempt is in progress (a context
variable says which). It counts the sends, so an attempt that reached the provider more than
once is visible in the audit, and on an ``omit`` or ``pseudonymous`` route it refuses to send a
request that carries the raw user id outside message content (router/_core/invariant.py).

Outside an attempt the hook does nothing: the application's own litellm calls, which share
litellm's clients, are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from router._core.invariant import Identity, find_on_wire

if TYPE_CHECKING:  # httpx is imported by litellm, on the first request needing it: not before
    import httpx

__all__ = ["IdentifierOnWire", "WireCheck", "guard", "guarded", "watching"]


@dataclass(slots=True)
class WireCheck:
    """What one attempt may send, and what it did send.

    ``content_of``: the request's content strings (the invariant's exemption on the wire), or
    what makes them: they matter only for a body that holds a form of the id, so they are
    made, once, when ``content`` is first read (most requests never read it)."""

    identity: Identity | None  # None: the route may see the id, or there is none
    content_of: frozenset[str] | Callable[[], frozenset[str]]
    sends: int = 0
    found: str | None = None

    @property
    def content(self) -> frozenset[str]:
        return self.made_content()

    def made_content(self) -> frozenset[str]:
        """``content``, made on the first call: what ``find_on_wire`` is given, to call only
        for a body that holds a form of the id."""
        made = self.content_of
        if not isinstance(made, frozenset):
            made = self.content_of = made()
        return made


class IdentifierOnWire(Exception):
    """Raised inside litellm's send, so that nothing is sent; the adapter reads WireCheck."""


_CURRENT: Final[ContextVar[WireCheck | None]] = ContextVar("policy_router_wire", default=None)


@contextmanager
def watching(check: WireCheck) -> Iterator[WireCheck]:
    """Check and count every request sent inside this block."""
    token = _CURRENT.set(check)
    try:
        yield check
    finally:
        _CURRENT.reset(token)


async def _on_request(request: httpx.Request) -> None:
    check = _CURRENT.get()
    if check is None:
        return
    check.sends += 1
    if check.identity is None:
        return
    found = find_on_wire(
        str(request.url),
        request.headers.multi_items(),
        request.content,
        check.identity,
        check.made_content,
    )
    if found is not None:
        check.found = found
        raise IdentifierOnWire(found)


def guard(client: Any) -> Any:
    """Install the hook on an httpx client (once); anything else is returned as it is."""
    import httpx

    if isinstance(client, httpx.AsyncClient):
        hooks = client.event_hooks
        if _on_request not in hooks["request"]:
            hooks["request"].append(_on_request)
            client.event_hooks = hooks
    return client


def guarded(value: Any) -> None:
    """Install the hook on a client litellm cached before the router configured it."""
    for candidate in (value, getattr(value, "client", None), getattr(value, "_client", None)):
        guard(candidate)
