"""``POST /v1/chat/completions``: OpenAI's chat completion, routed by the policy.

The one chat handler, on the endpoints' one shape (router/_server/endpoint.py). The body is
parsed with orjson; the fields the handler reads itself (``model``, ``messages``, ``user``,
``stream``, ``privacy``) are checked here (``own_fields``), and every field against the
accepted request surface (router/_core/surface.py, the proxy's column) by the router, which
refuses anything outside it (400, naming the field) before anything is decided.

A route on the lean path (router/_upstream/lean.py) answers the upstream's JSON, or its SSE
events' data, relayed as they came but for ``model``; a route on litellm answers litellm's
objects, rendered. With ``stream`` the events end in ``data: [DONE]``; a failure mid-stream
ends the stream with an error event in OpenAI's shape.

The body's ``model`` (JSON and every chunk) is the name the caller asked for, as LiteLLM's
proxy answers; the route and provider that answered are in ``X-Router-Route`` and
``X-Router-Provider``, for streams too (the head is sent once the first chunk is in hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from router._core.surface import REQUIRED, required
from router._errors import RouterError
from router._server.context import Context, end_user, router_user
from router._server.endpoint import (
    Answer,
    Endpoint,
    json_answer,
    model_named,
    model_span,
    relayed_answer,
    route_headers,
    streamed,
)
from router._server.errors import ApiError, api_error, key_part
from router._server.schemas import PrivacyFields
from router._upstream import sse
from router._upstream.lean import Events, Raw

PATH: Final = "/v1/chat/completions"


class Chat(Endpoint):
    """A chat completion routed only to backends the policy allows (JSON, or SSE if ``stream``)."""

    path = PATH
    api = "chat"
    what = "Content-Type: application/json"

    def user(self, request: Request, fields: dict[str, Any]) -> str | None:
        return settled_user(request, fields.get("user"))

    def check(self, fields: dict[str, Any]) -> None:
        own_fields(fields, REQUIRED)

    async def forward(
        self, ctx: Context, fields: dict[str, Any], user: str | None, request_id: str
    ) -> Any:
        arguments = {k: v for k, v in fields.items() if k not in _OWN}
        return await ctx.router.pipeline.route(
            fields["model"],
            fields["messages"],
            user,
            fields.get("privacy"),
            fields.get("stream") or False,
            request_id,
            arguments,
            proxy=True,
            raw=True,
        )

    def respond(self, result: Any, fields: dict[str, Any]) -> Response | Answer:
        routed, answered = result
        model = fields["model"]
        headers = route_headers(answered)
        if fields.get("stream"):  # the first chunk is in hand: failover has settled
            return streamed(sse.Relay(routed, _ChunkEvents(model), _error_event,
                                      catch=RouterError, last=sse.DONE), headers)  # fmt: skip
        if isinstance(routed, Raw):
            return relayed_answer(routed, model, headers)  # naming the model the caller asked for
        return json_answer(_plain(routed) | {"model": model}, headers)


_OWN: Final = frozenset({"model", "messages", "user", "privacy", "stream"})


def settled_user(request: Request, stated: object) -> str | None:
    """The one end user: the body's ``user`` or ``X-Router-User`` (two different ones: 400)."""
    if stated is not None and not isinstance(stated, str):
        raise ApiError(400, "user: expected a string", code="invalid_value", param="user")
    header = router_user(request, request.headers.get("x-router-user"))
    return end_user(stated, header, "user", request)


def own_fields(fields: dict[str, Any], needed: tuple[str, ...]) -> None:
    """What the handler reads itself, before the router checks the rest: ``needed`` fields
    given (the surface table's required ones), ``model`` a name, ``stream`` a boolean,
    ``privacy`` preference fields (made plain in ``fields``; the router then reads them)."""
    model, stream, privacy = fields.get("model"), fields.get("stream"), fields.get("privacy")
    if not isinstance(model, str) or not model:
        raise _invalid(
            "model", "model: expected the name of a catalog model (display name, alias or slug)"
        )
    missing = required(fields, needed)
    if missing is not None:
        raise _invalid(missing.param, str(missing))
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "stream: expected true or false")
    if privacy is not None:
        fields["privacy"] = _preferences(privacy)


def _preferences(privacy: object) -> dict[str, Any]:
    """``privacy`` as preference fields (their declaration: router/_server/schemas.py), or
    a 400 naming the field at fault (``privacy.max_retention``)."""
    if not isinstance(privacy, Mapping):
        raise _invalid("privacy", "privacy: expected an object of preference fields")
    try:
        return PrivacyFields.model_validate(privacy).plain()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["privacy", *map(key_part, first["loc"])])  # a caller's key: {key}
        message = str(first["msg"]).removeprefix("Value error, ")
        raise _invalid(where, f"{where}: {message}") from None


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, code="invalid_value", param=param)


def _plain(obj: Any, *, exclude_none: bool = False) -> dict[str, Any]:
    return cast(dict[str, Any], obj.model_dump(mode="json", exclude_none=exclude_none))


class _ChunkEvents:
    """One stream's chunks as events naming ``model`` as the caller asked for it: the
    upstream's data (lean path: the events of one read, relayed together, each ``_renamed``)
    or litellm's chunks, rendered.

    An OpenAI stream's chunks all begin with the same bytes up to the model's value (``id``,
    ``object``, ``created``, ``model``): once a chunk's ``model`` was found plainly
    (``_model_span``), a later chunk that begins with those same bytes, names ``"model"`` no
    other time, has no ``"usage"`` and no line break is renamed by swapping that beginning.
    That is what ``_renamed`` gives it (the same bytes before the field pass the same checks),
    without searching again; any other chunk goes through ``_renamed``."""

    __slots__ = ("_event_head", "_head", "_model", "_name")

    def __init__(self, model: str) -> None:
        self._model = model
        self._name = orjson.dumps(model)
        self._head: bytes | None = None  # the upstream's bytes up to the model's value, its end
        self._event_head = b""  # "data: " and those bytes naming the caller's model instead

    def __call__(self, chunk: Any) -> bytes:
        if isinstance(chunk, Events):
            if len(chunk) == 1:
                return self.event(chunk[0])
            return b"".join([self.event(data) for data in chunk])
        return sse.json_event(_as_openai_sends(_plain(chunk, exclude_none=True), self._model))

    def event(self, data: bytes) -> bytes:
        """The event of one upstream data, as ``_renamed(data, model)``."""
        head = self._head
        if (  # find, not ``in`` (router/_upstream/sse.py); a slice, not startswith, whose
            head is not None  # argument is parsed anew at every call
            and data[: len(head)] == head
            and data.count(b'"model"') == 1
            and data.find(b'"usage"') < 0
            and data.find(b"\n") < 0
            and data.find(b"\r") < 0
        ):
            return self._event_head + data[len(head) :] + b"\n\n"
        span = _model_span(data) if data[:1] == b"{" else None
        if span is None:
            return _renamed(data, self._model)
        start, end = span
        self._head, self._event_head = data[:end], b"data: " + data[:start] + self._name
        return sse.encode(data[:start] + self._name + data[end:])


def _error_event(exc: RouterError) -> bytes:
    return sse.json_event({"error": api_error(exc).error})


def _as_openai_sends(chunk: dict[str, Any], model: str) -> dict[str, Any]:
    """litellm's chunk as OpenAI sends it: the usage chunk (``include_usage``) has
    ``choices: []`` where litellm gives one empty choice."""
    chunk["model"] = model
    choices = chunk.get("choices") or []
    if "usage" in chunk and all(not c.get("delta") and not c.get("finish_reason") for c in choices):
        chunk["choices"] = []
    return chunk


def _renamed(data: bytes, model: str) -> bytes:
    """The event of an upstream's SSE data with the caller's model name (and the usage chunk
    as OpenAI sends it); data that is no JSON object goes as it came."""
    if not data.startswith(b"{"):
        return sse.encode(data)
    plain = _model_replaced(data, model)
    if plain is not None:
        return sse.encode(plain)
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return sse.encode(data)
    return (
        sse.json_event(_as_openai_sends(chunk, model))
        if isinstance(chunk, dict)
        else sse.encode(data)
    )


def _model_replaced(data: bytes, model: str) -> bytes | None:
    """``data`` with its top-level ``model`` replaced in the bytes (``model_named``); the
    usage chunk goes the parsed way, which may have to empty its choices. (``find``, not
    ``in``: see router/_upstream/sse.py.)"""
    return None if data.find(b'"usage"') >= 0 else model_named(data, model)


def _model_span(data: bytes) -> tuple[int, int] | None:
    """Where the top-level ``model`` string's value lies in ``data`` (``model_span``); the
    usage chunk goes the parsed way."""
    return None if data.find(b'"usage"') >= 0 else model_span(data)
