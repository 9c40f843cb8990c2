"""The router's own work with litellm and the network, told apart from the application's.

While the router forwards a call (its attempts, the litellm calls they make, litellm's own
internal calls back into ``litellm.acompletion``), a context variable says so. The gate
(router/_upstream/gate.py) passes such calls to litellm's own functions instead of routing
them a second time, and strict mode (router/_upstream/strict.py) lets such requests out.
Everything else the process does, in any task or thread, is the application's.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

_OWN: Final[ContextVar[bool]] = ContextVar("policy_router_own", default=False)


def is_own() -> bool:
    """Whether the current task is doing the router's own work."""
    return _OWN.get()


class own:  # noqa: N801  a function's name: ``with own():``
    """Mark what runs inside, in this task (and tasks it starts), as the router's own.

    A class, not a generator-based context manager: it is entered twice per request."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _OWN.set(True)

    def __exit__(self, *_: object) -> None:
        _OWN.reset(self._token)
