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
    BOOKKEEPING,
    Check,
    Param,
    SurfaceError,
    _Bad,
    _count,
    _named,
    _plain,
    _privacy,
    _seconds,
    accepted,
    boolean,
    check_arguments,
    did_you_mean,
    either,
    integer,
    json_schema,
    library_only,
    list_of,
    nonempty,
    number,
    obj,
    one_of,
    opaque,
    schema_of,
    steering,
    string,
)

__all__ = ["REQUIRED", "RESPONSES", "check_responses"]

_DOC: Final = "see docs/proxy.md, 'Responses API'"
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
        "content": either(string, list_of(opaque)),  # text, or content parts
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
        "output": either(string, list_of(opaque)),  # text, or content parts
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
    {"anyOf": [schema_of(c) for c in _BY_TYPE.values()]},
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


@_named(
    "string \\| [input item]",
    {"anyOf": [{"type": "string"}, {"type": "array", "items": schema_of(_item), "minItems": 1}]},
)
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
        "parameters": json_schema,
        "strict": boolean,
    },
    required=("type", "name"),
)


@_named(
    "{type: `function`, name: string, description: string, parameters: object (a JSON Schema), strict: boolean}",
    schema_of(_FUNCTION_TOOL),
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


@_named(
    "`none` \\| `auto` \\| `required` \\| {type: `function`, name: string}",
    {"anyOf": [schema_of(one_of("none", "auto", "required")), schema_of(_TOOL_CHOICE)]},
)
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


# ``include`` asks for extra output. A value is accepted where it keeps the retention promise
# (nothing is kept at the provider to serve it), refused with the reason otherwise.
INCLUDE_ACCEPTED: Final = (
    # OpenAI documents it for stateless use (store: false, zero data retention): the caller
    # holds the encrypted reasoning, the provider keeps nothing.
    "reasoning.encrypted_content",
    "message.output_text.logprobs",  # the answer's own token probabilities
    "message.input_image.image_url",  # the caller's own input, handed back
)
_BUILT_IN: Final = (
    "is the output of a built-in tool, and built-in tools are refused: they run at the "
    "provider (searching the web, reading files or vector stores kept there, running code, "
    "driving a computer), beyond what the catalog declares for the route"
)
INCLUDE_REFUSED: Final[Mapping[str, str]] = {
    "web_search_call.action.sources": _BUILT_IN,
    "web_search_call.results": _BUILT_IN,
    "code_interpreter_call.outputs": _BUILT_IN,
    "computer_call_output.output.image_url": _BUILT_IN,
    "file_search_call.results": _BUILT_IN,
}


@_named(
    "[" + " \\| ".join(f"`{v}`" for v in INCLUDE_ACCEPTED) + "]",
    {"type": "array", "items": {"type": "string", "enum": list(INCLUDE_ACCEPTED)}},
)
def _include(value: Any, path: str) -> Any:
    """The accepted extras; a refused one names its reason, an unknown one the closest."""
    items = list_of(string)(value, path)
    for i, item in enumerate(items):
        if item in INCLUDE_ACCEPTED:
            continue
        reason = INCLUDE_REFUSED.get(item)
        if reason is not None:
            raise SurfaceError("include", f"{path}[{i}]: {item!r} {reason}; leave it out")
        raise SurfaceError(
            "include",
            f"{path}[{i}]: not an include value the router accepts (it accepts "
            f"{', '.join(INCLUDE_ACCEPTED)}){did_you_mean(item, INCLUDE_ACCEPTED)} ({_DOC})",
        )
    return items


def _p(name: str, check: Check, handling: str, **where: bool) -> Param:
    return Param(name, check, handling, **where)


_SCRUBBED: Final = "an identifier: removed or pseudonymised per route, as in chat"
_REFUSED: Final = "refused: state kept at the provider"

RESPONSES: Final[Mapping[str, Param]] = {
    p.name: p
    for p in (
        _p("model", nonempty, "resolved in the catalog (display name, alias or slug)"),
        _p("input", _input, "as it came to OpenAI's Responses-API models; elsewhere translated to chat messages (text by the router, anything else by litellm's bridge), then routed like chat"),
        _p("instructions", string, "as it came to OpenAI's Responses-API models; elsewhere the first message, as system"),
        _p("stream", boolean, "Responses events; failover only before the first"),
        _p("user", string, "selects the user's preferences, then " + _SCRUBBED),
        _p("safety_identifier", string, _SCRUBBED),
        _p("prompt_cache_key", string, _SCRUBBED),
        _p("privacy", _privacy, "tightens the policy for this call (checked as preferences)"),
        _p("store", _false_only(STORE_REFUSED), "only false; the router sends store: false to OpenAI and Azure, as it came or translated"),
        _p("background", _false_only(BACKGROUND_REFUSED), "only false"),
        _p("previous_response_id", _stateful(PREVIOUS_REFUSED), _REFUSED),
        _p("conversation", _stateful(CONVERSATION_REFUSED), _REFUSED),
        _p("max_output_tokens", integer, "forwarded (as max_tokens where translated)"),
        _p("temperature", number, "forwarded"),
        _p("top_p", number, "forwarded"),
        _p("tools", list_of(_tool), "function tools, forwarded (as chat function tools where translated); built-in tools are refused"),
        _p("tool_choice", _tool_choice, "forwarded"),
        _p("parallel_tool_calls", boolean, "forwarded"),
        _p("text", _TEXT, "forwarded (its format as response_format where translated)"),
        _p("reasoning", obj({"effort": one_of("minimal", "low", "medium", "high")}), "forwarded (its effort as reasoning_effort where translated)"),
        _p("include", _include, "extras that keep nothing at the provider are accepted: forwarded to OpenAI's Responses-API models, never sent where translated (the chat path has none of them to return); built-in tools' outputs are refused"),
        _p("timeout", _seconds, "the deadline of the whole call, resends and failover included", proxy=False),
        _p("num_retries", _count, "litellm's retries of the whole call: added to max_retries' resends to the same route", proxy=False),
        _p("max_retries", _count, "the openai SDK's resends: how many times a transient failure is resent to the same route (default 2)", proxy=False),
        *BOOKKEEPING,
    )
}  # fmt: skip


REQUIRED: Final = ("model", "input")


def _refusal(name: str, *, proxy: bool) -> str:
    hint = steering(name)
    if hint is not None:
        return hint
    if name in RESPONSES:
        return library_only(name)
    where = "the proxy forwards" if proxy else "policy-router accepts"
    return (
        f"unsupported argument {named(name)}: {where} the OpenAI Responses parameters of its "
        f"accepted surface only; remove it{did_you_mean(name, accepted(RESPONSES, proxy=proxy))}"
        f" ({_DOC})"
    )


def check_responses(arguments: Mapping[str, Any], *, proxy: bool = False) -> dict[str, Any]:
    """``arguments`` normalised if every one is accepted with its shape; else SurfaceError."""
    if arguments.get("input") is None:
        raise SurfaceError(
            "input", f"'input' is required: a string, or a list of input items ({_DOC})"
        )
    return check_arguments(arguments, RESPONSES, _refusal, proxy=proxy, doc=_DOC)
