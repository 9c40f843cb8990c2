"""``POST /v1/responses``: OpenAI's Responses API, routed by the policy like chat.

A plain Starlette route, like chat's hot path (router/_server/hot.py): the same auth (the
envelope), end user (body ``user`` or ``X-Router-User``, which must agree), ``privacy``,
error shape and route headers as ``POST /v1/chat/completions``. The body's fields are checked
against the Responses surface (router/_core/responses.py) by the router, which translates the
request to chat and routes it on the chat path (router/_apis/responses.py). The answer is OpenAI's
``response`` object, or with ``stream`` its SSE events (``event: response.created`` ...
``response.output_text.delta`` ... ``response.completed``); a failure mid-stream ends the
stream with an ``error`` event. ``model`` is the name the caller asked for; the route and
provider are in ``X-Router-Route`` and ``X-Router-Provider``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any, Final, cast

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from router._apis.responses import API, respond
from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._server.chat import _route_headers, invalid_input, json_object
from router._server.context import context, end_user, router_user
from router._server.errors import ApiError, api_error
from router._server.refusal import _user as named_user

PATH: Final = "/v1/responses"
_ROUTE: Final = SimpleNamespace(path=PATH)
_SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def create_response(request: Request) -> Response:
    """A response routed only to backends the policy allows (JSON, or SSE if ``stream``)."""
    request.scope["route"] = _ROUTE  # what the access log names
    fields: dict[str, Any] = {}
    stated: object = None
    try:
        fields = json_object(await request.body(), "Content-Type: application/json")
        stated = fields.pop("user", None)
        user = _end_user(request, stated)
        model, privacy = fields.pop("model", None), fields.pop("privacy", None)
        _check_own(model, privacy)
    except ApiError as exc:
        _refused(request, fields.get("model"), stated, str(exc))
        raise
    stream = fields.pop("stream", False)
    try:
        result, answered = await respond(
            context(request).router.pipeline, model, fields.pop("input", None), user, privacy,
            stream, request.state.request_id, fields, proxy=True,
        )  # fmt: skip
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        raise invalid_input(exc) from exc
    headers = _route_headers(answered)
    if stream:  # the first event is in hand: failover has settled, the route is known
        return StreamingResponse(
            _sse(result, model), media_type="text/event-stream", headers=headers | _SSE_HEADERS
        )
    body = result.model_dump(mode="json") | {"model": model}  # the name the caller asked for
    return JSONResponse(body, headers=headers)


def _end_user(request: Request, stated: object) -> str | None:
    """The one end user: the body's ``user`` or ``X-Router-User``, as chat settles it."""
    if stated is not None and not isinstance(stated, str):
        raise ApiError(400, "user: expected a string", code="invalid_value", param="user")
    header = router_user(request, request.headers.get("x-router-user"))
    return end_user(stated, header, "user", request)


def _check_own(model: object, privacy: object) -> None:
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "model: expected the name of a catalog model (display name, alias or slug)",
            code="invalid_value",
            param="model",
        )
    if privacy is not None and not isinstance(privacy, Mapping):
        raise ApiError(
            400,
            "privacy: expected an object of preference fields",
            code="invalid_value",
            param="privacy",
        )


def _refused(request: Request, model: object, stated: object, message: str) -> None:
    """The ``route.refused`` record of a request refused before the router saw it (with the
    user's pseudonym when the body and header name one well-formed user)."""
    context(request).router.pipeline.refused(
        request.state.request_id,
        named_user(stated, request.headers.getlist("x-router-user")),
        model if isinstance(model, str) else None,
        "InvalidRequest",
        message,
        api=API,
    )


async def _sse(events: AsyncIterator[Any], model: str) -> AsyncIterator[bytes]:
    """``event: <type>`` / ``data: <event>`` pairs, numbered, each naming ``model`` as the
    caller asked for it; a failure mid-stream ends with an ``error`` event."""
    number = 0
    try:
        async for event in events:
            data = event.model_dump(mode="json")
            data["sequence_number"] = number
            if isinstance(data.get("response"), dict):
                data["response"]["model"] = model
            yield _event(data)
            number += 1
    except RouterError as exc:
        error = api_error(exc).error
        yield _event(
            {
                "type": "error",
                "code": error["code"],
                "message": error["message"],
                "param": None,
                "sequence_number": number,
            }
        )
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, events).aclose()


def _event(data: Mapping[str, Any]) -> bytes:
    name = str(data["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(data) + b"\n\n"
