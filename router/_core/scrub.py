"""Identifier scrubbing: what of the end user's identity a route may receive.

Pure: takes the caller's keyword arguments and returns new ones; the caller's objects are
never mutated. ``omit`` removes every user identifier; ``pseudonymous`` replaces each with
a keyed pseudonym for the route's provider; ``allowed`` passes them through.

Identifiers are found by name (``user``, ``safety_identifier``, ``prompt_cache_key``,
user-like keys in ``metadata``, ``extra_body`` and ``extra_headers``) and by value: any
string equal to the end user's id outside message content is treated as an identifier too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from router._core.catalog import UserIdentifier
from router._core.values import one_write

TOP_LEVEL: Final = frozenset({"user", "safety_identifier", "prompt_cache_key"})
_IDENTIFYING: Final = (
    "user",
    "customer",
    "email",
    "session",
    "account",
    "safetyidentifier",
    "promptcachekey",
)
_NOT_IDENTIFYING: Final = ("useragent",)
_SEPARATORS: Final = str.maketrans("", "", "-_. ")
NESTED: Final = ("metadata", "extra_body", "extra_headers")


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class Scrubbed:
    """The arguments to send, and which identifier fields were removed or replaced."""

    kwargs: dict[str, Any]
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


def is_identifier_key(key: str) -> bool:
    """Whether a metadata, body or header key names a user identifier."""
    folded = key.lower().translate(_SEPARATORS)
    if any(word in folded for word in _NOT_IDENTIFYING):
        return False
    return any(word in folded for word in _IDENTIFYING)


def scrub(
    kwargs: Mapping[str, Any],
    rule: UserIdentifier,
    *,
    user: str | None = None,
    pseudonym: Callable[[str], str] | None = None,
) -> Scrubbed:
    """Apply a route's identifier rule to the arguments of one call.

    ``user`` is the end user's raw id, also looked for by value. ``pseudonym`` maps a raw
    identifier to the route's pseudonym; it is required for ``pseudonymous``.
    """
    if rule is UserIdentifier.ALLOWED:
        return Scrubbed(dict(kwargs))
    if rule is UserIdentifier.PSEUDONYMOUS and pseudonym is None:
        raise ValueError("a pseudonymous route needs a pseudonym function")
    state = _State(user, pseudonym if rule is UserIdentifier.PSEUDONYMOUS else None)
    out = dict(kwargs)
    for key in TOP_LEVEL & out.keys():
        state.handle(out, key, key)
    for name in NESTED:
        value = out.get(name)
        if value is not None and isinstance(value, Mapping):  # absent: no ABC check (slow)
            out[name] = state.mapping(value, name)
    if "messages" in out and user is not None:
        out["messages"] = state.messages(out["messages"])
    return Scrubbed(out, tuple(state.removed), tuple(state.replaced))


class _State:
    """One scrub pass. With a pseudonym function identifiers are replaced, else removed."""

    __slots__ = ("pseudonym", "removed", "replaced", "user")

    def __init__(self, user: str | None, pseudonym: Callable[[str], str] | None) -> None:
        self.user = user
        self.pseudonym = pseudonym
        self.removed: list[str] = []
        self.replaced: list[str] = []

    def handle(self, target: dict[str, Any], key: str, path: str) -> None:
        value = target[key]
        if self.pseudonym is not None and isinstance(value, str) and value:
            target[key] = self.pseudonym(value)
            self.replaced.append(path)
        else:
            del target[key]
            self.removed.append(path)

    def mapping(self, value: Mapping[str, Any], path: str) -> dict[str, Any]:
        out = dict(value)
        for key in list(out):
            child = out[key]
            where = f"{path}.{key}"
            if is_identifier_key(key) or key in TOP_LEVEL or self._is_user(child):
                self.handle(out, key, where)
            elif isinstance(child, Mapping):
                out[key] = self.mapping(child, where)
        return out

    def messages(self, messages: Any) -> Any:
        if not isinstance(messages, list):
            return messages
        out = messages
        for i, message in enumerate(messages):
            if isinstance(message, Mapping) and self._is_user(message.get("name")):
                if out is messages:
                    out = list(messages)
                copy = dict(message)
                self.handle(copy, "name", f"messages[{i}].name")
                out[i] = copy
        return out

    def _is_user(self, value: Any) -> bool:
        return self.user is not None and isinstance(value, str) and value == self.user
