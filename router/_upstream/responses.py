"""OpenAI's Responses API, served on the chat path with litellm's own translation.

A checked Responses request becomes chat-completion arguments (``to_chat``:
``LiteLLMCompletionResponsesConfig``, the bridge litellm itself uses for providers without a
Responses API), which the router decides, scrubs, forwards and audits like any chat call; the
answer comes back as litellm's ``ResponsesAPIResponse`` (``to_response``), a stream as
litellm's Responses events (``ResponsesStream``). So every route of every provider serves this
API through the one policy path, and a route litellm bridges to OpenAI's own Responses API
(o3 pro, GPT 5 Codex) gets there from chat, with ``store: false``.

Nothing of a call stays behind: litellm's bridge remembers the tool calls of each response in
a process-wide cache (to rebuild a call a later request left out); the router requires every
call in ``input`` with its output instead, and forgets each call once the response is built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final

from router._upstream.setup import _module

# Responses fields litellm's bridge reads from the request; the router's own (privacy, the
# limits) and the identifiers it places itself stay out of it.
_TRANSLATED: Final = frozenset(
    {
        "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice",
        "parallel_tool_calls", "text", "reasoning", "safety_identifier",
    }
)  # fmt: skip
# What the bridge adds that the router owns (model, stream) or never sends.
_DROPPED: Final = ("model", "custom_llm_provider", "extra_headers", "stream", "user")


def _config() -> Any:
    _module()  # litellm's environment first, then its import
    from litellm.responses.litellm_completion_transformation.transformation import (  # noqa: TID251
        LiteLLMCompletionResponsesConfig,
    )

    return LiteLLMCompletionResponsesConfig


def to_chat(request: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    """Chat-completion arguments (``messages`` and the rest, without ``model`` and ``user``)
    for a Responses request already checked against router/_core/responses.py."""
    chat: dict[str, Any] = _config().transform_responses_api_request_to_chat_completion_request(
        model="",  # the route's, later; the bridge reads it only for what the surface refuses
        input=request["input"],
        responses_api_request={k: v for k, v in request.items() if k in _TRANSLATED},
        custom_llm_provider=None,
        stream=stream,
        metadata=request.get("metadata"),
    )
    for name in _DROPPED:
        chat.pop(name, None)
    if "prompt_cache_key" in request:  # chat's field too; the bridge leaves it out
        chat["prompt_cache_key"] = request["prompt_cache_key"]
    return chat


def to_response(completion: Any, request: Mapping[str, Any]) -> Any:
    """litellm's ``ResponsesAPIResponse`` for a chat completion; ``_hidden_params`` kept."""
    config = _config()
    response = config.transform_chat_completion_response_to_responses_api_response(
        request_input=request["input"],
        responses_api_request=_as_asked(request),
        chat_completion_response=completion,
    )
    _forget_calls(_call_ids(response.output))
    from litellm.responses.utils import ResponsesAPIRequestUtils  # noqa: TID251

    # A ``resp_`` id, as litellm.aresponses and the stream's events give it.
    identified = ResponsesAPIRequestUtils._update_responses_api_response_id_with_model_id(
        responses_api_response=response, custom_llm_provider=None, litellm_metadata={}
    )
    return _unstored(identified)


def _as_asked(request: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k in _TRANSLATED}


def _unstored(response: Any) -> Any:
    """The response says what happened: nothing was stored (litellm's default says it was)."""
    response.store = False
    return response


def _call_ids(output: Iterable[Any] | None) -> list[str]:
    return [
        str(item.call_id)
        for item in output or ()
        if getattr(item, "type", None) == "function_call" and getattr(item, "call_id", None)
    ]


def _forget_calls(ids: Iterable[str]) -> None:
    """Drop the tool calls litellm's bridge cached for later requests (see the docstring)."""
    from litellm.responses.litellm_completion_transformation.transformation import (  # noqa: TID251
        TOOL_CALLS_CACHE,
    )

    cache: Any = TOOL_CALLS_CACHE
    for call_id in ids:
        cache.delete_cache(call_id)


class _Chunks:
    """A routed stream as litellm's bridge reads a stream: ``__anext__`` and ``logging_obj``."""

    logging_obj = None  # no litellm logging for a routed call

    def __init__(self, chunks: AsyncIterator[Any]) -> None:
        self._chunks = chunks

    async def __anext__(self) -> Any:
        return await anext(self._chunks)


class ResponsesStream:
    """litellm's Responses stream events for a routed chat stream (``.answered``: the route).

    The router's own: ``aclose()`` closes the chat stream (its attempt is recorded then),
    ``_hidden_params["policy_router"]`` says where it came from, as on a chat stream."""

    def __init__(self, chunks: Any, request: Mapping[str, Any], model: str) -> None:
        from litellm.responses.litellm_completion_transformation import (  # noqa: TID251
            streaming_iterator,
        )

        bridge: Any = streaming_iterator.LiteLLMCompletionStreamingIterator

        self._chunks = chunks
        self.answered = getattr(chunks, "answered", None)
        self._hidden_params = dict(getattr(chunks, "_hidden_params", {}))
        self._events = bridge(
            model=model,
            litellm_custom_stream_wrapper=_Chunks(chunks),
            request_input=request["input"],
            responses_api_request=_as_asked(request),
            custom_llm_provider=None,
        )

    def __aiter__(self) -> ResponsesStream:
        return self

    async def __anext__(self) -> Any:
        event = await self._events.__anext__()
        response = getattr(event, "response", None)
        if response is not None:
            _unstored(response)
            if getattr(event, "type", None) == "response.completed":
                _forget_calls(_call_ids(response.output))
        return event

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()


# --- answers sent as they came (router/_upstream/openai_responses.py), as litellm types ------


def typed_response(answer: Mapping[str, Any], model: str, where: Mapping[str, Any]) -> Any:
    """litellm's ``ResponsesAPIResponse`` for OpenAI's own answer (what ``litellm.aresponses``
    returns for it), ``model`` the name asked for, ``_hidden_params["policy_router"]`` where it
    came from."""
    _module()
    from litellm.types.llms.openai import ResponsesAPIResponse  # noqa: TID251
    from pydantic import ValidationError

    data = dict(answer) | {"model": model}
    try:
        response = ResponsesAPIResponse.model_validate(data)
    except ValidationError:  # as litellm does for an answer its types do not cover
        response = ResponsesAPIResponse.model_construct(**data)
    response._hidden_params["policy_router"] = dict(where)
    return response


def _typed_event(event: dict[str, Any]) -> Any:
    """litellm's Responses stream event for one of OpenAI's, as litellm's client makes it."""
    from litellm.llms.openai.responses.transformation import (  # noqa: TID251
        OpenAIResponsesAPIConfig,
    )
    from pydantic import ValidationError

    kind = OpenAIResponsesAPIConfig.get_event_model_class(event_type=str(event.get("type")))
    try:
        return kind(**event)
    except ValidationError:
        return kind.model_construct(**event)


class TypedEvents:
    """litellm's Responses stream events for a stream sent as it came (``.answered``: the
    route), each ``response`` naming ``model`` as the caller asked for it; ``aclose()`` closes
    the routed stream (its attempt is recorded then)."""

    def __init__(self, events: Any, model: str) -> None:
        _module()
        self._events = events
        self.model = model
        self.answered = getattr(events, "answered", None)
        self._hidden_params = dict(getattr(events, "_hidden_params", {}))

    def __aiter__(self) -> TypedEvents:
        return self

    async def __anext__(self) -> Any:
        event = await anext(self._events)
        response = event.get("response")
        if isinstance(response, dict):
            event["response"] = response | {"model": self.model}
        return _typed_event(event)

    async def aclose(self) -> None:
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()
