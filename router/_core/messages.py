"""The accepted surface of an Anthropic Messages request (``POST /v1/messages``, ``amessages``).

Deny by default, as for chat completions (router/_core/surface.py, whose shape checks this
reuses): a Messages request may carry only the fields of :data:`MESSAGES_PARAMETERS`, each of
the declared shape down to its content blocks; anything else is refused by name before
anything is decided. Server tools (web search, code execution, computer use, bash, text
editor, web fetch, memory) and the fields that configure them (``mcp_servers``,
``container``) run at the provider, outside the catalog's policy: they are refused with a
message that says so.

Pure: no I/O. ``check_messages`` returns the request normalised (``None`` values dropped) or
raises :class:`~router._core.surface.SurfaceError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from router._core.redact import named
from router._core.surface import (
    Check,
    Param,
    SurfaceError,
    _Bad,
    _describe,
    _named,
    _privacy,
    boolean,
    did_you_mean,
    either,
    integer,
    json_schema,
    list_of,
    nonempty,
    number,
    obj,
    one_of,
    opaque,
    schema_of,
    shape_of,
    string,
)

__all__ = ["MESSAGES_PARAMETERS", "chat_names", "check_messages", "markdown_table"]

_DOC: Final = "see docs/proxy.md, 'Anthropic Messages API'"
_SERVER_TOOL: Final = (
    "server tool {kind} is not accepted: it runs at the provider, outside the catalog's "
    "policy (what it fetches, executes or keeps is not declared); send custom tools only "
    "(name, description, input_schema)"
)
# Request fields that switch on provider-side tools or state: refused with their reason.
_PROVIDER_SIDE: Final = {
    "mcp_servers": "MCP servers are called by the provider, outside the catalog's policy",
    "container": "a code-execution container keeps files at the provider, beyond the route's retention",
    "context_management": "context editing runs at the provider on state the catalog does not declare",
    "service_tier": "the router chooses the backend from the policy",
}


def _tagged(shape: str, shapes: Mapping[str, Check]) -> Check:
    """An object whose ``type`` picks its shape; any other type is refused by name.
    ``shape`` is what the docs' table shows."""

    unique = list({id(c): c for c in shapes.values()}.values())

    @_named(shape, {"anyOf": [schema_of(c) for c in unique]})
    def check(value: Any, path: str) -> Any:
        kind = value.get("type") if isinstance(value, Mapping) else None
        chosen = shapes.get(kind) if isinstance(kind, str) else None
        if chosen is None:
            raise _Bad(f"{path}.type", f"one of {', '.join(map(repr, shapes))}", kind)
        return chosen(value, path)

    return check


_CACHE_CONTROL = obj({"type": one_of("ephemeral"), "ttl": one_of("5m", "1h")}, required=("type",))
_TEXT = obj(
    {"type": one_of("text"), "text": nonempty, "cache_control": _CACHE_CONTROL},
    required=("type", "text"),
)
_IMAGE_SOURCE = _tagged(
    "{type: `base64`, media_type, data} \\| {type: `url`, url}",
    {
        "base64": obj(
            {
                "type": one_of("base64"),
                "media_type": one_of("image/jpeg", "image/png", "image/gif", "image/webp"),
                "data": nonempty,  # an empty image is dropped in translation
            },
            required=("type", "media_type", "data"),
        ),
        "url": obj({"type": one_of("url"), "url": nonempty}, required=("type", "url")),
    },
)
_IMAGE = obj(
    {"type": one_of("image"), "source": _IMAGE_SOURCE, "cache_control": _CACHE_CONTROL},
    required=("type", "source"),
)
_TOOL_USE = obj(
    {
        "type": one_of("tool_use"),
        "id": string,
        "name": string,
        "input": opaque,
        "cache_control": _CACHE_CONTROL,
    },
    required=("type", "id", "name", "input"),
)
_TOOL_RESULT = obj(
    {
        "type": one_of("tool_result"),
        "tool_use_id": string,
        "content": either(
            string, list_of(_tagged("text \\| image block", {"text": _TEXT, "image": _IMAGE}))
        ),
        "is_error": boolean,
        "cache_control": _CACHE_CONTROL,
    },
    required=("type", "tool_use_id"),
)
_THINKING = obj(
    {"type": one_of("thinking"), "thinking": string, "signature": string},
    required=("type", "thinking"),
)
_REDACTED_THINKING = obj(
    {"type": one_of("redacted_thinking"), "data": string}, required=("type", "data")
)
_BLOCKS: Final[Mapping[str, Check]] = {
    "text": _TEXT,
    "image": _IMAGE,
    "tool_use": _TOOL_USE,
    "tool_result": _TOOL_RESULT,
    "thinking": _THINKING,
    "redacted_thinking": _REDACTED_THINKING,
}


_block = _tagged(" \\| ".join(f"{kind} block" for kind in _BLOCKS), _BLOCKS)
# The blocks each role's message may hold, as Anthropic defines them; a message must say
# something besides thinking (litellm's translation to chat drops what a role cannot send,
# and a message of nothing else would leave nothing to send).
_BY_ROLE: Final = {
    "user": ("text", "image", "tool_result"),
    "assistant": ("text", "tool_use", "thinking", "redacted_thinking"),
}


def _message_of(role: str) -> Check:
    kinds = _BY_ROLE[role]
    blocks = list_of(_block, min_items=1)
    saying = tuple(k for k in kinds if not k.endswith("thinking"))
    schema = {
        "type": "array",
        "items": {"anyOf": [schema_of(_BLOCKS[k]) for k in kinds]},
        "minItems": 1,
        "contains": {"anyOf": [schema_of(_BLOCKS[k]) for k in saying]},
    }

    @_named(shape_of(blocks), schema)
    def content(value: Any, path: str) -> Any:
        checked = blocks(value, path)
        for i, block in enumerate(checked):
            if block["type"] not in kinds:
                where = f"{path}[{i}].type"
                raise _Bad(
                    where,
                    f"one of {', '.join(map(repr, kinds))} in a {role} message",
                    block["type"],
                )
        if not any(b["type"] in saying for b in checked):
            raise _Bad(path, f"a list with at least one {' or '.join(saying)} block", value)
        return checked

    # Anthropic refuses empty text
    return obj(
        {"role": one_of(role), "content": either(nonempty, content)}, required=("role", "content")
    )


_MESSAGES_BY_ROLE: Final = {role: _message_of(role) for role in _BY_ROLE}


@_named(
    "{role: `user` \\| `assistant`, content: string \\| [" + shape_of(_block) + "]}",
    {"anyOf": [schema_of(c) for c in _MESSAGES_BY_ROLE.values()]},
)
def _any_message(value: Any, path: str) -> Any:
    role = value.get("role") if isinstance(value, Mapping) else None
    check = _MESSAGES_BY_ROLE.get(role) if isinstance(role, str) else None
    if check is None:
        if not isinstance(value, Mapping):
            raise _Bad(path, "an object", value)
        raise _Bad(f"{path}.role", "one of 'user', 'assistant'", role)
    return check(value, path)


@_named("{name, description, input_schema, cache_control} (custom tools only)")
def _tool(value: Any, path: str) -> Any:
    """A custom tool; a server tool (any ``type`` but ``custom``) is refused by its type."""
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in (None, "custom"):
        raise _Bad(f"{path}.type", "'custom' or no type", _ServerTool(kind))
    return _CUSTOM_TOOL(value, path)


class _ServerTool:
    """A server tool's type, as the refusal names it."""

    def __init__(self, kind: object) -> None:
        self.kind = kind


_CUSTOM_TOOL = obj(
    {
        "type": one_of("custom"),
        "name": string,
        "description": string,
        "input_schema": json_schema,
        "cache_control": _CACHE_CONTROL,
    },
    required=("name", "input_schema"),
)
_tool.schema = schema_of(_CUSTOM_TOOL)  # type: ignore[attr-defined]
_CHOOSE = obj(
    {"type": one_of("auto", "any", "none"), "disable_parallel_tool_use": boolean},
    required=("type",),
)
_TOOL_CHOICE = _tagged(
    "{type: `auto` \\| `any` \\| `none` \\| `tool`, name (for `tool`), disable_parallel_tool_use: boolean}",
    {
        "auto": _CHOOSE,
        "any": _CHOOSE,
        "none": _CHOOSE,
        "tool": obj(
            {"type": one_of("tool"), "name": string, "disable_parallel_tool_use": boolean},
            required=("type", "name"),
        ),
    },
)
_THINKING_CONFIG = _tagged(
    "{type: `enabled`, budget_tokens: integer} \\| {type: `disabled`}",
    {
        "enabled": obj(
            {"type": one_of("enabled"), "budget_tokens": integer},
            required=("type", "budget_tokens"),
        ),
        "disabled": obj({"type": one_of("disabled")}, required=("type",)),
    },
)


def _p(name: str, check: Check, handling: str = "forwarded") -> Param:
    return Param(name, check, handling)


MESSAGES_PARAMETERS: Final[Mapping[str, Param]] = {
    p.name: p
    for p in (
        _p("model", nonempty, "resolved in the catalog (display name, alias or slug): any catalog model"),
        _p("messages", list_of(_any_message, min_items=1), "as it came to Claude on Anthropic; elsewhere translated to chat messages (text, image, tool_use, tool_result, thinking blocks)"),
        _p("max_tokens", integer, "required, as Anthropic requires; forwarded"),
        _p("system", either(string, list_of(_TEXT)), "as it came to Claude on Anthropic; elsewhere translated to a system message"),
        _p("metadata", obj({"user_id": string}), "user_id: the end user unless X-Router-User names one; never forwarded (the end user is, scrubbed per route: on Anthropic as metadata.user_id)"),
        _p("stream", boolean, "streams Anthropic's events; failover only before the first chunk"),
        _p("temperature", number),
        _p("top_p", number),
        _p("top_k", integer),
        _p("stop_sequences", list_of(string), "forwarded (as stop where translated)"),
        _p("tools", list_of(_tool), "custom tools, forwarded (as functions where translated); server tools refused"),
        _p("tool_choice", _TOOL_CHOICE, "forwarded; where translated, disable_parallel_tool_use as parallel_tool_calls: false"),
        _p("thinking", _THINKING_CONFIG, "forwarded (as chat's thinking where translated, as a chat request sends it)"),
        _p("privacy", _privacy, "tightens the policy for this call (checked as preferences)"),
    )
}  # fmt: skip
REQUIRED: Final = ("model", "messages", "max_tokens")
REQUIRED_TO_COUNT: Final = ("model", "messages")  # count_tokens takes no max_tokens


# What a Messages field is called once translated to chat (router/_upstream/messages.py); the
# fields that become messages, or that the router reads itself, have no chat name.
_CHAT_NAME: Final = {"stop_sequences": "stop", "stream": "stream_options"}
_NO_CHAT_NAME: Final = frozenset({"model", "messages", "system", "metadata", "privacy"})


def chat_names(request: Mapping[str, Any]) -> frozenset[str]:
    """The chat arguments a checked Messages ``request`` becomes when translated, by name only
    (what a route would drop is decided on them before anything is translated)."""
    names = {_CHAT_NAME.get(k, k) for k in request if k not in _NO_CHAT_NAME}
    if not request.get("stream"):
        names.discard("stream_options")
    choice = request.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("disable_parallel_tool_use"):
        names.add("parallel_tool_calls")
    return frozenset(names)


def refusal(name: str) -> str:
    """Why the Messages request field ``name`` is not accepted, and what to do instead."""
    reason = _PROVIDER_SIDE.get(name)
    if reason is not None:
        return f"{name!r} is not accepted: {reason}; remove it ({_DOC})"
    return (
        f"unsupported field {named(name)}: the router accepts the Messages fields "
        f"{', '.join(MESSAGES_PARAMETERS)} only; remove it"
        f"{did_you_mean(name, MESSAGES_PARAMETERS)} ({_DOC})"
    )


def check_messages(request: Mapping[str, Any], *, counting: bool = False) -> dict[str, Any]:
    """``request`` normalised if every field is accepted with its shape; else SurfaceError.
    ``counting``: a count_tokens request, which needs no ``max_tokens``."""
    out: dict[str, Any] = {}
    for name, value in request.items():
        if value is None:  # absent, as litellm reads it
            continue
        param = MESSAGES_PARAMETERS.get(name)
        if param is None:
            raise SurfaceError(name, refusal(name))
        try:
            out[name] = param.check(value, name)
        except _Bad as bad:
            raise SurfaceError(name, _message(bad)) from None
    missing = [n for n in (REQUIRED_TO_COUNT if counting else REQUIRED) if n not in out]
    if missing:
        raise SurfaceError(missing[0], f"{missing[0]!r} is required ({_DOC})")
    return out


def _message(bad: _Bad) -> str:
    if isinstance(bad.found, _ServerTool):
        return f"{bad.path}: " + _SERVER_TOOL.format(kind=named(bad.found.kind)) + f" ({_DOC})"
    return f"{bad.path}: expected {bad.expected}, got {_describe(bad.found)} ({_DOC})"


def markdown_table() -> str:
    """The accepted Messages surface as docs/ shows it (a test keeps the two equal)."""
    rows = ["| field | shape | what the router does |", "| --- | --- | --- |"]
    for p in MESSAGES_PARAMETERS.values():
        rows.append(f"| `{p.name}` | {getattr(p.check, 'shape', '?')} | {p.handling} |")
    return "\n".join(rows) + "\n"
