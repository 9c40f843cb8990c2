"""OpenAI's Responses API on the one policy path: checked, then sent as it came or translated.

``respond`` checks a Responses request against its accepted surface
(router/_core/responses.py) and routes it by ``Pipeline.route``, which resolves the model,
combines preferences, decides, scrubs, fails over and audits exactly as for chat, with
``api: "responses"`` in every record. An attempt to an OpenAI Responses-API model (o3 pro,
GPT 5 Codex on ``openai/``, on the lean path) sends the request as it came, ``store: false``
(router/_upstream/openai_responses.py): the answer is OpenAI's, as bytes for the proxy to
relay, or for the library as litellm's types (``ResponsesAPIResponse``, its stream events),
what ``litellm.aresponses`` returns for it, ``model`` naming the model asked for. An attempt to any other route has litellm's bridge translate the request into
chat-completion arguments (router/_upstream/responses.py), once, and the answer back
(litellm's ``ResponsesAPIResponse`` or its stream events). A plain request (text only,
router/_upstream/responses_plain.py) is translated without the bridge, and for the proxy its
answer rendered without it too, as the bridge's JSON: a dict, or a stream of dicts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from router._core.responses import check_responses
from router._core.surface import SurfaceError
from router._errors import InvalidRequest
from router._pipeline.dropin import dropin_error
from router._pipeline.failover import Answered
from router._upstream import responses_plain
from router._upstream.loader import imported
from router._upstream.openai_responses import LIMITS, AsItCame

if TYPE_CHECKING:
    from router._core.preferences import Preferences
    from router._pipeline.pipeline import Pipeline

API: Final = "responses"
# A chat argument the router names in an error, as the Responses caller named it.
_AS_ASKED: Final = {
    "messages": "input",
    "max_tokens": "max_output_tokens",
    "reasoning_effort": "reasoning",
    "response_format": "text",
}


async def respond(
    pipeline: Pipeline,
    model: str,
    input: Any,  # litellm.aresponses' own name
    user: str | None,
    privacy: Preferences | Mapping[str, Any] | None,
    stream: bool,
    request_id: str | None,
    kwargs: Mapping[str, Any],
    *,
    proxy: bool,
) -> tuple[Any, Answered]:
    """A Responses answer (litellm's ``ResponsesAPIResponse``, or its stream events) and the
    route that gave it. Raises what ``acompletion`` raises."""
    request_id = request_id or uuid.uuid4().hex
    try:
        request = check_responses({"input": input, "stream": stream, **kwargs}, proxy=proxy)
    except SurfaceError as exc:
        pipeline.refused(request_id, user, model, "InvalidRequest", str(exc), api=API)
        raise dropin_error(InvalidRequest(str(exc), param=exc.param), model) from None
    asked = AsItCame(request, renders=proxy)
    own: dict[str, Any] = {k: request[k] for k in LIMITS if k in request}
    try:
        result, answered = await pipeline.route(
            model, (), user, privacy, stream, request_id, own,
            proxy=proxy, raw=proxy, api=API, native=asked,
        )  # fmt: skip
    except InvalidRequest as exc:
        exc.param = _AS_ASKED.get(exc.param or "", exc.param)
        raise
    if answered.native and proxy:  # as OpenAI sent it: bytes to relay
        return result, answered
    if asked.plain:  # the proxy's plain request: rendered here, as litellm's bridge would
        if stream:
            return responses_plain.Stream(result, request, model), answered
        if isinstance(result, dict):  # the lean path's JSON answer
            rendered = responses_plain.response_of(result)
            if rendered is not None:
                return rendered, answered
            result = (await imported()).ModelResponse(**result)  # any other: the bridge's
    from router._upstream import responses  # litellm's types, and its bridge

    if answered.native:  # as OpenAI sent it, as litellm's types
        if stream:
            return responses.TypedEvents(result, model), answered
        return responses.typed_response(result, model, answered.plain()), answered
    if stream:
        return responses.ResponsesStream(result, request, model), answered
    return responses.to_response(result, request), answered
