"""The OpenAPI document, made to say what the proxy accepts: no more, no less.

FastAPI derives the document from the request models, which type what the router reads and
leave the rest loose: any extra chat field, any string as a user, a duration or a provider.
The proxy refuses much of that (400), so a client built from the document, or schemathesis
(tests/server/test_openapi.py), would send requests the document calls valid and get them refused.
``precise`` tightens the document to the accepted surface:

- the chat request is closed (``additionalProperties: false``) and each field is the accepted
  request surface's, with its shape down to nested objects (router/_core/surface.py);
- a user id (body, ``X-Router-User``, ``?user=``, path) is at most 256 characters with no
  control character and no lone surrogate (``check_user``); empty means no user;
- ``max_retention`` matches the durations the router parses (a documented subset: ``none``,
  ``unlimited``, or a number and a unit);
- provider names are the catalog's slugs and display names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from fastapi import FastAPI

from router._core.catalog import Catalog
from router._core.surface import PARAMETERS, schema_of
from router._pipeline.user_preferences import MAX_USER_LENGTH

# Typed by the request model already (messages, user, privacy) or not the surface's to say.
_OWN: Final = frozenset({"model", "stream", "user", "privacy"})
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


def precise(app: FastAPI, catalog: Catalog) -> Callable[[], dict[str, Any]]:
    """``app.openapi``, replaced: FastAPI's document, tightened once, then cached."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _tighten(document, catalog)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi


def _tighten(document: dict[str, Any], catalog: Catalog) -> None:
    schemas = document["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]
    chat["additionalProperties"] = False
    for name, param in PARAMETERS.items():
        if param.proxy and name not in _OWN:
            schema = schema_of(param.check)
            required = name in chat.get("required", ())
            chat["properties"][name] = schema if required else {"anyOf": [schema, {"type": "null"}]}
    chat["properties"]["user"] = {"anyOf": [USER, {"type": "null"}], "description": "The end user."}
    names = sorted({n for p in catalog.providers for n in (p.slug, p.name)})
    privacy = schemas["PrivacyFields"]["properties"]
    privacy["max_retention"]["anyOf"][0] = RETENTION
    for field in ("allow_providers", "deny_providers"):
        privacy[field]["anyOf"][0]["items"] = {"type": "string", "enum": names}
    for parameter in _user_parameters(document):
        nullable = "anyOf" in parameter["schema"] and parameter["in"] == "query"
        schema = ONE_USER_HEADER if parameter["in"] == "header" else USER
        parameter["schema"] = {"anyOf": [schema, {"type": "null"}]} if nullable else dict(schema)


def _user_parameters(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"].lower() in {"user", "x-router-user"}:
                    yield parameter
