"""The audit writer's own identifier check: a record never holds the request's raw user id.

The router builds records from pseudonyms, catalog names and its own words; this check is the
backstop behind that. Each record of a request is checked for the raw user id (as
:class:`~router._core.invariant.Identity` matches it: a string equal to the id, or holding an
id of ``CONTAINED_FROM`` characters or more) in every string value and key, at any depth. The
common case costs one scan of the record's bytes per form of the id.

Fail closed, and keep the evidence: the record is still written (a refusal stays a refusal),
with each value that holds the id replaced by ``"[withheld]"`` (a key by ``{withheld#i}``) and
a ``withheld`` field listing where, by position. Fields whose values come from the catalog or
the router's own vocabulary (event, api, model, provider, route, outcome, reason, …) are not
caller data, and are written as they are even if a user's id happens to equal one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from router._core.invariant import CONTAINED_FROM, Identity, identity_of, on_wire_in
from router._core.redact import key_at

__all__ = ["WITHHELD", "identity_of", "may_hold", "withheld", "withhold"]

WITHHELD: Final = "[withheld]"
# The router's vocabulary: these fields hold catalog names or fixed words, never caller data.
_VOCABULARY: Final = frozenset(
    {
        "ts", "event", "catalog_version", "api", "model", "provider", "route", "outcome",
        "reason", "identifier_rule", "action", "actor", "writer", "seq", "prev", "chain",
    }
)  # fmt: skip


def withheld(record: dict[str, Any], user: str) -> dict[str, Any]:
    """``record``, or a copy with every place holding ``user`` withheld (see the module)."""
    identity = Identity.of(user)
    if identity is None:
        return record
    try:
        body = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # a value orjson cannot render: walk it all
        return withhold(record, identity)
    return withhold(record, identity) if may_hold(body, identity) else record


def may_hold(body: bytes, identity: Identity) -> bool:
    """Whether a rendered record may hold the id (one scan of the bytes per form of it); if
    not, it surely does not, and needs no walk."""
    return on_wire_in(body, identity)


def withhold(record: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """``record`` with every place holding the id withheld, and ``withheld`` naming them."""
    places: list[str] = []
    holds = _holds(identity)
    out = {
        key: value if key in _VOCABULARY else _walk(value, holds, key, places)
        for key, value in record.items()
    }
    if places:
        out["withheld"] = places
    return out


def _holds(identity: Identity) -> Callable[[str], bool]:
    """Whether a string holds the id: as the invariant matches it (equal; or containing an id
    of ``CONTAINED_FROM`` characters or more), or, for a shorter id, as a word of its own
    (``'bob'`` in a message holds it; ``bobcat`` does not)."""
    if len(identity.text) >= CONTAINED_FROM:
        return identity.matches
    word = re.compile(rf"(?<![\w-]){re.escape(identity.text)}(?![\w-])")
    return lambda text: word.search(text) is not None


def _walk(value: Any, holds: Callable[[str], bool], path: str, places: list[str]) -> Any:
    if isinstance(value, str):
        if holds(value):
            places.append(path)
            return WITHHELD
        return value
    if isinstance(value, Mapping):
        out = {}
        for i, (key, child) in enumerate(value.items()):
            if isinstance(key, str) and holds(key):
                where = f"{path}.{key_at(key, i, frozenset())}"
                places.append(where)
                out[f"{{withheld#{i}}}"] = _walk(child, holds, where, places)
            else:
                out[key] = _walk(child, holds, f"{path}.{key_at(key, i)}", places)
        return out
    if isinstance(value, list | tuple):
        return [_walk(child, holds, f"{path}[{i}]", places) for i, child in enumerate(value)]
    return value
