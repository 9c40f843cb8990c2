"""Plain Messages requests translated to chat and back here, without litellm's adapter.

Most Messages traffic to a chat route is text: a conversation of user and assistant turns,
a system prompt, ``max_tokens`` and the sampling fields. For such a request (``plain``) the
chat arguments are built here (``to_chat``), and a text answer rendered back as a Messages
response (``to_message``), with what litellm's ``LiteLLMAnthropicMessagesAdapter`` makes of
the same request and answer (tests/upstream/test_messages_plain.py holds the two equal, by
property). Anything else (tools, images, documents, thinking, ``cache_control``, a field of a
block this module does not know, an answer with tool calls, reasoning, a refusal, cached
tokens) returns ``None``, and router/_upstream/messages.py takes litellm's adapter as before.

Pure: no I/O, no litellm import (an answer is read by attribute, as litellm's types hold it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# The fields of a plain request: what the router reads itself, and what maps exactly.
_OWN: Final = frozenset({"model", "stream", "privacy", "metadata"})
_COPIED: Final = frozenset({"max_tokens", "temperature", "top_p", "top_k"})
_FIELDS: Final = _OWN | _COPIED | {"messages", "system", "stop_sequences"}
_STOP_REASON: Final = {"stop": "end_turn", "length": "max_tokens"}
# Usage fields the adapter reads for cached or server-tool tokens: a plain answer has none.
_CACHED: Final = (
    "cache_read_input_tokens",
    "_cache_read_input_tokens",
    "cache_creation_input_tokens",
    "_cache_creation_input_tokens",
    "server_tool_use",
)
# The fields of an OpenAI answer's message and usage that a text answer may carry (empty).
_MESSAGE_FIELDS: Final = frozenset({"role", "content", "refusal", "annotations", "tool_calls"})
_USAGE_FIELDS: Final = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
     "completion_tokens_details"}
)  # fmt: skip
_PROMPT_DETAILS: Final = frozenset({"cached_tokens", "audio_tokens"})
_CACHED_DETAILS: Final = (
    "cached_tokens",
    "cache_creation_tokens",
    "cache_write_tokens",
    "web_search_requests",
)


def plain(request: Mapping[str, Any]) -> bool:
    """Whether a checked Messages ``request`` is text only, in fields that map exactly."""
    if not request.keys() <= _FIELDS:
        return False
    system = request.get("system")
    if system is not None and not _text(system):
        return False
    messages = request.get("messages")
    return isinstance(messages, list) and all(_turn(m) for m in messages)


def _turn(message: Any) -> bool:
    return (
        isinstance(message, Mapping)
        and message.keys() <= {"role", "content"}
        and message.get("role") in ("user", "assistant")
        and _text(message.get("content"))
    )


def _text(content: Any) -> bool:
    """A string, or a list of text blocks with nothing but ``type`` and ``text``."""
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(b, Mapping)
        and b.keys() <= {"type", "text"}
        and b.get("type") == "text"
        and isinstance(b.get("text", ""), str)
        for b in content
    )


def to_chat(request: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The chat messages and other arguments of a ``plain`` request, as the adapter makes
    them: an empty user turn is left out, an assistant's text blocks are joined into one
    string, an empty system prompt is left out, and empty ``stop_sequences`` too."""
    messages: list[dict[str, Any]] = []
    system = request.get("system")
    if system:
        content = system if isinstance(system, str) else _blocks(system)
        messages.append({"role": "system", "content": content})
    for message in request["messages"]:
        turn = _chat_turn(message)
        if turn is not None:
            messages.append(turn)
    arguments = {k: v for k, v in request.items() if k in _COPIED}
    stop = request.get("stop_sequences")
    if stop:
        arguments["stop"] = stop
    if request.get("stream"):  # OpenAI-format providers send a stream's usage only if asked
        arguments["stream_options"] = {"include_usage": True}
    return messages, arguments


def _chat_turn(message: Mapping[str, Any]) -> dict[str, Any] | None:
    role, content = message["role"], message["content"]
    if role == "user":
        if isinstance(content, str):
            return {"role": "user", "content": content} if content else None
        return {"role": "user", "content": _blocks(content)} if content else None
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    text = "".join(b.get("text", "") for b in content)
    return {"role": "assistant", "content": text} if content else None


def _blocks(blocks: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": b.get("text", "")} for b in blocks]


def to_message(response: Any, model: str) -> dict[str, Any] | None:
    """litellm's chat ``ModelResponse`` with one text answer as a Messages response naming
    ``model``, as the adapter renders it; ``None`` for any other answer."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or len(choices) != 1:
        return None
    choice = choices[0]
    stop_reason = _STOP_REASON.get(getattr(choice, "finish_reason", None) or "stop")
    message: Any = getattr(choice, "message", None)
    usage = _usage(getattr(response, "usage", None))
    if stop_reason is None or usage is None or not _text_answer(message):
        return None
    return _message(response.id, model, message.content, stop_reason, usage)


def message_of(answer: Mapping[str, Any], model: str) -> dict[str, Any] | None:
    """A chat answer's JSON object with one text answer, as ``to_message`` renders it once
    litellm has read it (``ModelResponse``); ``None`` for any other answer, or one litellm
    would read otherwise (another finish reason, usage fields it maps, no id)."""
    choices, answer_id = answer.get("choices"), answer.get("id")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(answer_id, str):
        return None
    choice = choices[0]
    if not isinstance(choice, Mapping):
        return None
    message: Any = choice.get("message")
    finish = choice.get("finish_reason")
    stop_reason = _STOP_REASON.get(finish) if isinstance(finish, str) else None
    usage = _usage_of(answer.get("usage"))
    if stop_reason is None or usage is None or not _text_message(message):
        return None
    return _message(answer_id, model, message.get("content"), stop_reason, usage)


def _message(
    message_id: str, model: str, text: str | None, stop_reason: str, usage: dict[str, Any]
) -> dict[str, Any]:
    """A Messages response of one text answer (or none), in the adapter's key order."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "stop_sequence": None,
        "usage": usage,
        "content": [] if text is None else [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
    }


def _text_message(message: Any) -> bool:
    """A message of text (or none), in the fields OpenAI sends with it, all empty."""
    return (
        isinstance(message, Mapping)
        and message.keys() <= _MESSAGE_FIELDS
        and message.get("role") == "assistant"
        and isinstance(message.get("content"), str | None)
        and not any(message.get(name) for name in _MESSAGE_FIELDS - {"role", "content"})
    )


def _usage_of(usage: Any) -> dict[str, int] | None:
    """Anthropic's usage of a chat answer's JSON usage, in the fields OpenAI sends."""
    if not isinstance(usage, Mapping) or not usage.keys() <= _USAGE_FIELDS:
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    details = usage.get("prompt_tokens_details") or {}
    if type(prompt) is not int or type(completion) is not int or not isinstance(details, Mapping):
        return None
    if not details.keys() <= _PROMPT_DETAILS or any(details.get(n) for n in _CACHED_DETAILS):
        return None
    return {"input_tokens": max(prompt, 0), "output_tokens": completion}


def _text_answer(message: Any) -> bool:
    """A message with text (or none) and nothing else the adapter would render."""
    return (
        message is not None
        and isinstance(getattr(message, "content", None), str | None)
        and not getattr(message, "tool_calls", None)
        and not getattr(message, "thinking_blocks", None)
        and not getattr(message, "reasoning_content", None)
        and not getattr(message, "refusal", None)
        and not getattr(message, "provider_specific_fields", None)
    )


def _usage(usage: Any) -> dict[str, int] | None:
    """Anthropic's usage of a chat answer's, with no cached or server-tool tokens."""
    if usage is None or any(getattr(usage, name, None) for name in _CACHED):
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None and any(_field(details, name) for name in _CACHED_DETAILS):
        return None
    prompt, completion = getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return {"input_tokens": max(prompt or 0, 0), "output_tokens": completion or 0}


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
