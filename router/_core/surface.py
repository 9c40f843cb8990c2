"""The accepted request surface: every argument a chat completion may carry, and its shape.

Deny by default. A call through the library (``PolicyRouter.acompletion``) or the proxy
(``POST /v1/chat/completions``) may carry only the arguments of :data:`PARAMETERS`, each of the
shape declared there down to its nested objects; anything else is refused by name before
anything is decided. litellm accepts hundreds of arguments, and passes unknown ones into
provider bodies and headers, so an argument the router has not reviewed never reaches it.

Numbers must be finite everywhere, messages included (NaN and Infinity are not JSON and reach
providers as non-standard tokens).

An argument passed as ``None`` is absent, whatever its name, as litellm reads it. litellm's own
bookkeeping (:data:`BOOKKEEPING`: cache controls, callback metadata, ``retry_strategy``, ...)
is accepted with its shape and marked ``consumed``: the router drops it before forwarding
(:data:`CONSUMED`); a new name is one more ``consumed(...)`` row. An unknown name is refused
with the closest accepted name suggested.

Pure: no I/O. ``check_request`` returns the arguments normalised (message objects as plain
dicts, ``None`` values dropped) and raises :class:`SurfaceError` naming the argument, the
place inside it, what was expected and what to do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from router._core.names import closest
from router._core.redact import key_at, kind, named

__all__ = [
    "BOOKKEEPING",
    "CONSUMED",
    "HARMLESS_HEADERS",
    "PARAMETERS",
    "REQUIRED",
    "Param",
    "SurfaceError",
    "check_request",
    "consumed",
    "markdown_table",
    "refusal",
    "required",
    "schema_of",
]

_DOC: Final = "see docs/library.md, 'Accepted request surface'"
MAX_DEPTH: Final = 64  # levels of nesting of a request, from its top (JSON objects and lists)
SURROGATE: Final = re.compile("[\ud800-\udfff]")  # a lone surrogate: no UTF-8 encodes it
_CALLERS: Final[frozenset[str]] = frozenset()  # a map's keys are the caller's: by position


class SurfaceError(ValueError):
    """An argument outside the accepted surface; ``param`` is the top-level argument."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class _Bad(Exception):
    """Raised inside a shape check: ``path`` below the argument, what was expected."""

    def __init__(self, path: str, expected: str, found: Any) -> None:
        self.path = path
        self.expected = expected
        self.found = found
        super().__init__(path)


Check = Callable[[Any, str], Any]


def _named(shape: str, schema: Mapping[str, Any] | None = None) -> Callable[[Check], Check]:
    """Give a check the shape it accepts, as docs/ shows it in a table, and as JSON Schema
    (the proxy's OpenAPI document); no schema: any JSON value."""

    def mark(check: Check) -> Check:
        check.shape = shape  # type: ignore[attr-defined]
        check.schema = dict(schema or {})  # type: ignore[attr-defined]
        return check

    return mark


def shape_of(check: Check) -> str:
    return str(getattr(check, "shape", "?"))


def schema_of(check: Check) -> dict[str, Any]:
    """The JSON Schema of what ``check`` accepts."""
    return dict(getattr(check, "schema", {}))


def _describe(value: Any) -> str:
    """The kind of a refused value (type and size): a message never quotes the value."""
    if isinstance(value, _Nested):
        return f"a value nested deeper than {MAX_DEPTH} levels"
    return kind(value)


class _Nested:
    """What a refusal for nesting found: never the value itself (it may be huge)."""


_DEEP: Final = f"at most {MAX_DEPTH} levels of nesting"
_UNICODE: Final = "valid Unicode text (no lone surrogate, such as \\ud800 in JSON)"


def text(name: str, value: object) -> None:
    """A top-level string argument the surface does not check (``model``): valid Unicode, or
    SurfaceError naming it."""
    if isinstance(value, str) and SURROGATE.search(value):
        raise SurfaceError(name, f"{name}: expected {_UNICODE}, got {kind(value)} ({_DOC})")


@_named("number", {"type": "number"})
def number(value: Any, path: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(path, "a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(path, "a finite number", value)
    return value


@_named("integer", {"type": "integer"})
def integer(value: Any, path: str) -> Any:
    """An integer; JSON has one number type, so 16.0 is the integer 16 (as JSON Schema says)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(path, "an integer", value)
    return value


@_named("boolean", {"type": "boolean"})
def boolean(value: Any, path: str) -> Any:
    if not isinstance(value, bool):
        raise _Bad(path, "true or false", value)
    return value


@_named("string", {"type": "string"})
def string(value: Any, path: str) -> Any:
    if not isinstance(value, str):
        raise _Bad(path, "a string", value)
    if not value.isascii() and SURROGATE.search(value):
        raise _Bad(path, _UNICODE, value)
    return value


@_named("string", {"type": "string", "minLength": 1})
def nonempty(value: Any, path: str) -> Any:
    """A name (of a model), or text that must say something: a string, not empty."""
    if not isinstance(value, str) or not value:
        raise _Bad(path, "a string, not empty", value)
    return string(value, path)  # valid Unicode


@_named("any (content)")
def opaque(value: Any, path: str) -> Any:
    """Any JSON value (message content, a JSON schema): its numbers finite, its text valid
    Unicode, its nesting within ``MAX_DEPTH`` levels (counted from the top of the request)."""
    try:
        _sound(value, path.count(".") + path.count("[") + 2)  # the body is level 1
    except _Unsound as bad:
        if bad.expected == _DEEP:  # a path 64 levels long helps no one: name the argument
            raise _Bad(path.split(".", 1)[0].split("[", 1)[0], _DEEP, bad.found) from None
        raise _Bad(path + "".join(reversed(bad.segments)), bad.expected, bad.found) from None
    return value


@_named("object (a JSON Schema)", {"type": "object"})
def json_schema(value: Any, path: str) -> Any:
    """A JSON Schema: an object (its content is not read; only its numbers are checked)."""
    if not isinstance(value, Mapping):
        raise _Bad(path, "an object (a JSON Schema)", value)
    return opaque(value, path)  # its numbers finite, its text valid Unicode, its depth bounded


def one_of(*values: str) -> Check:
    expected = "one of " + ", ".join(map(repr, values))

    @_named(" \\| ".join(f"`{v}`" for v in values), {"type": "string", "enum": list(values)})
    def check(value: Any, path: str) -> Any:
        if value not in values or not isinstance(value, str):
            raise _Bad(path, expected, value)
        return value

    return check


def list_of(item: Check, *, min_items: int = 0) -> Check:
    @_named(
        f"[{shape_of(item)}]", {"type": "array", "items": schema_of(item), "minItems": min_items}
    )
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, list | tuple):
            raise _Bad(path, "a list", value)
        if len(value) < min_items:
            raise _Bad(path, f"a list of at least {min_items} item(s)", value)
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return check


def either(*checks: Check) -> Check:
    @_named(" \\| ".join(shape_of(c) for c in checks), {"anyOf": [schema_of(c) for c in checks]})
    def check(value: Any, path: str) -> Any:
        first: _Bad | None = None
        for candidate in checks:
            try:
                return candidate(value, path)
            except _Bad as bad:
                first = first or bad
                if bad.path != path:  # it matched the outer shape and failed inside: say where
                    raise
        if first is None:  # pragma: no cover - either() is always given checks
            raise _Bad(path, "a value", value)
        raise first

    return check


def obj(fields: Mapping[str, Check], *, required: Iterable[str] = ()) -> Check:
    """An object with exactly these keys (a subset of them); ``None`` values are dropped."""
    needed = tuple(required)

    @_named(
        "{" + ", ".join(f"{k}: {shape_of(c)}" for k, c in fields.items()) + "}",
        {
            "type": "object",
            "properties": {
                k: (schema_of(c) or _NOT_NULL) if k in needed else _nullable(schema_of(c))
                for k, c in fields.items()
            },
            "required": list(needed),
            "additionalProperties": False,
        },
    )
    def check(value: Any, path: str) -> Any:
        value = _plain(value)
        if not isinstance(value, Mapping):
            raise _Bad(path, "an object", value)
        out: dict[str, Any] = {}
        for i, (key, child) in enumerate(value.items()):
            where = f"{path}.{key_at(key, i)}"
            if key not in fields:
                known = ", ".join(fields)
                raise _Bad(where, f"no such field (this object takes {known})", child)
            checked = None if child is None else fields[key](child, where)
            if checked is not None:
                out[key] = checked
        missing = [k for k in needed if k not in out]
        if missing:
            raise _Bad(f"{path}.{missing[0]}", "a value (required)", None)
        return out

    return check


def map_of(key: Check, value_check: Check) -> Check:
    @_named(
        f"{{{shape_of(key)}: {shape_of(value_check)}}}",
        {
            "type": "object",
            "propertyNames": schema_of(key),
            "additionalProperties": schema_of(value_check),
        },
    )
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            raise _Bad(path, "an object", value)
        return {
            key(k, f"{path} key"): value_check(v, f"{path}.{key_at(k, i, _CALLERS)}")
            for i, (k, v) in enumerate(value.items())
        }

    return check


@_named("token id", {"type": "string", "pattern": "^[0-9]+$"})
def token_id(value: Any, path: str) -> Any:
    if not isinstance(value, str) or not value.isdigit() or not value.isascii():
        raise _Bad(path, "a token id (digits)", value)
    return value


_NOT_NULL: Final = {"not": {"type": "null"}}  # a required field of any value: null is absence


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` or null: an object's field may be given as null (it is then left out)."""
    return {"anyOf": [dict(schema), {"type": "null"}]} if schema else {}


def _plain(value: Any) -> Any:
    """A pydantic object (litellm's ``Message`` handed back in a tool loop) as a dict."""
    if isinstance(value, dict | str):  # a Mapping or text: as it is (and no AttributeError)
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, Mapping | str):
        return dump(exclude_none=True)
    return value


class _Unsound(Exception):
    """Raised inside ``_sound``: what was expected and found, and the path back up to where
    the walk began (built only on the way out of a failure, never for a sound value)."""

    def __init__(self, expected: str, found: Any) -> None:
        self.expected = expected
        self.found = found
        self.segments: list[str] = []
        super().__init__(expected)


def _sound(value: Any, depth: int) -> None:
    """One walk of a value the router does not read: finite numbers, valid Unicode in every
    string and key, at most ``MAX_DEPTH`` levels. Builds no path unless something fails."""
    if isinstance(value, str):
        if not value.isascii() and SURROGATE.search(value):
            raise _Unsound(_UNICODE, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Unsound("a finite number", value)
    elif isinstance(value, Mapping | list | tuple):
        if depth > MAX_DEPTH:
            raise _Unsound(_DEEP, _Nested())
        if isinstance(value, Mapping):
            _sound_keys(value, depth)
            return
        for i, child in enumerate(value):
            try:
                _sound(child, depth + 1)
            except _Unsound as bad:
                bad.segments.append(f"[{i}]")
                raise


def _sound_keys(value: Mapping[Any, Any], depth: int) -> None:
    for key, child in value.items():
        try:
            if isinstance(key, str) and not key.isascii() and SURROGATE.search(key):
                raise _Unsound("a key of " + _UNICODE, key)
            _sound(child, depth + 1)
        except _Unsound as bad:
            bad.segments.append("." + key_at(key, list(value).index(key)))
            raise


# --- nested shapes, as OpenAI's chat-completion API defines them --------------------------

_FUNCTION_CALL = obj({"name": string, "arguments": string})
_TOOL_CALL = obj(
    {"id": string, "type": one_of("function"), "function": _FUNCTION_CALL, "index": integer}
)


@_named(
    "empty, or only null values",
    {"type": "object", "additionalProperties": {"type": "null"}},
)
def _empty(value: Any, path: str) -> Any:
    """litellm's bag on a message handed back; dropped when it holds nothing, else refused."""
    if isinstance(value, Mapping) and all(v is None for v in value.values()):
        return None
    if value:
        raise _Bad(
            path, "nothing (litellm's bag of provider-specific fields is not forwarded)", value
        )
    return None


# Everything of a message but its role and name is content (the router does not read it).
_MESSAGE = obj(
    {
        "role": one_of("system", "developer", "user", "assistant", "tool", "function"),
        "content": opaque,
        "name": string,
        "tool_calls": list_of(_TOOL_CALL),
        "tool_call_id": string,
        "function_call": _FUNCTION_CALL,
        "refusal": string,
        "audio": obj({"id": string}),
        "reasoning_content": string,  # litellm's assistant messages, handed back in a tool loop
        "thinking_blocks": opaque,
        "annotations": opaque,
        "cache_control": obj({"type": one_of("ephemeral")}),
        "provider_specific_fields": _empty,
    },
    required=("role",),
)
_FUNCTION = obj(
    {"name": string, "description": string, "parameters": opaque, "strict": boolean},
    required=("name",),
)
# cache_control: Anthropic's prompt caching of tool definitions (litellm forwards it to Claude).
_TOOL_CACHE = obj({"type": one_of("ephemeral"), "ttl": one_of("5m", "1h")}, required=("type",))
_TOOL = obj(
    {"type": one_of("function"), "function": _FUNCTION, "cache_control": _TOOL_CACHE},
    required=("type", "function"),
)
_TOOL_CHOICE = either(
    one_of("none", "auto", "required"),
    obj({"type": one_of("function"), "function": obj({"name": string})}, required=("type",)),
)
_RESPONSE_FORMAT_OBJECT = obj(
    {
        "type": one_of("text", "json_object", "json_schema"),
        "json_schema": obj(
            {"name": string, "description": string, "schema": opaque, "strict": boolean},
            required=("name",),
        ),
    },
    required=("type",),
)


@_named(
    shape_of(_RESPONSE_FORMAT_OBJECT) + " \\| a pydantic model class",
    schema_of(_RESPONSE_FORMAT_OBJECT),
)
def _response_format(value: Any, path: str) -> Any:
    """OpenAI's response_format, or a pydantic model class (or an instance of one): its
    strict JSON schema, named after the class, as litellm and the openai SDK send it."""
    model = value if isinstance(value, type) else type(value)
    schema_fn = getattr(model, "model_json_schema", None)
    if callable(schema_fn) and not isinstance(value, Mapping):
        schema = _strict(schema_fn())
        value = {
            "type": "json_schema",
            "json_schema": {"name": model.__name__, "schema": schema, "strict": True},
        }
    return _RESPONSE_FORMAT_OBJECT(value, path)


def _strict(schema: Any) -> Any:
    """A JSON schema in OpenAI's strict form (as the openai SDK's ``to_strict_json_schema``):
    every object closed (``additionalProperties: false``) and all its properties required;
    a null default left out."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("additionalProperties", False)
        out["required"] = list(out.get("properties", {}))
    return out


_LOCATION = obj(
    {
        "type": one_of("approximate"),
        "approximate": obj(
            {"city": string, "country": string, "region": string, "timezone": string}
        ),
    }
)
_WEB_SEARCH = obj(
    {"search_context_size": one_of("low", "medium", "high"), "user_location": _LOCATION}
)


@_named(
    "{max_retention, allow_flagged_retention, allow_training, allow_providers, deny_providers, require_parameters}"
)
def _privacy(value: Any, path: str) -> Any:
    """Parsed as preferences by the router, which names a bad field itself."""
    return value


@_named("number of seconds, more than 0", {"type": "number", "exclusiveMinimum": 0})
def _seconds(value: Any, path: str) -> Any:
    """Checked, with its own message, where the router reads it (router/_pipeline/dropin.py)."""
    return value


@_named("integer, 0 or more", {"type": "integer", "minimum": 0})
def _count(value: Any, path: str) -> Any:
    """Checked, with its own message, where the router reads it (router/_pipeline/dropin.py)."""
    return value


@_named("`false`", {"const": False})
def _store(value: Any, path: str) -> Any:
    if value is not False:
        raise _Bad(
            path,
            "false: a stored completion outlives the retention the catalog declares for the "
            "route; remove 'store' (the router sends store: false where a provider stores by default)",
            value,
        )
    return value


@_named("object (any JSON)", {"type": "object"})
def _metadata(value: Any, path: str) -> Any:
    """OpenAI's chat metadata (string tags) or litellm's callback metadata (any JSON object,
    nested ones included, as litellm.Router passes it): an object; consumed, never sent."""
    value = _plain(value)
    if not isinstance(value, Mapping):
        raise _Bad(path, "an object", value)
    return opaque(dict(value), path)


@_named("object (any JSON)", {"type": "object"})
def _any_object(value: Any, path: str) -> Any:
    value = _plain(value)
    if not isinstance(value, Mapping):
        raise _Bad(path, "an object", value)
    return opaque(dict(value), path)


# Header names a framework sets on every call that say nothing about the user or the backend
# (dspy and openai-agents send their User-Agent). Consumed: the router's own requests carry
# its own headers. Any other header name is refused (see _HEADERS_HINT).
HARMLESS_HEADERS: Final = frozenset({"user-agent"})


@_named(
    "{" + " \\| ".join(f"`{h}`" for h in sorted(HARMLESS_HEADERS)) + ": string}",
    {
        "type": "object",
        "propertyNames": {"enum": sorted(HARMLESS_HEADERS)},
        "additionalProperties": {"type": "string"},
    },
)
def _harmless_headers(value: Any, path: str) -> Any:
    """Only headers of :data:`HARMLESS_HEADERS` (any case); any other is refused by name."""
    if not isinstance(value, Mapping):
        raise _Bad(path, "an object of header names and values", value)
    for key, header in value.items():
        if not isinstance(key, str) or key.lower() not in HARMLESS_HEADERS:
            name = path.split(".")[0]
            harmless = ", ".join(sorted(HARMLESS_HEADERS))
            raise SurfaceError(
                name,
                f"{name!r} may carry only these headers, which are consumed and never sent: "
                f"{harmless}; any other header would reach the provider unchecked "
                "(identifiers, credentials, provider-side options): remove it, pass each "
                "OpenAI parameter as its own argument, and set credentials with the "
                "provider's usual environment variable (e.g. OPENAI_API_KEY)",
            )
        string(header, f"{path}.{key}")
    return dict(value)


@dataclass(frozen=True, slots=True)
class Param:
    """One accepted argument: its shape, where it is accepted, and what the router does."""

    name: str
    check: Check = field(repr=False)
    handling: str
    library: bool = True
    proxy: bool = True
    consumed: bool = False  # litellm's bookkeeping: read or ignored, never forwarded


def _p(name: str, check: Check, handling: str = "forwarded", **where: bool) -> Param:
    return Param(name, check, handling, **where)


CONSUMED_DOC: Final = "**consumed**, never forwarded: "


def consumed(name: str, check: Check, handling: str, **where: bool) -> Param:
    """litellm's own bookkeeping argument ``name``: accepted with its shape, then consumed by
    the router (``handling`` says what that means), never forwarded to a provider."""
    return Param(name, check, CONSUMED_DOC + handling, consumed=True, **where)


_NEVER_CACHED: Final = (
    "a routed call is never cached (the router tells litellm no-cache and no-store, and an "
    "application's litellm.cache neither answers nor keeps it)"
)
# litellm's bookkeeping, as frameworks pass it (dspy, langchain-litellm, openai-agents,
# smolagents, litellm.Router): extend this tuple, one row per name. Library only (a proxy
# client sends HTTP, not litellm's keywords), but metadata, which is OpenAI's too.
BOOKKEEPING: Final[tuple[Param, ...]] = (
    consumed("metadata", _metadata, "OpenAI's chat metadata only tags stored completions, and nothing is stored (store: false); litellm's metadata feeds its callbacks, which never see a routed call. Any JSON object"),
    consumed("cache", _any_object, _NEVER_CACHED, proxy=False),
    consumed("caching", boolean, _NEVER_CACHED, proxy=False),
    consumed("retry_strategy", string, "resends follow the router's own backoff (see 'Resends')", proxy=False),
    consumed("drop_params", boolean, "the router always has litellm drop what a route does not support, and reports it (see 'Honest parameters'); require_parameters forbids it", proxy=False),
    consumed("base_model", string, "litellm's cost-map hint; the catalog names the model", proxy=False),
    consumed("num_ctx", integer, "Ollama's context size; no catalog route is Ollama", proxy=False),
    consumed("_skip_mcp_handler", boolean, "litellm's MCP tool discovery is not run on a routed call", proxy=False),
    consumed("headers", _harmless_headers, "only harmless headers (HARMLESS_HEADERS in router/_core/surface.py); the router sends its own", proxy=False),
    consumed("extra_headers", _harmless_headers, "as headers", proxy=False),
)  # fmt: skip


_SCRUBBED: Final = "an identifier: removed or pseudonymised per route"

PARAMETERS: Final[Mapping[str, Param]] = {
    p.name: p
    for p in (
        _p("model", nonempty, "resolved in the catalog (display name, alias or slug)"),
        _p("messages", list_of(_MESSAGE, min_items=1), "forwarded; a message 'name' equal to the user id is scrubbed"),
        _p("stream", boolean, "streams; failover only before the first chunk"),
        _p("user", string, "selects the user's preferences, then " + _SCRUBBED),
        _p("safety_identifier", string, _SCRUBBED),
        _p("prompt_cache_key", string, _SCRUBBED),
        _p("privacy", _privacy, "tightens the policy for this call (checked as preferences)"),
        _p("store", _store, "only false; the router sends store: false to OpenAI and Azure"),
        _p("temperature", number),
        _p("top_p", number),
        _p("top_k", integer, "forwarded (providers with top-k)"),
        _p("n", integer),
        _p("max_tokens", integer),
        _p("max_completion_tokens", integer),
        _p("stop", either(string, list_of(string))),
        _p("presence_penalty", number),
        _p("frequency_penalty", number),
        _p("logit_bias", map_of(token_id, number)),
        _p("logprobs", boolean),
        _p("top_logprobs", integer),
        _p("seed", integer),
        _p("tools", list_of(_TOOL)),
        _p("tool_choice", _TOOL_CHOICE),
        _p("parallel_tool_calls", boolean),
        _p("functions", list_of(_FUNCTION), "forwarded (OpenAI's deprecated form of tools)"),
        _p("function_call", either(one_of("none", "auto"), obj({"name": string}))),
        _p("response_format", _response_format, "forwarded; a pydantic model class is sent as its strict JSON schema, as litellm does"),
        _p("stream_options", obj({"include_usage": boolean})),
        _p("reasoning_effort", one_of("minimal", "low", "medium", "high")),
        _p("verbosity", one_of("low", "medium", "high")),
        _p("service_tier", one_of("auto", "default", "flex", "priority")),
        _p("modalities", list_of(one_of("text", "audio"))),
        _p("audio", obj({"voice": string, "format": string})),
        _p("prediction", obj({"type": one_of("content"), "content": opaque}, required=("type",))),
        _p("web_search_options", _WEB_SEARCH),
        _p("thinking", obj({"type": one_of("enabled", "disabled"), "budget_tokens": integer}), "forwarded (Anthropic's extended thinking, translated by litellm)"),
        _p("timeout", _seconds, "the deadline of the whole call, resends and failover included", proxy=False),
        _p("num_retries", _count, "litellm's retries of the whole call: added to max_retries' resends to the same route", proxy=False),
        _p("max_retries", _count, "the openai SDK's resends: how many times a transient failure is resent to the same route (default 2)", proxy=False),
        *BOOKKEEPING,
    )
}  # fmt: skip

# The arguments a chat completion cannot do without.
REQUIRED: Final = ("model", "messages")

# -- litellm.Router's bookkeeping --------------------------------------------------------------
# A litellm.Router that the application built passes its own plumbing to litellm.acompletion
# with every call; with router.install() that call reaches the router. Each is accepted with
# the value the Router sends and consumed here: never forwarded, never audited.


@_named("`false`", {"const": False})
def _off(value: Any, path: str) -> Any:
    if value is not False:
        raise _Bad(path, "false (a litellm.Router flag; the router has no such mode)", value)
    return value


@_named("null", {"type": "null"})
def _no_client(value: Any, path: str) -> Any:
    raise _Bad(path, "null: the router uses its own clients", value)


@_named("any (litellm's own objects)", {})
def _bookkeeping(value: Any, path: str) -> Any:
    return value


_ROUTER_CONSUMED: Final = "consumed (litellm.Router's bookkeeping): never forwarded"
LITELLM_ROUTER: Final[Mapping[str, Param]] = {
    p.name: p
    for p in (
        _p("client", _no_client, "only null (the router uses its own clients)", proxy=False),
        _p("litellm_trace_id", string, _ROUTER_CONSUMED, proxy=False),
        _p("model_info", _bookkeeping, _ROUTER_CONSUMED, proxy=False),
        _p("_context_compaction_state", _bookkeeping, _ROUTER_CONSUMED, proxy=False),
        _p("use_in_pass_through", _off, _ROUTER_CONSUMED + "; only false", proxy=False),
        _p("use_litellm_proxy", _off, _ROUTER_CONSUMED + "; only false", proxy=False),
        _p("use_xai_oauth", _off, _ROUTER_CONSUMED + "; only false", proxy=False),
        _p("merge_reasoning_content_in_choices", _off, _ROUTER_CONSUMED + "; only false", proxy=False),
        _p("allow_client_keepalive_override", _off, _ROUTER_CONSUMED + "; only false", proxy=False),
    )
}  # fmt: skip
# What check_request checks and then leaves out: litellm's bookkeeping (BOOKKEEPING) and
# litellm.Router's.
CONSUMED: Final = frozenset(p.name for p in PARAMETERS.values() if p.consumed) | frozenset(
    LITELLM_ROUTER
)

# Arguments that would choose or reach a backend, or hand the request to an observer: each is
# refused like any unknown argument, with a message that says how to do it instead.
_BACKEND_HINT: Final = (
    "the router chooses the backend from the policy; remove {name} (set provider endpoints "
    "with POLICY_ROUTER_PROVIDERS__<SLUG>__API_BASE and credentials with the provider's usual "
    "environment variable, e.g. OPENAI_API_KEY, instead)"
)
_PROVIDER_HINT: Final = (
    "; to keep to one provider, name it in the model string (a litellm model string such as "
    "'openai/gpt-4.1' restricts the model to that provider) or in privacy={'allow_providers': "
    "[...]}; the policy still decides"
)
_BACKEND: Final = frozenset(
    {
        "api_base", "base_url", "api_key", "api_version", "custom_llm_provider", "azure",
        "organization", "deployment_id", "fallbacks", "context_window_fallback_dict",
        "model_list", "client", "http_client", "mock_response", "mock_tool_calls",
        "mock_timeout", "ssl_verify", "callbacks", "success_callback", "failure_callback",
        "logger_fn", "allowed_openai_params", "additional_drop_params",
    }
)  # fmt: skip
_BACKEND_PREFIXES: Final = ("aws_", "vertex_", "azure_", "litellm_", "watsonx_", "mock_")
_HEADERS_HINT: Final = (
    "{name} would reach the provider unchecked (identifiers, credentials, provider-side "
    "options); remove it and pass each OpenAI parameter as its own argument"
)
_UNCHECKED: Final = frozenset({"extra_body", "extra_headers", "headers", "extra_query"})


_ACCEPTED: Final[Mapping[str, Param]] = {**PARAMETERS, **LITELLM_ROUTER}


def steering(name: str) -> str | None:
    """Why ``name`` is refused if it would choose a backend or reach the provider unchecked."""
    if name == "custom_llm_provider":
        return _BACKEND_HINT.format(name=named(name)) + _PROVIDER_HINT
    if name in _BACKEND or name.startswith(_BACKEND_PREFIXES):
        return _BACKEND_HINT.format(name=named(name))
    if name in _UNCHECKED:
        return _HEADERS_HINT.format(name=named(name))
    return None


def refusal(name: str, *, proxy: bool) -> str:
    """Why ``name`` is not accepted, and what to do instead."""
    hint = steering(name)
    if hint is not None:
        return hint
    if name in PARAMETERS:  # accepted by the library only
        return library_only(name)
    where = "the proxy forwards" if proxy else "policy-router accepts"
    return (
        f"unsupported argument {named(name)}: {where} OpenAI chat-completion parameters and a few "
        f"reviewed extras only; remove it{did_you_mean(name, accepted(PARAMETERS, proxy=proxy))}"
        f" ({_DOC})"
    )


def accepted(parameters: Mapping[str, Param], *, proxy: bool) -> list[str]:
    """The names ``parameters`` accepts where the call came from (library or proxy)."""
    return [n for n, p in parameters.items() if (p.proxy if proxy else p.library)]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'temperature'?"`` for the closest of ``known`` names, or ``""``."""
    close = closest(name, known, n=1, cutoff=0.8)  # a near-miss only: a typo
    return f"; did you mean {close[0]!r}?" if close else ""


def library_only(name: str) -> str:
    return f"{name!r} is not accepted by the proxy: the operator's settings bound every call"


def check_request(arguments: Mapping[str, Any], *, proxy: bool = False) -> dict[str, Any]:
    """``arguments`` normalised if every one is accepted with its shape; else SurfaceError.
    The consumed ones (``CONSUMED``) are checked, then left out."""
    checked = check_arguments(arguments, _ACCEPTED, refusal, proxy=proxy, doc=_DOC)
    if CONSUMED.isdisjoint(checked):
        return checked
    return {k: v for k, v in checked.items() if k not in CONSUMED}


def required(
    arguments: Mapping[str, Any], names: Iterable[str], doc: str = _DOC
) -> SurfaceError | None:
    """The error for the first of ``names`` that ``arguments`` lacks (null is absent), or None."""
    for name in names:
        if arguments.get(name) is None:
            return SurfaceError(name, f"{name!r} is required ({doc})")
    return None


def check_arguments(
    arguments: Mapping[str, Any],
    parameters: Mapping[str, Param],
    refused: Callable[..., str],
    *,
    proxy: bool,
    doc: str,
) -> dict[str, Any]:
    """``arguments`` normalised if each is one of ``parameters`` with its shape (``refused``
    says why a name is not); else SurfaceError. ``doc`` says where the shapes are documented."""
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:  # absent, as litellm reads it (api_key=None, base_url=None, ...)
            continue
        param = parameters.get(name)
        if param is None or not (param.proxy if proxy else param.library):
            raise SurfaceError(name, refused(name, proxy=proxy))
        try:
            out[name] = param.check(value, name)
        except _Bad as bad:
            raise SurfaceError(
                name, f"{bad.path}: expected {bad.expected}, got {_describe(bad.found)} ({doc})"
            ) from None
    return out


def markdown_table(parameters: Mapping[str, Param] = PARAMETERS) -> str:
    """An accepted surface as docs/ shows it (a test keeps the two equal)."""
    rows = [
        "| parameter | shape | library | proxy | what the router does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in parameters.values():
        where = ("yes" if p.library else "no", "yes" if p.proxy else "no")
        rows.append(
            f"| `{p.name}` | {shape_of(p.check)} | {where[0]} | {where[1]} | {p.handling} |"
        )
    return "\n".join(rows) + "\n"
