"""The OpenAPI document, made to say what the proxy accepts: no more, no less.

The four POST endpoints have no FastAPI model: their operations are generated here from the
request surface tables the router checks every request against (``BODIES``: chat,
router/_core/surface.py; Responses, router/_core/responses.py; Messages and count_tokens,
router/_core/messages.py). Each body is closed (``additionalProperties: false``), its fields
are exactly the table's proxy column, each with its shape down to nested objects, and its
required fields are the table's. So a client built from the document, or schemathesis
(tests/server/test_openapi.py), sends what the proxy takes.

FastAPI derives the rest of the document (models, users, health) from their models, which
type what the handlers read and leave some of it loose; ``precise`` tightens it:

- a user id (body, metadata.user_id, ``X-Router-User``, ``?user=``, path) is at most 256
  characters with no control character and no lone surrogate (``check_user``); empty means
  no user;
- ``max_retention`` matches the durations the router parses (a documented subset: ``none``,
  ``unlimited``, or a number and a unit);
- provider names are the catalog's slugs and display names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI

from router._core import messages, responses, surface
from router._core.catalog import Catalog
from router._core.surface import Param, schema_of
from router._pipeline.user_preferences import MAX_USER_LENGTH
from router._server.schemas import ChatCompletion

# No C0/C1 control character: what check_user accepts; empty means no user. Lone surrogates
# are refused too, but a pattern cannot say so (ECMA regex engines such as jsonschema-rs
# refuse a surrogate range), hence the description.
USER: Final = {
    "type": "string",
    "maxLength": MAX_USER_LENGTH,
    "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$",
    "description": "The end user: no control character, no lone surrogate; empty: none.",
}
# The header also holds no comma: a header merged from several values (RFC 9110) is refused.
ONE_USER_HEADER: Final = USER | {
    "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f,]*$",
    "description": "The end user: one, so no comma (a merged header); no control character, "
    "no lone surrogate; empty: none.",
}
RETENTION: Final = {"type": "string", "pattern": "^(none|unlimited|[0-9]{1,6}[smhdwy])$"}
_REF: Final = "#/components/schemas/"
_SSE: Final = {"text/event-stream": {"schema": {"type": "string"}}}
_ROUTE_HEADERS: Final = {
    "X-Router-Route": {"description": "The route that answered.", "schema": {"type": "string"}},
    "X-Router-Provider": {"description": "Its provider.", "schema": {"type": "string"}},
}
_CONFLICTING_USER: Final = (
    "Bad input, named in `param`; `conflicting_user` when the body (or query) and the "
    "X-Router-User header name different users, the header is given twice, or it holds a "
    "comma (a merged header)."
)


@dataclass(frozen=True, slots=True)
class Body:
    """One POST endpoint's operation: its request surface table and what it answers."""

    path: str
    name: str  # the request body's component
    summary: str
    parameters: Mapping[str, Param]
    required: tuple[str, ...]
    answer: dict[str, Any]  # the 200's JSON schema
    streams: bool = True
    anthropic: bool = False  # Anthropic's error shape, and x-api-key

    def operation(self) -> dict[str, Any]:
        ok: dict[str, Any] = {
            "description": self.summary,
            "headers": _ROUTE_HEADERS,
            "content": {"application/json": {"schema": self.answer}},
        }
        if self.streams:
            ok["content"] |= _SSE
        error = {"$ref": _REF + ("AnthropicError" if self.anthropic else "ErrorResponse")}
        errors: dict[str, Any] = {
            str(c): {"description": d, "content": {"application/json": {"schema": error}}}
            for c, d in _ERRORS.items()
        }
        security: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
        if self.anthropic:
            security.append({"AnthropicKey": []})
        return {
            "summary": self.summary,
            "operationId": self.name,
            "security": security,
            "parameters": [
                {
                    "name": "X-Router-User",
                    "in": "header",
                    "required": False,
                    "schema": ONE_USER_HEADER,
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF + self.name}}},
            },
            "responses": {"200": ok, **errors},
        }

    def schema(self) -> dict[str, Any]:
        """The request body: the table's proxy column, closed."""
        properties = {}
        for name, param in self.parameters.items():
            if not param.proxy:
                continue
            schema = _field(name, param)
            properties[name] = schema if name in self.required else _nullable(schema)
        return {
            "title": self.name,
            "type": "object",
            "properties": properties,
            "required": list(self.required),
            "additionalProperties": False,
        }


_ERRORS: Final = {
    400: _CONFLICTING_USER,
    401: "No key, or an unknown one.",
    403: "The policy allows no route for this request.",
    404: "Unknown model.",
    408: "The body did not arrive in time.",
    413: "The body is over the size limit.",
    429: "Rate limited by the last backend tried.",
    502: "A backend failed.",
    503: "No backend available or configured.",
    "default": "Any other error (500).",
}


def _field(name: str, param: Param) -> dict[str, Any]:
    if name == "privacy":  # checked as preferences by the router: their schema
        return {"$ref": _REF + "PrivacyFields", "description": "Tightens the policy for this call."}
    if name == "user":
        return dict(USER)
    schema = schema_of(param.check)
    if name == "metadata" and "user_id" in schema.get("properties", {}):  # Messages' end user
        schema["properties"] = schema["properties"] | {"user_id": _nullable(USER)}
    return schema


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` or null: a null field is left out, as if not given."""
    return {"anyOf": [dict(schema), {"type": "null"}]} if schema else {}


_OBJECT: Final = {"type": "object"}
BODIES: Final = (
    Body(
        "/v1/chat/completions",
        "ChatCompletionRequest",
        "A chat completion routed only to backends the policy allows; with stream=true, SSE "
        "events 'data: <chunk>' then 'data: [DONE]'.",
        surface.PARAMETERS,
        surface.REQUIRED,
        {"$ref": _REF + "ChatCompletion"},
    ),
    Body(
        "/v1/responses",
        "ResponsesRequest",
        "A response (OpenAI's Responses API) routed like chat; with stream=true, its SSE events.",
        responses.RESPONSES,
        responses.REQUIRED,
        _OBJECT,
    ),
    Body(
        "/v1/messages",
        "MessagesRequest",
        "An Anthropic Messages request routed like chat; with stream=true, Anthropic's events.",
        messages.MESSAGES_PARAMETERS,
        messages.REQUIRED,
        _OBJECT,
        anthropic=True,
    ),
    Body(
        "/v1/messages/count_tokens",
        "CountTokensRequest",
        "The input tokens of a Messages request, counted locally for the route the policy "
        "would choose (no provider is contacted).",
        messages.MESSAGES_PARAMETERS,
        messages.REQUIRED_TO_COUNT,
        {
            "type": "object",
            "properties": {"input_tokens": {"type": "integer"}},
            "required": ["input_tokens"],
        },
        streams=False,
        anthropic=True,
    ),
)
_ANTHROPIC_ERROR: Final = {
    "title": "AnthropicError",
    "type": "object",
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            "required": ["type", "message"],
        },
    },
    "required": ["type", "error"],
}


def precise(app: FastAPI, catalog: Catalog) -> Callable[[], dict[str, Any]]:
    """``app.openapi``, replaced: FastAPI's document with the POST endpoints added from their
    tables, tightened once, then cached."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _add_bodies(document)
            _tighten(document, catalog)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def _add_bodies(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemes = components.setdefault("securitySchemes", {})
    schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
    schemes["AnthropicKey"] = {"type": "apiKey", "in": "header", "name": "x-api-key"}
    schemas["AnthropicError"] = _ANTHROPIC_ERROR
    schemas["ChatCompletion"] = ChatCompletion.model_json_schema(ref_template=_REF + "{model}")
    for body in BODIES:
        schemas[body.name] = body.schema()
        document["paths"].setdefault(body.path, {})["post"] = body.operation()


def _tighten(document: dict[str, Any], catalog: Catalog) -> None:
    schemas = document["components"]["schemas"]
    names = sorted({n for p in catalog.providers for n in (p.slug, p.name)})
    privacy = schemas["PrivacyFields"]["properties"]
    privacy["max_retention"]["anyOf"][0] = RETENTION
    for field in ("allow_providers", "deny_providers"):
        privacy[field]["anyOf"][0]["items"] = {"type": "string", "enum": names}
    for parameter in _user_parameters(document):
        nullable = "anyOf" in parameter["schema"] and parameter["in"] == "query"
        schema = ONE_USER_HEADER if parameter["in"] == "header" else USER
        parameter["schema"] = {"anyOf": [schema, {"type": "null"}]} if nullable else dict(schema)
    for operation in _operations(document):
        bad_input = operation.get("responses", {}).get("400")
        if bad_input is not None and _names_a_user(operation):
            bad_input["description"] = _CONFLICTING_USER


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in document["paths"].values():
        yield from operations.values()


def _names_a_user(operation: dict[str, Any]) -> bool:
    return any(p["name"].lower() == "x-router-user" for p in operation.get("parameters", []))


def _user_parameters(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"].lower() in {"user", "x-router-user"}:
                yield parameter
