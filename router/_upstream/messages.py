"""Anthropic Messages in and out of chat completions, with litellm's own adapter.

A Messages request is translated at the edge into chat-completion arguments
(``LiteLLMAnthropicMessagesAdapter``, the translation litellm's ``/v1/messages`` bridge uses),
routed like any chat completion (the same decision, scrubbing, wire guard, failover and audit),
and the answer translated back: a Messages response, or Anthropic's stream events
(``AnthropicStreamWrapper``). So every catalog route serves this API through the one policy
path, Anthropic's own routes included (their chat call is a Messages call on the wire). A
plain request (text only) is translated, and its text answer rendered, without the adapter,
to the adapter's output (router/_upstream/messages_plain.py), and its stream from the lean
path rendered as the wrapper renders it (router/_upstream/messages_stream.py).

What the router reads itself is taken out before the adapter sees the request: ``metadata``
(its ``user_id`` is the end user, handed to the router as chat's ``user`` and scrubbed per
route), ``thinking`` (forwarded as chat's ``thinking``, which litellm translates per provider;
the adapter would turn it into a ``reasoning_effort`` the catalog may fix), ``model``,
``stream`` and ``privacy``. ``tool_choice.disable_parallel_tool_use``, which the adapter
leaves out, becomes ``parallel_tool_calls: false``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from router._upstream import lean, messages_plain, messages_stream
from router._upstream.setup import _module, imported

_OWN: Final = frozenset({"model", "stream", "privacy", "metadata", "thinking"})
# litellm's tokenizers that it downloads from Hugging Face on first use: never fetched here.
_DOWNLOADED: Final = frozenset({"cohere", "llama2", "llama3"})


@dataclass(frozen=True, slots=True)
class Translated:
    """A Messages request as chat-completion arguments, and what translating back needs."""

    messages: list[dict[str, Any]]
    arguments: dict[str, Any]  # the other chat arguments (max_tokens, tools, stop, ...)
    tool_names: Mapping[str, str] = field(default_factory=dict)  # shortened -> original


def to_chat(request: Mapping[str, Any], model_hint: str) -> Translated:
    """The chat arguments for an already-checked Messages ``request``.

    ``model_hint`` (the catalog model's slug) is what the adapter reads to keep
    ``cache_control`` for models that take it (Claude, Gemini). A plain request (text only,
    router/_upstream/messages_plain.py) is translated there, without litellm."""
    if messages_plain.plain(request):
        return Translated(*messages_plain.to_chat(request))
    return adapted(request, model_hint)


def adapted(request: Mapping[str, Any], model_hint: str) -> Translated:
    """The chat arguments litellm's adapter makes of ``request`` (see ``to_chat``)."""
    body = {k: v for k, v in request.items() if k not in _OWN} | {"model": model_hint}
    translated, tool_names = _adapter().translate_anthropic_to_openai(body)
    arguments = {k: v for k, v in dict(translated).items() if k not in ("model", "messages")}
    if "thinking" in request:
        arguments["thinking"] = request["thinking"]
    choice = request.get("tool_choice") or {}
    if choice.get("disable_parallel_tool_use"):
        arguments["parallel_tool_calls"] = False
    if request.get("stream"):  # OpenAI-format providers send a stream's usage only if asked
        arguments["stream_options"] = {"include_usage": True}
    messages = [_plain_message(m) for m in translated["messages"]]
    return Translated(messages, arguments, tool_names)


# Where litellm keeps its Messages adapter: 1.110 and later, then before 1.110.
_ADAPTER_PACKAGES: Final = (
    "litellm.llms.anthropic.messages.adapters",
    "litellm.llms.anthropic.experimental_pass_through.adapters",
)


def _adapter_module(name: str) -> Any:
    """litellm's ``<adapters>.<name>`` module, wherever this litellm version keeps it."""
    for package in _ADAPTER_PACKAGES:
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name is None or not f"{package}.{name}".startswith(exc.name):
                raise
    raise ModuleNotFoundError(f"litellm has no Anthropic Messages adapter ({name})")


def _adapter() -> Any:
    """litellm's adapter between Anthropic Messages and chat completions."""
    _module()  # litellm's offline environment first, then its import
    return _adapter_module("transformation").LiteLLMAnthropicMessagesAdapter()


def _plain_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A translated message without the adapter's empty fields (``thinking_blocks: None``)."""
    return {k: v for k, v in message.items() if v is not None or k == "content"}


def to_message(response: Any, model: str, translated: Translated) -> dict[str, Any]:
    """A chat answer as a Messages response naming ``model``: litellm's ``ModelResponse``, or
    the lean path's JSON object (asked for a plain request); a text answer is rendered by
    router/_upstream/messages_plain.py, any other by the adapter."""
    if isinstance(response, Mapping):  # the lean path's checked JSON answer (a plain request)
        plain = messages_plain.message_of(response, model)
        if plain is not None:
            return plain
        response = _module().ModelResponse(**response)
    plain = messages_plain.to_message(response, model)
    if plain is not None:
        return plain
    return adapted_message(response, model, translated)


def adapted_message(response: Any, model: str, translated: Translated) -> dict[str, Any]:
    """The Messages response litellm's adapter makes of ``response`` (see ``to_message``)."""
    message = _adapter().translate_openai_response_to_anthropic(
        response, tool_name_mapping=dict(translated.tool_names)
    )
    out = cast(dict[str, Any], _json(message))
    out["model"] = model
    return {k: v for k, v in out.items() if v is not None or k in ("stop_sequence", "stop_reason")}


async def event_batches(
    chunks: AsyncIterator[Any], model: str, translated: Translated
) -> AsyncGenerator[list[dict[str, Any]]]:
    """The chat chunks as Anthropic's stream events (``message_start`` ... ``message_stop``),
    each a plain dict, in lists: the events of one upstream read (the lean path's
    ``lean.Chunks``, rendered by router/_upstream/messages_stream.py without litellm), or one
    event of litellm's ``AnthropicStreamWrapper`` (litellm's chunks, or the rest of a stream
    with a chunk the renderer leaves to it). A failure of ``chunks`` raises from the
    iteration; ``chunks`` is closed however it ends (the routed stream records its attempt)."""
    try:
        first = await anext(chunks, None)
        if not isinstance(first, lean.Chunks):
            rest = chunks if first is None else lean.Started(first, cast(Any, chunks))
            async for event in _wrapped(rest, model, translated, None):
                yield [event]
            return
        render = messages_stream.Render(model)
        batch = [render.start()]
        item: Any = first
        while item is not None:
            for number, chunk in enumerate(item):
                if not render.feed(chunk, batch):  # litellm's wrapper renders the rest
                    if batch:
                        yield batch
                    rest = _litellm_chunks(item[number:], chunks)
                    async for event in _wrapped(rest, model, translated, render):
                        yield [event]
                    return
            if isinstance(item, lean.Ended):  # [DONE] came with it: the end, in the same write
                await anext(chunks, None)  # ends the stream at once, which records its attempt
                yield [*batch, *render.end()]
                return
            if batch:
                yield batch
                batch = []
            item = await anext(chunks, None)
        yield render.end()
    finally:  # the routed stream records its attempt when closed
        await cast(Any, chunks).aclose()


async def _wrapped(
    chunks: AsyncIterator[Any],
    model: str,
    translated: Translated,
    state: messages_stream.Render | None,
) -> AsyncIterator[dict[str, Any]]:
    """litellm's chunks through its wrapper, started in ``state`` if given (the events before
    were rendered by router/_upstream/messages_stream.py)."""
    await imported()  # in a worker thread, if a plain stream's chunk needs it first
    wrapper = _adapter_module("streaming_iterator").AnthropicStreamWrapper(
        completion_stream=cast(Any, chunks),
        model=model,
        tool_name_mapping=dict(translated.tool_names),
    )
    if state is not None:  # message_start was sent; the block, and what is held, as rendered
        wrapper.sent_first_chunk = True
        wrapper._message_id = state.message_id
        wrapper.sent_content_block_start = state.started
        wrapper.sent_content_block_finish = state.finished
        wrapper.holding_stop_reason_chunk = state.held
        wrapper.queued_usage_chunk = state.usage_sent
    async for event in wrapper:
        if isinstance(event, Mapping):
            yield cast(dict[str, Any], _json(event))


async def _litellm_chunks(
    head: Sequence[Mapping[str, Any]], chunks: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """``head``, then the chunks of ``chunks`` (``lean.Chunks``), as litellm's chunks."""
    chunk_type = _module().types.utils.ModelResponseStream
    for chunk in head:
        yield chunk_type(**chunk)
    async for item in chunks:
        for chunk in item:
            yield chunk_type(**chunk)


def _json(value: Any) -> Any:
    """``value`` as plain JSON data (litellm's typed dicts may hold pydantic objects)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def count_tokens(translated: Translated, model: str) -> int:
    """The request's input tokens, counted locally with litellm's tokenizer for ``model`` (a
    route's litellm model string): tiktoken, or the bundled Anthropic tokenizer. No network:
    image URLs are not fetched (a default size is counted) and a tokenizer litellm would
    download (Llama, Cohere) is replaced by tiktoken's default encoding."""
    litellm: Any = _module()
    from litellm.utils import huggingface_tokenizer_kind  # noqa: TID251

    if huggingface_tokenizer_kind(model) in _DOWNLOADED:
        model = ""  # litellm's default: tiktoken, local
    return int(
        litellm.token_counter(
            model=model,
            messages=translated.messages,
            tools=translated.arguments.get("tools"),
            use_default_image_token_count=True,
        )
    )
