"""``POST /v1/chat/completions``: OpenAI's chat completion, routed by the policy.

The typed fields are the router's to read; the other OpenAI fields (``PASSTHROUGH`` and the
backend kwargs the router knows) are forwarded as given, any other field is refused (400). The
answer is JSON, or with ``stream`` SSE events ending in ``data: [DONE]``; a failure mid-stream
ends the stream with an error event in OpenAI's shape.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, cast

import anyio
from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from router._errors import InvalidPreferences, InvalidRequest, RouterError, UnknownProvider
from router._router import BACKEND_KWARGS
from router._server.context import Caller, RouterUser, context, end_user, router_user
from router._server.errors import ApiError, api_error
from router._server.refusal import audit_refusal
from router._server.schemas import PASSTHROUGH, ChatCompletionRequest, integral

# The JSON type each forwarded OpenAI field must have (OpenAI's API reference): a value of
# another type is refused here (400, audited) instead of failing inside litellm (a 500).
SHAPES: Final[Mapping[str, tuple[type, ...]]] = {
    "functions": (list,), "function_call": (str, dict), "modalities": (list,),
    "audio": (dict,), "prediction": (dict,), "service_tier": (str,), "verbosity": (str,),
    "web_search_options": (dict,), "metadata": (dict,), "safety_identifier": (str,),
    "prompt_cache_key": (str,), "top_k": (int,), "thinking": (dict,),
}  # fmt: skip
_JSON_TYPES: Final = {list: "an array", dict: "an object", str: "a string", int: "an integer"}


async def chat_completions(
    request: Request, body: ChatCompletionRequest, caller: Caller, x_router_user: RouterUser = None
) -> Response:
    """A chat completion routed only to backends the policy allows (JSON, or SSE if ``stream``)."""
    try:
        user = end_user(body.user, router_user(request, x_router_user), "user")
        forwarded = _forwarded(body)
    except ApiError as exc:
        audit_refusal(request, body.model_dump(include={"model", "user"}), str(exc))
        raise
    privacy = body.privacy.plain() if body.privacy else None
    try:
        result = await context(request).router.acompletion(
            body.model,
            body.messages,
            user,
            privacy=privacy,
            stream=body.stream,
            request_id=request.state.request_id,
            **forwarded,
        )
    except (InvalidPreferences, UnknownProvider, InvalidRequest) as exc:
        error = api_error(exc)
        error.error["param"] = _bad_field(exc, body)
        raise error from exc
    if body.stream:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_sse(result), media_type="text/event-stream", headers=headers)
    return JSONResponse(_plain(result), headers=_route_headers(result))


def _forwarded(body: ChatCompletionRequest) -> dict[str, Any]:
    """The OpenAI fields besides model, messages, user, privacy and stream; unknown ones: 400."""
    extra = body.model_extra or {}
    unknown = sorted(extra.keys() - PASSTHROUGH - BACKEND_KWARGS)
    if unknown:
        raise ApiError(
            400,
            f"unsupported field {unknown[0]!r}: the proxy forwards OpenAI chat-completion fields only",
            code="unsupported_field",
            param=unknown[0],
        )
    for name in sorted(extra.keys() & SHAPES.keys()):
        if extra[name] is not None and not _has_shape(extra[name], SHAPES[name]):
            expected = " or ".join(_JSON_TYPES[t] for t in SHAPES[name])
            raise ApiError(
                400,
                f"{name!r} must be {expected} (got {_json_type(extra[name])})",
                code="invalid_value",
                param=name,
            )
    own = {"model", "messages", "user", "privacy", "stream"}
    return body.model_dump(exclude=own, exclude_unset=True, exclude_none=True)


def _has_shape(value: object, shape: tuple[type, ...]) -> bool:
    value = integral(value) if int in shape else value
    return isinstance(value, shape) and not (isinstance(value, bool) and bool not in shape)


def _json_type(value: object) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return _JSON_TYPES.get(type(value), "a number")


def _bad_field(exc: RouterError, body: ChatCompletionRequest) -> str | None:
    if isinstance(exc, InvalidRequest):
        named = sorted(BACKEND_KWARGS & (body.model_extra or {}).keys())
        return named[0] if named else None
    return "privacy"


def _plain(obj: Any, *, exclude_none: bool = False) -> dict[str, Any]:
    return cast(dict[str, Any], obj.model_dump(mode="json", exclude_none=exclude_none))


def _route_headers(response: Any) -> dict[str, str]:
    where = (getattr(response, "_hidden_params", None) or {}).get("policy_router") or {}
    headers = {"X-Router-Route": where.get("route"), "X-Router-Provider": where.get("provider")}
    if where.get("offline"):
        headers["X-Router-Offline"] = "true"
    return {k: str(v) for k, v in headers.items() if v}


async def _sse(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """``data: <chunk>`` events then ``data: [DONE]``; a failure mid-stream ends with an error event."""
    try:
        async for chunk in chunks:
            yield _event(_plain(chunk, exclude_none=True))
    except RouterError as exc:
        yield _event({"error": api_error(exc).error})
        return
    finally:
        with anyio.CancelScope(shield=True):
            await cast(Any, chunks).aclose()
    yield b"data: [DONE]\n\n"


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
