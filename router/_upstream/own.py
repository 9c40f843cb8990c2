"""The router's own work with litellm and the network, told apart from the application's.

While the router forwards a call (its attempts, the litellm calls they make, litellm's own
internal calls back into ``litellm.acompletion``), a context variable says so. The gate
(router/_upstream/gate.py) passes such calls to litellm's own functions instead of routing
them a second time, and strict mode (router/_upstream/strict.py) lets such requests out.
Everything else the process does, in any task or thread, is the application's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

_OWN: Final[ContextVar[bool]] = ContextVar("policy_router_own", default=False)


def is_own() -> bool:
    """Whether the current task is doing the router's own work."""
    return _OWN.get()


@contextmanager
def own() -> Iterator[None]:
    """Mark what runs inside, in this task (and tasks it starts), as the router's own."""
    token = _OWN.set(True)
    try:
        yield
    finally:
        _OWN.reset(token)
