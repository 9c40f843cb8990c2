"""How the evidence names caller data without holding it.

Refusal messages, audit records, log lines and span attributes are kept by the operator; a
caller's value in them (a user id, message text, a model name typed by hand) would land in the
evidence. So a message names the field, the expected shape and the *kind* of the value
(:func:`kind`: its type and size), never the value; a path names a key the caller chose by its
position (:func:`key_at`), and a declared field by its name.

Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["FIELD_LIKE", "key_at", "kind", "named"]

# A key that reads as a parameter name: named in a message. Anything else is a position.
FIELD_LIKE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


def kind(value: Any) -> str:
    """The kind of a value, for a message: its type and size, never its text or digits."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "an empty string" if not value else f"a string of {_count(len(value), 'character')}"
    if isinstance(value, Mapping):
        return f"an object of {_count(len(value), 'key')}"
    if isinstance(value, list | tuple):
        return f"a list of {_count(len(value), 'item')}"
    return f"a value of type {type(value).__name__}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def key_at(key: object, index: int, declared: frozenset[str] | None = None) -> str:
    """A key as a path names it: a declared field by name; with ``declared`` None, a key that
    reads as a parameter name by name; any other by its position (``{key#2}``, from 0)."""
    if isinstance(key, str) and (
        key in declared if declared is not None else FIELD_LIKE.fullmatch(key) is not None
    ):
        return key
    return f"{{key#{index}}}"


def named(key: object) -> str:
    """A key the caller sent, for a message: quoted if it reads as a parameter name, else
    its kind (``a key of 300 characters``)."""
    if isinstance(key, str) and FIELD_LIKE.fullmatch(key):
        return repr(key)
    if isinstance(key, str):
        return f"a key of {_count(len(key), 'character')}"
    return f"a key of type {type(key).__name__}"
