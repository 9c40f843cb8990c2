"""``POST /v1/chat/completions``: OpenAI's chat completion, routed by the policy.

Every field is checked against the accepted request surface the library uses too
(router/_core/surface.py, the proxy's column): anything outside it is refused (400, naming the
field) before anything is decided. The answer is JSON, or with ``stream`` SSE events ending in ``data: [DONE]``; a failure mid-stream
ends the stream with an error event in OpenAI's shape.

The body's ``model`` (JSON and every chunk) is the name the caller asked for, as LiteLLM's
proxy answers; the route and provider that answered are in ``X-Router-Route`` and
``X-Router-Provider``, for streams too (the head is sent once the first chunk is in hand).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import anyio
import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from router._core.surface import MAX_DEPTH
from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._observe.tracing import remote_parent
from router._pipeline.failover import Answered
from router._server.context import Caller, RouterUser, context, end_user, router_user
from router._server.errors import ApiError, api_error
from router._server.refusal import audit_refusal
from router._server.schemas import ChatCompletionRequest


async def chat_completions(
    request: Request, body: ChatCompletionRequest, caller: Caller, x_router_user: RouterUser = None
) -> Response:
    """A chat completion routed only to backends the policy allows (JSON, or SSE if ``stream``)."""
    try:
        user = end_user(body.user, router_user(request, x_router_user), "user", request)
    except ApiError as exc:
        audit_refusal(request, body.model_dump(include={"model", "user"}), str(exc))
        raise
    privacy = body.privacy.plain() if body.privacy else None
    try:
        with remote_parent(request.headers):  # the request's span joins the caller's trace
            result, answered = await context(request).router.pipeline.route(
                body.model, body.messages, user, privacy, body.stream,
                request.state.request_id, _forwarded(body), proxy=True, raw=False,
            )  # fmt: skip
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        raise invalid_input(exc) from exc
    headers = _route_headers(answered)
    if body.stream:  # the first chunk is in hand: failover has settled, the route is known
        headers |= {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            _sse(result, body.model), media_type="text/event-stream", headers=headers
        )
    return JSONResponse(_plain(result) | {"model": body.model}, headers=headers)


def invalid_input(exc: InvalidPreferences | UnknownProvider | InvalidRequest) -> ApiError:
    """The 400 for a refused argument, naming it in ``param`` (a bad ``privacy`` field: privacy)."""
    error = api_error(exc)
    error.error["param"] = exc.param if isinstance(exc, InvalidRequest) else "privacy"
    return error


def json_body(body: bytes) -> Any:
    """The request body's JSON value (orjson, else Python's reader, which takes what orjson
    refuses, a lone surrogate); not JSON at all is a 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except ValueError:
            raise ApiError(
                400, "the request body is not valid JSON", code="invalid_value"
            ) from None
        except RecursionError:  # orjson stops at 1024 levels; Python's reader runs out of stack
            raise ApiError(
                400,
                f"the request body is nested deeper than {MAX_DEPTH} levels of objects and "
                "lists; flatten it",
                code="invalid_value",
            ) from None


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """The request body's JSON object; anything else is a 400 saying ``what`` it must be."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise ApiError(
            400, f"the request body must be a JSON object ({what})", code="invalid_value"
        )
    return data


def _forwarded(body: ChatCompletionRequest) -> dict[str, Any]:
    """The fields besides model, messages, user, privacy and stream, as the caller sent them."""
    own = {"model", "messages", "user", "privacy", "stream"}
    return body.model_dump(exclude=own, exclude_unset=True)


def _plain(obj: Any, *, exclude_none: bool = False) -> dict[str, Any]:
    return cast(dict[str, Any], obj.model_dump(mode="json", exclude_none=exclude_none))


def _route_headers(answered: Answered) -> dict[str, str]:
    """Where the answer came from; the body's ``model`` is the name the caller asked for."""
    headers = {
        "X-Router-Route": answered.route.key,
        "X-Router-Provider": answered.route.provider.slug,
    }
    if answered.offline:
        headers["X-Router-Offline"] = "true"
    if answered.dropped:
        headers["X-Router-Dropped-Params"] = ", ".join(answered.dropped)
    if answered.overridden:
        headers["X-Router-Overridden-Params"] = ", ".join(answered.overridden)
    return headers


async def _sse(chunks: AsyncIterator[Any], model: str) -> AsyncIterator[bytes]:
    """``data: <chunk>`` events then ``data: [DONE]``; a failure mid-stream ends with an error
    event. Each chunk names ``model`` as the caller asked for it; the usage chunk has no choices."""
    try:
        async for chunk in chunks:
            yield _event(_as_openai_sends(_plain(chunk, exclude_none=True), model))
    except RouterError as exc:
        yield _event({"error": api_error(exc).error})
        return
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, chunks).aclose()
    yield b"data: [DONE]\n\n"


def _as_openai_sends(chunk: dict[str, Any], model: str) -> dict[str, Any]:
    """litellm's chunk as OpenAI sends it: the usage chunk (``include_usage``) has
    ``choices: []`` where litellm gives one empty choice."""
    chunk["model"] = model
    choices = chunk.get("choices") or []
    if "usage" in chunk and all(not c.get("delta") and not c.get("finish_reason") for c in choices):
        chunk["choices"] = []
    return chunk


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
