"""The accepted surface of OpenAI's Responses API: every argument a response may carry.

The same deny-by-default as chat (router/_core/surface.py, whose shapes this reuses): a
Responses request (``PolicyRouter.aresponses``, ``POST /v1/responses``) may carry only the
arguments of :data:`RESPONSES`, each of its declared shape; anything else is refused by name
before anything is decided. What the Responses API keeps at the provider (``store: true``,
``previous_response_id``, ``conversation``, ``background: true``, an ``item_reference``) and
the built-in tools that run there are refused with the reason: the catalog's retention promise
for a route cannot hold when the provider keeps state. A function tool's output must come with
its call (``function_call`` before ``function_call_output`` in ``input``), as OpenAI requires
when nothing is stored.

Pure: no I/O. ``check_responses`` returns the arguments normalised, or raises SurfaceError.
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
    _count,
    _metadata,
    _named,
    _plain,
    _privacy,
    _seconds,
    boolean,
    check_arguments,
    integer,
    library_only,
    list_of,
    number,
    obj,
    one_of,
    opaque,
    steering,
    string,
)

__all__ = ["RESPONSES", "check_responses"]

_DOC: Final = "see README, 'Responses API'"
_KEPT: Final = (
    "the catalog's retention promise for the route cannot hold when the provider keeps state"
)
STORE_REFUSED: Final = (
    f"'store': true is refused: the provider would keep the response beyond the retention the "
    f"catalog declares for the route ({_KEPT}); leave 'store' out or send false (the router "
    "sends store: false to OpenAI and Azure itself)"
)
BACKGROUND_REFUSED: Final = (
    f"'background': true is refused: a background response is stored at the provider until "
    f"it is fetched ({_KEPT}); leave 'background' out and use 'stream': true for long answers"
)
PREVIOUS_REFUSED: Final = (
    f"'previous_response_id' is refused: it continues a response stored at the provider, and "
    f"nothing is stored there ({_KEPT}); send the whole conversation in 'input', the earlier "
    "output items included"
)
CONVERSATION_REFUSED: Final = (
    f"'conversation' is refused: a conversation is state kept at the provider ({_KEPT}); send "
    "the whole conversation in 'input' instead"
)
_ITEMS: Final = ("message", "function_call", "function_call_output")
_STATUS: Final = one_of("in_progress", "completed", "incomplete")


def _stateful(message: str) -> Check:
    """An argument refused whatever its value (null means left out)."""

    @_named("refused (any value)", {"type": "null"})
    def check(value: Any, path: str) -> Any:
        raise SurfaceError(path, message)

    return check


def _false_only(message: str) -> Check:
    @_named("`false`", {"const": False})
    def check(value: Any, path: str) -> Any:
        if value is True:
            raise SurfaceError(path, message)
        if value is not False:
            raise _Bad(path, "false", value)
        return value

    return check


# --- input items, as the Responses API defines them -----------------------------------------

_MESSAGE_ITEM = obj(
    {
        "type": one_of("message"),
        "role": one_of("user", "assistant", "system", "developer"),
        "content": opaque,
        "id": string,
        "status": _STATUS,
    },
    required=("role", "content"),
)
_CALL_ITEM = obj(
    {
        "type": one_of("function_call"),
        "call_id": string,
        "name": string,
        "arguments": string,
        "id": string,
        "status": _STATUS,
    },
    required=("type", "call_id", "name", "arguments"),
)
_OUTPUT_ITEM = obj(
    {
        "type": one_of("function_call_output"),
        "call_id": string,
        "output": opaque,
        "id": string,
        "status": _STATUS,
    },
    required=("type", "call_id", "output"),
)
_BY_TYPE: Final[Mapping[str, Check]] = {
    "message": _MESSAGE_ITEM,
    "function_call": _CALL_ITEM,
    "function_call_output": _OUTPUT_ITEM,
}


@_named(
    "{type: `message`, role, content, id, status} \\| {type: `function_call`, call_id, name, "
    "arguments, id, status} \\| {type: `function_call_output`, call_id, output, id, status}",
    {"type": "object"},
)
def _item(value: Any, path: str) -> Any:
    value = _plain(value)
    if not isinstance(value, Mapping):
        raise _Bad(path, "an object (an input item)", value)
    # An output item handed back carries the fields of its type that were null: left out.
    value = {k: v for k, v in value.items() if v is not None}
    kind = value.get("type", "message")
    if kind == "item_reference":
        raise SurfaceError(
            "input",
            f"{path}: an item_reference names an item stored at the provider, and nothing is "
            f"stored there ({_KEPT}); send the item itself",
        )
    check = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise _Bad(f"{path}.type", "one of " + ", ".join(map(repr, _ITEMS)), kind)
    return check(value, path)


@_named("string \\| [input item]", {"anyOf": [{"type": "string"}, {"type": "array"}]})
def _input(value: Any, path: str) -> Any:
    if isinstance(value, str):
        return value
    items = list_of(_item, min_items=1)(value, path)
    called: set[str] = set()
    for i, item in enumerate(items):
        if item.get("type") == "function_call":
            called.add(item["call_id"])
        elif item.get("type") == "function_call_output" and item["call_id"] not in called:
            raise SurfaceError(
                "input",
                f"{path}[{i}]: this function_call_output's call_id matches no function_call "
                f"item before it; nothing is stored at the provider ({_KEPT}), so send the "
                "function_call item back with its output, as the response gave it",
            )
    return items


# --- tools ----------------------------------------------------------------------------------

_FUNCTION_TOOL = obj(
    {
        "type": one_of("function"),
        "name": string,
        "description": string,
        "parameters": opaque,
        "strict": boolean,
    },
    required=("type", "name"),
)


@_named(
    "{type: `function`, name: string, description: string, parameters: any (content), strict: boolean}",
    {"type": "object"},
)
def _tool(value: Any, path: str) -> Any:
    value = _plain(value)
    kind = value.get("type") if isinstance(value, Mapping) else None
    if isinstance(kind, str) and kind != "function":
        raise SurfaceError(
            "tools",
            f"{path}: the built-in tool {named(kind)} is refused: built-in tools run at the provider "
            "(searching the web, reading files or vector stores kept there, running code, "
            "calling other servers), beyond what the catalog declares for the route; only "
            "function tools are accepted: declare it as {type: 'function', name, parameters} "
            "and run it yourself",
        )
    return _FUNCTION_TOOL(value, path)


_TOOL_CHOICE: Final = obj({"type": one_of("function"), "name": string}, required=("type", "name"))


@_named("`none` \\| `auto` \\| `required` \\| {type: `function`, name: string}", {})
def _tool_choice(value: Any, path: str) -> Any:
    if isinstance(value, str):
        return one_of("none", "auto", "required")(value, path)
    return _TOOL_CHOICE(value, path)


_TEXT: Final = obj(
    {
        "format": obj(
            {
                "type": one_of("text", "json_object", "json_schema"),
                "name": string,
                "schema": opaque,
                "description": string,
                "strict": boolean,
            },
            required=("type",),
        )
    }
)


def _p(name: str, check: Check, handling: str, **where: bool) -> Param:
    return Param(name, check, handling, **where)


_SCRUBBED: Final = "an identifier: removed or pseudonymised per route, as in chat"
_REFUSED: Final = "refused: state kept at the provider"

RESPONSES: Final[Mapping[str, Param]] = {
    p.name: p
    for p in (
        _p("model", string, "resolved in the catalog (display name, alias or slug)"),
        _p("input", _input, "translated to chat messages by litellm, then routed like chat"),
        _p("instructions", string, "the first message, as system"),
        _p("stream", boolean, "Responses events; failover only before the first"),
        _p("user", string, "selects the user's preferences, then " + _SCRUBBED),
        _p("safety_identifier", string, _SCRUBBED),
        _p("prompt_cache_key", string, _SCRUBBED),
        _p("metadata", _metadata, "user-like keys and values equal to the user id are identifiers: removed or pseudonymised per route, as in chat"),
        _p("privacy", _privacy, "tightens the policy for this call (checked as preferences)"),
        _p("store", _false_only(STORE_REFUSED), "only false; the router sends store: false to OpenAI and Azure"),
        _p("background", _false_only(BACKGROUND_REFUSED), "only false"),
        _p("previous_response_id", _stateful(PREVIOUS_REFUSED), _REFUSED),
        _p("conversation", _stateful(CONVERSATION_REFUSED), _REFUSED),
        _p("max_output_tokens", integer, "sent as max_tokens"),
        _p("temperature", number, "forwarded"),
        _p("top_p", number, "forwarded"),
        _p("tools", list_of(_tool), "sent as chat function tools; built-in tools are refused"),
        _p("tool_choice", _tool_choice, "forwarded"),
        _p("parallel_tool_calls", boolean, "forwarded"),
        _p("text", _TEXT, "its format sent as response_format"),
        _p("reasoning", obj({"effort": one_of("minimal", "low", "medium", "high")}), "its effort sent as reasoning_effort"),
        _p("timeout", _seconds, "the deadline of the whole call, failover included", proxy=False),
        _p("num_retries", _count, "retries across allowed routes (never litellm's own)", proxy=False),
        _p("max_retries", _count, "as num_retries", proxy=False),
    )
}  # fmt: skip


def _refusal(name: str, *, proxy: bool) -> str:
    hint = steering(name)
    if hint is not None:
        return hint
    if name in RESPONSES:
        return library_only(name)
    where = "the proxy forwards" if proxy else "policy-router accepts"
    return (
        f"unsupported argument {named(name)}: {where} the OpenAI Responses parameters of its "
        f"accepted surface only; remove it ({_DOC})"
    )


def check_responses(arguments: Mapping[str, Any], *, proxy: bool = False) -> dict[str, Any]:
    """``arguments`` normalised if every one is accepted with its shape; else SurfaceError."""
    if arguments.get("input") is None:
        raise SurfaceError(
            "input", f"'input' is required: a string, or a list of input items ({_DOC})"
        )
    return check_arguments(arguments, RESPONSES, _refusal, proxy=proxy, doc=_DOC)
