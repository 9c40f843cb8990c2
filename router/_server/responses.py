"""``POST /v1/responses``: OpenAI's Responses API, routed by the policy like chat.

On the endpoints' one shape (router/_server/endpoint.py), with chat's end user (body ``user``
or ``X-Router-User``, which must agree), ``privacy``, error shape and route headers. The
body's fields are checked against the Responses surface (router/_core/responses.py) and routed
(router/_apis/responses.py): to an OpenAI Responses-API model (o3 pro, GPT 5 Codex) as it
came, ``store: false``, OpenAI's answer relayed as bytes (``model`` naming the model asked for,
in the body or in each event's ``response``); to any other route translated to chat and back.
The answer is OpenAI's ``response`` object, or with ``stream`` its SSE events
(``event: response.created`` ... ``response.output_text.delta`` ... ``response.completed``); a
failure mid-stream ends the stream with an ``error`` event. The route and provider are in
``X-Router-Route`` and ``X-Router-Provider``.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from router._apis.responses import API, respond
from router._errors import RouterError
from router._server.chat import own_fields, settled_user
from router._server.context import Context
from router._server.endpoint import (
    Answer,
    Endpoint,
    json_answer,
    relayed_answer,
    route_headers,
    streamed,
)
from router._server.errors import api_error
from router._upstream import responses_plain, sse
from router._upstream.lean import Raw
from router._upstream.responses_plain import Stream

PATH: Final = "/v1/responses"
_OWN: Final = frozenset({"model", "input", "user", "privacy", "stream"})


class Responses(Endpoint):
    """A response routed only to backends the policy allows (JSON, or SSE if ``stream``)."""

    path = PATH
    api = API
    what = "Content-Type: application/json"

    def user(self, request: Request, fields: dict[str, Any]) -> str | None:
        return settled_user(request, fields.get("user"))

    def check(self, fields: dict[str, Any]) -> None:
        own_fields(fields, ())  # 'input' is the router's to require (its own message)

    async def forward(
        self, ctx: Context, fields: dict[str, Any], user: str | None, request_id: str
    ) -> Any:
        return await respond(
            ctx.router.pipeline,
            fields["model"],
            fields.get("input"),
            user,
            fields.get("privacy"),
            fields.get("stream") or False,
            request_id,
            {k: v for k, v in fields.items() if k not in _OWN},
            proxy=True,
        )

    def respond(self, result: Any, fields: dict[str, Any]) -> Response | Answer:
        routed, answered = result
        model = fields["model"]
        headers = route_headers(answered)
        if isinstance(routed, Raw):  # OpenAI's answer as it came, naming the asked model
            return relayed_answer(routed, model, headers)
        if fields.get("stream"):  # the first event is in hand: failover has settled
            if answered.native:
                relayed = _Relayed(model)
                return streamed(
                    sse.Relay(routed, relayed.render, relayed.failed, catch=RouterError), headers
                )
            events = _Rendered(routed) if isinstance(routed, Stream) else _Events(model)
            return streamed(
                sse.Relay(routed, events.render, events.failed, catch=RouterError), headers
            )
        if not isinstance(routed, dict):  # litellm's bridge's (a plain request's is its JSON)
            routed = routed.model_dump(mode="json")
        body = routed | {"model": model}  # the name the caller asked for
        return json_answer(body, headers)


class _Events:
    """Responses events, numbered (``sequence_number``), each naming ``model`` as the caller
    asked for it; a failure mid-stream ends with an ``error`` event."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.number = 0

    def render(self, event: Any) -> bytes:
        return self.numbered(event.model_dump(mode="json"))

    def numbered(self, data: dict[str, Any]) -> bytes:
        self.number += 1
        return responses_plain.numbered(data, self.number - 1, self.model)

    def failed(self, exc: RouterError) -> bytes:
        return _failure(exc, self.number)


class _Rendered:
    """A plain request's events, rendered and numbered by the router as the bridge's JSON
    (router/_upstream/responses_plain.py ``Stream``), each upstream read's in one write; a
    failure mid-stream ends with an ``error`` event numbered next."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    @staticmethod
    def render(events: bytes) -> bytes:
        return events

    def failed(self, exc: RouterError) -> bytes:
        return _failure(exc, self.stream.sent)


# The events whose ``response`` object names the model (OpenAI's stream, as it came).
_NAMING: Final = tuple(
    f"event: response.{name}\n".encode()
    for name in ("created", "in_progress", "queued", "completed", "incomplete")
)


class _Relayed(_Events):
    """OpenAI's events as they came, counted; a ``response`` object names ``model`` as the
    caller asked for it; a failure mid-stream ends with an ``error`` event numbered next."""

    def render(self, event: bytes) -> bytes:
        self.number += 1
        return sse.naming(event, "response", self.model) if event.startswith(_NAMING) else event


def _failure(exc: RouterError, number: int) -> bytes:
    """The ``error`` event ending a stream, numbered ``number``."""
    error = api_error(exc).error
    data = {"type": "error", "code": error["code"], "message": error["message"], "param": None,
            "sequence_number": number}  # fmt: skip
    return sse.json_event(data, "error")
