"""The application's litellm callbacks: kept for its own calls, hidden from the router's.

litellm keeps its callbacks in module-level lists that every call reads, and hands them
each call's messages and response; some hooks may even change the request before it is
sent (``async_pre_call_deployment_hook``). A router call must reach only the route the
decision chose, and its content must go nowhere the route's policy does not cover, so while
the router forwards a call these lists read as empty. Outside the router's calls they are
the application's lists, unchanged: its own ``litellm.acompletion`` calls keep their hooks.

``hidden_from_callbacks()`` marks the current task's forwarding; ``shield(litellm)`` turns
each list into a ``HostCallbacks`` (same items, same object for later appends) before a
router call, again after an application replaced one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, SupportsIndex, overload

# Module-level lists of litellm's callbacks: each would see every request and response.
CALLBACK_LISTS: Final = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "service_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
)
_FORWARDING: Final[ContextVar[bool]] = ContextVar("policy_router_forwarding", default=False)


class HostCallbacks(list[Any]):
    """A litellm callback list that reads as empty while the router forwards a call."""

    def __iter__(self) -> Iterator[Any]:
        return iter(()) if _FORWARDING.get() else super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        return iter(()) if _FORWARDING.get() else super().__reversed__()

    def __len__(self) -> int:
        return 0 if _FORWARDING.get() else super().__len__()

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, item: object) -> bool:
        return False if _FORWARDING.get() else super().__contains__(item)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        return [][index] if _FORWARDING.get() else super().__getitem__(index)

    def __add__(self, other: Iterable[Any]) -> list[Any]:
        return [*self, *other]

    def __radd__(self, other: Iterable[Any]) -> list[Any]:
        return [*other, *self]

    def copy(self) -> list[Any]:
        return list(self)


def shield(litellm: Any) -> None:
    """Make each of litellm's callback lists a ``HostCallbacks``, keeping its items."""
    for name in CALLBACK_LISTS:
        current = getattr(litellm, name, None)
        if isinstance(current, list) and not isinstance(current, HostCallbacks):
            setattr(litellm, name, HostCallbacks(current))


@contextmanager
def hidden_from_callbacks() -> Iterator[None]:
    """While inside, litellm's callback lists read as empty for this task only."""
    token = _FORWARDING.set(True)
    try:
        yield
    finally:
        _FORWARDING.reset(token)
