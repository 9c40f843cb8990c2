"""``POST /v1/chat/completions`` on the hot path: a plain Starlette route, no FastAPI models.

The body is parsed with orjson and checked against the accepted request surface
(router/_core/surface.py), which the router checks anyway; FastAPI's per-request dependency
and pydantic machinery are skipped. A route on the lean path (router/_upstream/lean.py) answers
the upstream's JSON or SSE bytes, relayed as they are; a route on litellm answers litellm's
objects, rendered as before (router/_server/chat.py).

Behaviour is the FastAPI endpoint's, which stays registered behind this one for the OpenAPI
document: a body the quick checks refuse is validated by its pydantic model, so that every
refusal names the field with the same message; a body they accept is exactly one the model
would have accepted, and the surface check decides the rest.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, Final, cast

import anyio
import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from router._core.surface import SurfaceError, check_request
from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._observe.tracing import remote_parent
from router._server.chat import (
    _as_openai_sends,
    _event,
    _forwarded,
    _plain,
    _route_headers,
    _sse,
    invalid_input,
    json_body,
)
from router._server.context import context, end_user, router_user
from router._server.errors import ApiError, api_error
from router._server.refusal import audit_refusal
from router._server.schemas import ChatCompletionRequest
from router._upstream.lean import Raw, prepended

PATH: Final = "/v1/chat/completions"
_OWN: Final = ("model", "messages", "user", "privacy", "stream")
_SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_DONE: Final = b"data: [DONE]\n\n"
_ROUTE: Final = SimpleNamespace(path=PATH)
_MODEL_FIELD: Final = re.compile(rb'"model"\s*:\s*"([^"\\]*)"')


async def chat_completions(request: Request) -> Response:
    """A chat completion routed only to backends the policy allows (JSON, or SSE if ``stream``)."""
    request.scope["route"] = _ROUTE  # what the access log names (FastAPI's routes set it)
    ctx = context(request)
    ctx.keys.caller(_credentials(request.headers.get("authorization")))
    fields: dict[str, Any] = {}
    try:
        fields = _fields(await request.body())
        header = router_user(request, request.headers.get("x-router-user"))
        user = end_user(fields.pop("user"), header, "user", request)
    except ApiError as exc:
        audit_refusal(request, {"model": fields.get("model")}, str(exc))
        raise
    model, messages, privacy, stream = (fields.pop(k) for k in ("model", "messages", "privacy",
                                                                 "stream"))  # fmt: skip
    try:
        with remote_parent(request.headers):  # the request's span joins the caller's trace
            result, answered = await ctx.router.pipeline.route(
                model, messages, user, privacy, stream, request.state.request_id, fields,
                proxy=True, raw=True,
            )  # fmt: skip
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        raise invalid_input(exc) from exc
    headers = _route_headers(answered)
    if stream:  # the first chunk is in hand: failover has settled, the route is known
        return StreamingResponse(
            _relay(result, model), media_type="text/event-stream", headers=headers | _SSE_HEADERS
        )
    if isinstance(result, Raw):
        body = orjson.loads(result.body) | {"model": model}  # the name the caller asked for
        return Response(orjson.dumps(body), media_type=result.content_type, headers=headers)
    return JSONResponse(_plain(result) | {"model": model}, headers=headers)


def _credentials(authorization: str | None) -> HTTPAuthorizationCredentials | None:
    """FastAPI's HTTPBearer (auto_error off) without the dependency machinery."""
    scheme, _, token = (authorization or "").partition(" ")
    if not authorization or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())


def _fields(body: bytes) -> dict[str, Any]:
    """The request's fields: quickly if they pass, else as the pydantic model says."""
    data = json_body(body)  # a lone surrogate, which orjson refuses: the model says why
    if _quick(data):
        return cast(dict[str, Any], data)
    try:
        model = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors, body=data) from None
    own = {
        "model": model.model,
        "messages": model.messages,
        "user": model.user,
        "privacy": model.privacy.plain() if model.privacy else None,
        "stream": model.stream,
    }
    return own | _forwarded(model)


def _quick(data: Any) -> bool:
    """Whether ``data`` is a body the pydantic model takes as it is; fills the own fields."""
    if not isinstance(data, dict):
        return False
    model, messages = data.get("model"), data.get("messages")
    if not (isinstance(model, str) and model and isinstance(messages, list) and messages):
        return False
    if not all(isinstance(m, dict) for m in messages):
        return False
    data.setdefault("stream", False)
    data.setdefault("user", None)
    data.setdefault("privacy", None)
    if not isinstance(data["stream"], bool) or not isinstance(data["user"], str | None):
        return False
    if data["privacy"] is not None:
        return False  # rare: its model names the bad field (privacy.max_retention, …)
    try:
        check_request({k: v for k, v in data.items() if k not in _OWN}, proxy=True)
    except SurfaceError:
        return False  # the model, then the router's own check, name the field
    return True


async def _relay(chunks: AsyncIterator[Any], model: str) -> AsyncIterator[bytes]:
    """The upstream's SSE events (lean path), each naming ``model`` as the caller asked for it,
    or litellm's chunks rendered."""
    first = await anext(chunks, None)
    if first is not None and not isinstance(first, bytes):
        async for event in _sse(prepended(first, chunks), model):
            yield event
        return
    done = False
    try:
        if first is not None:
            done = first == _DONE
            yield _renamed(first, model)
        async for event in chunks:
            done = event == _DONE
            yield _renamed(event, model)
    except RouterError as exc:
        yield _event({"error": api_error(exc).error})
        return
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, chunks).aclose()
    if not done:
        yield _DONE


def _renamed(event: bytes, model: str) -> bytes:
    """An SSE ``data:`` event of the upstream with the caller's model name (and the usage
    chunk as OpenAI sends it); anything else as it came."""
    head, _, rest = event.partition(b"data: ")
    if head or not rest.startswith(b"{"):
        return event
    plain = _model_replaced(rest, model)
    if plain is not None:
        return b"data: " + plain
    try:
        chunk = orjson.loads(rest)
    except orjson.JSONDecodeError:
        return event
    return _event(_as_openai_sends(chunk, model)) if isinstance(chunk, dict) else event


def _model_replaced(data: bytes, model: str) -> bytes | None:
    """``data`` (a JSON object's bytes) with its top-level ``model`` string replaced by
    ``model``, where the bytes show that field plainly; else None (parse it instead).

    Plainly: ``"model"`` occurs once in ``data`` (so no nested key, no second top-level key
    and no string value is named so), its value is a string without escapes, and every byte
    before it is the object's opening brace and scalar fields without brackets or escapes
    (so it is a key of the top-level object, not text inside a string). The usage chunk goes
    the parsed way, which may have to empty its choices."""
    if b'"usage"' in data or data.count(b'"model"') != 1:
        return None
    found = _MODEL_FIELD.search(data)
    if found is None:
        return None
    before = data[1 : found.start()].rstrip()
    if before and not before.endswith(b","):
        return None
    if b"{" in before or b"[" in before or b"\\" in before or before.count(b'"') % 2:
        return None
    return data[: found.start(1) - 1] + orjson.dumps(model) + data[found.end(1) + 1 :]
