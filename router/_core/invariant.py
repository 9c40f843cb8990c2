"""The identifier invariant: on an ``omit`` or ``pseudonymous`` route, the raw user id appears
nowhere in a request outside message content.

Checked twice per attempt: on the scrubbed arguments before litellm sees them
(:func:`find_in_arguments`), and on the request litellm actually built for the provider, URL,
headers and body (:func:`find_on_wire`). Scrubbing removes or replaces identifiers in the
fields that carry one; this check catches the id anywhere else (a schema name, a stop
sequence, a tool description, a numeric form). Where it finds one, the attempt is blocked
before anything is sent and the request refused: the router cannot tell what the value
means, so it neither guesses a replacement nor sends it.

Matching: a value equal to the id (as a string, or as a number when the id is one), or, for
ids of :data:`CONTAINED_FROM` characters or more, containing it. On the wire, a string is
message content only if it is one of the request's content strings exactly; a provider format
that rewrote content holding the id would be blocked, not trusted. The user id inside message
text is out of scope: content is the user's to write.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from router._core.redact import key_at
from router._core.scrub import is_identifier_key

__all__ = [
    "CONTAINED_FROM",
    "Identity",
    "content_strings",
    "find_in_arguments",
    "find_in_messages_request",
    "find_in_responses_request",
    "find_on_wire",
    "holds_user",
    "identity_of",
    "messages_content",
    "on_wire_in",
    "responses_content",
]

CONTAINED_FROM: Final = 8  # shorter ids match only whole values: "ann" is in "annotations"
_EQUAL_FROM: Final = 3  # a one- or two-character id says nothing about anyone
# Strings of a message that are not content: its role and name, and the ids of tool calls
# (chat's tool_calls[].id and tool_call_id, which the Responses API's call_id and the Messages
# API's tool_use.id and tool_use_id become), and of audio. Each is an identifier field: the raw
# user id there blocks the attempt on an omit or pseudonymous route, in the arguments and on
# the wire, whatever the provider's format calls the field.
_NOT_CONTENT: Final = frozenset({"role", "name", "id", "tool_call_id", "call_id", "tool_use_id"})
_IGNORED_HEADERS: Final = frozenset({"content-length"})
# Objects whose keys the caller chooses: a blocked_at path names their keys by position.
_FREE_MAPS: Final = frozenset(
    {"metadata", "properties", "patternProperties", "$defs", "definitions", "logit_bias",
     "extra_body", "extra_headers", "headers", "additionalModelRequestFields"}
)  # fmt: skip
_NONE: Final[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Identity:
    """The raw user id, in every form it can take in a request."""

    text: str
    number: int | float | None

    @classmethod
    def of(cls, user: str | None) -> Identity | None:
        if user is None or len(user) < _EQUAL_FROM:
            return None
        return cls(user, _as_number(user))

    def matches(self, value: Any) -> bool:
        if isinstance(value, str):
            return value == self.text or (len(self.text) >= CONTAINED_FROM and self.text in value)
        if isinstance(value, bool) or self.number is None:
            return False
        return isinstance(value, int | float) and value == self.number

    def on_wire(self) -> tuple[bytes, ...]:
        """Byte strings one of which is in a body that holds the id (JSON escapes included)."""
        forms = {
            self.text.encode("utf-8", "surrogatepass"),
            json.dumps(self.text)[1:-1].encode(),
        }
        if self.number is not None:
            forms.add(repr(self.number).encode())
        return tuple(forms)


@functools.lru_cache(maxsize=256)
def identity_of(user: str) -> Identity | None:
    """``Identity.of``, made once per user for the checks of a request (and its neighbours):
    its numeric form is a ``float()`` that raises for every id that is not a number."""
    return Identity.of(user)


@functools.lru_cache(maxsize=256)
def _wire_forms(text: str, number: float | None) -> tuple[bytes, ...]:
    """``Identity(text, number).on_wire()``, keyed by its fields (a tuple's hash is C's; the
    dataclass's own ``__hash__`` is a Python call)."""
    return Identity(text, number).on_wire()


def on_wire_in(body: bytes, identity: Identity) -> bool:
    """Whether one of the id's forms on the wire (``Identity.on_wire``) is in ``body``: if not,
    ``body`` surely does not hold the id (one scan of the bytes per form)."""
    # ``find``, not ``in``: on 3.11 ``in`` raises and clears a TypeError before it searches;
    # a loop, not ``any``: no generator per call
    for form in _wire_forms(identity.text, identity.number):  # noqa: SIM110
        if body.find(form) >= 0:
            return True
    return False


def holds_user(text: str | None, user: str | None) -> bool:
    """Whether ``text`` (a request id) is the user id or holds it, as the invariant matches."""
    if user is None or text is None or user not in text:  # the usual case, at no cost
        return False
    identity = Identity.of(user)
    return identity is not None and identity.matches(text)


def _as_number(text: str) -> int | float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def content_strings(messages: Any) -> frozenset[str]:
    """Every string of the messages that is content (everything but a role, a name and ids)."""
    return frozenset(_strings(messages, skip=_NOT_CONTENT))


def _strings(node: Any, *, skip: frozenset[str]) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, child in node.items():
            if key not in skip:
                yield from _strings(child, skip=skip)
    elif isinstance(node, list | tuple):
        for child in node:
            yield from _strings(child, skip=skip)


def messages_content(request: Mapping[str, Any]) -> frozenset[str]:
    """Every string of an Anthropic Messages request that is content: its messages' (all but
    roles and the ids of tool_use and tool_result blocks) and its system prompt's."""
    return frozenset(_strings(request.get("messages"), skip=_NOT_CONTENT)) | frozenset(
        _strings(request.get("system"), skip=_NOT_CONTENT)
    )


def find_in_messages_request(request: Mapping[str, Any], identity: Identity) -> str | None:
    """:func:`find_in_arguments` for a Messages request as it goes out as it came: the ids of
    its tool_use and tool_result blocks are identifier fields, its messages and system prompt
    otherwise content, every other field searched whole."""
    return _find_outside_content(request, identity, ("messages", _in_block_ids), "system")


def _find_outside_content(
    request: Mapping[str, Any],
    identity: Identity,
    turns: tuple[str, Callable[[Any, Identity], str | None]],
    prompt: str | None,
) -> str | None:
    """The first place of a request (chat's arguments, or a request sent as it came) where the
    id is outside content: in the ids of its ``turns`` field (searched by their finder), never
    in its ``prompt`` (content; chat has none outside its messages), anywhere in every other
    field."""
    name, ids = turns
    for key, value in request.items():
        if key == name:
            found = ids(value, identity)
        elif key == prompt:
            found = None
        else:
            found = _find(value, identity, key, frozenset(), key in _FREE_MAPS)
        if found is not None:
            return found
    return None


def _in_block_ids(messages: Any, identity: Identity) -> str | None:
    """The first tool_use ``id`` or tool_result ``tool_use_id`` that holds the id, as a path."""
    for i, message in enumerate(messages if isinstance(messages, list | tuple) else ()):
        blocks = message.get("content") if isinstance(message, Mapping) else None
        for j, block in enumerate(blocks if isinstance(blocks, list | tuple) else ()):
            for key in ("id", "tool_use_id"):
                if isinstance(block, Mapping) and identity.matches(block.get(key)):
                    return f"messages[{i}].content[{j}].{key}"
    return None


def responses_content(request: Mapping[str, Any]) -> frozenset[str]:
    """Every string of a Responses request that is content: its ``input``'s (all but roles,
    names and the ids of items and calls) and its ``instructions``."""
    return frozenset(_strings(request.get("input"), skip=_NOT_CONTENT)) | frozenset(
        _strings(request.get("instructions"), skip=_NOT_CONTENT)
    )


def find_in_responses_request(request: Mapping[str, Any], identity: Identity) -> str | None:
    """:func:`find_in_arguments` for a Responses request as it goes out as it came: the ids,
    call ids and names of its ``input`` items are identifier fields, its input and instructions
    otherwise content, every other field searched whole."""
    return _find_outside_content(request, identity, ("input", _input_ids), "instructions")


def _input_ids(items: Any, identity: Identity) -> str | None:
    return _in_item_ids(items, identity, "input")


_ITEM_IDS: Final = ("id", "call_id", "name")


def _in_item_ids(node: Any, identity: Identity, path: str) -> str | None:
    """The first item id, call id or name in ``input`` (at any depth) that holds the id."""
    if isinstance(node, Mapping):
        for key in _ITEM_IDS:
            if identity.matches(node.get(key)):
                return f"{path}.{key}"
        for i, (key, child) in enumerate(node.items()):
            if isinstance(child, Mapping | list | tuple):
                found = _in_item_ids(child, identity, f"{path}.{_named(key, i, identity, False)}")
                if found is not None:
                    return found
    elif isinstance(node, list | tuple):
        for i, child in enumerate(node):
            found = _in_item_ids(child, identity, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def find_in_arguments(arguments: Mapping[str, Any], identity: Identity) -> str | None:
    """The first place outside message content where the id is, as a path; None if nowhere."""
    return _find_outside_content(arguments, identity, ("messages", _in_message_names), None)


def _in_message_names(messages: Any, identity: Identity) -> str | None:
    """The first message name or tool-call id that holds the id, as a path."""
    if not isinstance(messages, list | tuple):
        return None
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        for key in ("name", "tool_call_id"):
            if identity.matches(message.get(key)):
                return f"messages[{i}].{key}"
        calls = message.get("tool_calls")
        for j, call in enumerate(calls if isinstance(calls, list | tuple) else ()):
            if isinstance(call, Mapping) and identity.matches(call.get("id")):
                return f"messages[{i}].tool_calls[{j}].id"
    return None


def find_on_wire(
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    identity: Identity,
    content: frozenset[str] | Callable[[], frozenset[str]],
) -> str | None:
    """Where the id is in a request as sent (``url``, ``header:<name>``, ``$.path``); None if
    nowhere outside message content. ``content``: the request's content strings, or what
    makes them (called only for a body that holds a form of the id)."""
    # Both match only a URL that holds the id's text (a part of it is a substring of it)
    if identity.text in url and (identity.matches(url) or _in_url_parts(url, identity)):
        return "url"
    for name, value in headers:
        if name.lower() not in _IGNORED_HEADERS and identity.matches(value):
            return f"header:{name.lower()}"
    if not on_wire_in(body, identity):
        return None  # the common case: one scan of the bytes
    try:
        parsed = json.loads(body)
    except ValueError:  # not JSON: no place to tell content from the rest
        return "body"
    return _find(parsed, identity, "$", content if isinstance(content, frozenset) else content())


def _in_url_parts(url: str, identity: Identity) -> bool:
    parts = url.replace("?", "/").replace("&", "/").replace("=", "/").split("/")
    return any(identity.matches(part) for part in parts)


def _named(key: object, index: int, identity: Identity, free: bool) -> str:
    """A key of a path: by position where it matches the id, or where the caller chose it
    (a key of a free object, unless it names an identifier field like ``user_id``)."""
    if not isinstance(key, str) or identity.matches(key):
        return key_at(key, index, _NONE)
    if free and not is_identifier_key(key):
        return key_at(key, index, _NONE)
    return key_at(key, index)


def _find(
    node: Any, identity: Identity, path: str, content: frozenset[str], free: bool = False
) -> str | None:
    """``free``: ``node``'s keys are the caller's to choose (a metadata object, a schema's
    properties): the path names them by position, never by name."""
    if isinstance(node, Mapping):
        for i, key in enumerate(node):
            child = node[key]
            where = f"{path}.{_named(key, i, identity, free)}"
            if isinstance(key, str) and identity.matches(key):
                return where
            found = _find(child, identity, where, content, key in _FREE_MAPS)
            if found is not None:
                return found
        return None
    if isinstance(node, list | tuple):
        for i, child in enumerate(node):
            found = _find(child, identity, f"{path}[{i}]", content)
            if found is not None:
                return found
        return None
    if identity.matches(node) and not (isinstance(node, str) and node in content):
        return path
    return None
