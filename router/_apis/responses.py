"""OpenAI's Responses API on the one policy path: checked, translated, routed as chat.

``respond`` checks a Responses request against its accepted surface
(router/_core/responses.py), has litellm's bridge translate it into chat-completion arguments
(router/_upstream/responses.py), and hands those to the router's chat path, which resolves the
model, combines preferences, decides, scrubs, fails over and audits exactly as for chat, with
``api: "responses"`` in every record; the answer is translated back.
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
    from router._upstream import responses
    from router._upstream.loader import imported

    await imported()  # the bridge is litellm's: imported in a worker thread, once
    chat = responses.to_chat(request, stream=stream)
    own = {k: request[k] for k in ("timeout", "num_retries", "max_retries") if k in request}
    messages = chat.pop("messages")
    try:
        result, answered = await pipeline.route(
            model, messages, user, privacy, stream, request_id, chat | own,
            proxy=proxy, raw=False, api=API,
        )  # fmt: skip
    except InvalidRequest as exc:
        exc.param = _AS_ASKED.get(exc.param or "", exc.param)
        raise
    if stream:
        return responses.ResponsesStream(result, request, model), answered
    return responses.to_response(result, request), answered
