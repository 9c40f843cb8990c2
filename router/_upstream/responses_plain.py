"""Plain Responses requests translated to chat and back here, without litellm's bridge.

Most Responses traffic to a chat route is text: ``input`` as a string or as message items of
text, ``instructions``, and the sampling fields. For such a request (``plain``) the chat
arguments are built here (``to_chat``), the chat JSON answer rendered as the Responses object
(``response_of``), and the chat stream's data events (the lean path's ``Events``) as the
Responses stream events (``Stream``), each as the JSON that litellm's bridge
(``LiteLLMCompletionResponsesConfig``, ``LiteLLMCompletionStreamingIterator``) gives for the
same request and answer, once dumped (tests/upstream/test_responses_plain.py holds them equal,
by property, but for the ids and timestamps the bridge makes up). The proxy relays these; the
library keeps litellm's types and bridge (router/_upstream/responses.py).

Anything else (tools, images, files, reasoning, ``text`` formats, an item of another type, a
field this module does not know) is not plain, and litellm's bridge translates it as before.
An answer outside the text subset (tool calls, reasoning, a refusal, annotations, another
finish reason, usage fields beyond OpenAI's) is rendered by the bridge too: a JSON answer
whole (``response_of`` returns ``None``), a stream from the chunk where it departs: its chunks
so far are replayed through the bridge, whose events already sent are skipped.

Pure but for the fallback: no I/O, and litellm is imported only when the bridge is needed.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final, cast

import orjson

# The fields of a plain request: the router's own (read before, never translated), the
# bookkeeping the bridge ignores, and those that map exactly.
_OWN: Final = frozenset(
    {"model", "stream", "privacy", "user", "store", "background", "timeout", "num_retries",
     "max_retries"}
)  # fmt: skip
_SAMPLING: Final = ("top_p", "temperature")
_FIELDS: Final = _OWN | {
    "input", "instructions", "max_output_tokens", "top_p", "temperature", "metadata",
    "safety_identifier", "prompt_cache_key",
}  # fmt: skip
_ROLES: Final = frozenset({"user", "assistant", "system", "developer"})
_PARTS: Final = frozenset({"input_text", "output_text"})

# A chat answer's fields the text subset may carry (OpenAI's, with nothing in them to render).
_ANSWER: Final = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint",
     "service_tier"}
)  # fmt: skip
_MESSAGE: Final = frozenset({"role", "content", "refusal", "annotations"})
_DELTA: Final = frozenset({"role", "content", "refusal"})
_CHOICE: Final = frozenset({"index", "message", "delta", "logprobs", "finish_reason"})
_STATUS: Final = {"stop": "completed", "length": "incomplete"}
_INCOMPLETE: Final = {"stop": None, "length": {"reason": "max_output_tokens"}}
_USAGE: Final = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
     "completion_tokens_details"}
)  # fmt: skip
_INPUT_DETAILS: Final = ("cached_tokens", "audio_tokens")
_OUTPUT_DETAILS: Final = frozenset(
    {"reasoning_tokens", "audio_tokens", "accepted_prediction_tokens",
     "rejected_prediction_tokens"}
)  # fmt: skip
# How litellm names a response made from a chat answer: its id, encoded (ResponsesAPIRequestUtils).
_ID_FORMAT: Final = "litellm:custom_llm_provider:None;model_id:None;response_id:{}"


# --- the request ------------------------------------------------------------------------------


def plain(request: Mapping[str, Any]) -> bool:
    """Whether a checked Responses ``request`` is text only, in fields that map exactly."""
    if not request.keys() <= _FIELDS:
        return False
    text = request.get("input")
    return isinstance(text, str) or (isinstance(text, list) and all(map(_item, text)))


def _item(item: Any) -> bool:
    """A message item of text: a string, or parts with nothing but ``type`` and ``text``."""
    if not isinstance(item, Mapping) or not item.keys() <= {"type", "role", "content"}:
        return False
    if item.get("type", "message") != "message" or item.get("role") not in _ROLES:
        return False
    content = item.get("content")
    return isinstance(content, str) or (
        isinstance(content, list)
        and all(
            isinstance(p, Mapping)
            and p.keys() == {"type", "text"}
            and p["type"] in _PARTS
            and isinstance(p["text"], str)
            for p in content
        )
    )


def to_chat(request: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
    """The chat arguments of a ``plain`` request, as router/_upstream/responses.py's
    ``to_chat`` makes them with the bridge: ``instructions`` (if not empty) as the first,
    system, message, each item a message of its role, text parts as chat's text parts."""
    messages: list[dict[str, Any]] = []
    if request.get("instructions"):
        messages.append({"role": "system", "content": request["instructions"]})
    text = request["input"]
    if isinstance(text, str):
        messages.append({"role": "user", "content": text})
    else:
        messages.extend({"role": m["role"], "content": _content(m["content"])} for m in text)
    chat: dict[str, Any] = {"messages": messages}
    chat.update((k, request[k]) for k in _SAMPLING if request.get(k) is not None)
    if request.get("max_output_tokens") is not None:
        chat["max_tokens"] = request["max_output_tokens"]
    if request.get("metadata") is not None:
        chat["metadata"] = request["metadata"]
    if request.get("safety_identifier") is not None:
        chat["safety_identifier"] = request["safety_identifier"]
    if stream:
        chat["stream_options"] = {"include_usage": True}
    if "prompt_cache_key" in request:
        chat["prompt_cache_key"] = request["prompt_cache_key"]
    return chat


def _content(content: str | list[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [{"type": "text", "text": p["text"]} for p in content]


# --- the JSON answer ------------------------------------------------------------------------


def response_id(chat_id: str) -> str:
    """The id litellm gives the response made of the chat answer ``chat_id``."""
    return "resp_" + base64.b64encode(_ID_FORMAT.format(chat_id).encode()).decode()


def response_of(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """A chat answer's JSON object with one text answer as the Responses object the bridge
    makes of it, dumped as JSON (its ``model`` the answer's); ``None`` for any other answer."""
    if not answer.keys() <= _ANSWER or not _chat_id(answer.get("id")):
        return None
    choices = answer.get("choices")
    created = answer.get("created")
    if not isinstance(choices, list) or len(choices) != 1 or type(created) is not int:
        return None
    choice = choices[0]
    if not _choice(choice, "message"):
        return None
    message = choice["message"]
    finish = choice.get("finish_reason")
    usage = _usage(answer.get("usage"))
    if (
        not isinstance(message, Mapping)
        or not message.keys() <= _MESSAGE
        or message.get("role") != "assistant"
        or message.get("refusal") is not None
        or message.get("annotations")
        or not isinstance(message.get("content"), str | None)
        or finish not in _STATUS
        or usage is None
    ):
        return None
    content = message.get("content")
    output = [] if content is None else [_message_item(f"msg_{uuid.uuid4()}", content, finish)]
    return _completed(answer["id"], created, answer.get("model"), output, finish, usage)


def _chat_id(value: Any) -> bool:
    """An id litellm encodes as it came (one it would read as its own encoding it keeps)."""
    return isinstance(value, str) and "resp_" not in value


def _choice(choice: Any, field: str) -> bool:
    return (
        isinstance(choice, Mapping)
        and choice.keys() <= _CHOICE
        and field in choice
        and choice.get("index", 0) == 0
        and choice.get("logprobs") is None
    )


def _message_item(item_id: str, text: str, finish: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": _STATUS[finish],
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
        "phase": None,
    }


def _completed(
    chat_id: str, created: int, model: Any, output: list[Any], finish: str, usage: Any
) -> dict[str, Any]:
    """The Responses object of a finished answer, in the bridge's fields and order."""
    return {
        "id": response_id(chat_id),
        "created_at": created,
        "error": None,
        "incomplete_details": _INCOMPLETE[finish],
        "instructions": None,
        "metadata": {},
        "model": model,
        "object": "response",
        "output": output,
        "parallel_tool_calls": False,
        "temperature": 0.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "max_output_tokens": None,
        "previous_response_id": None,
        "reasoning": None,
        "status": _STATUS[finish],
        "text": {},
        "truncation": None,
        "usage": usage,
        "user": None,
        "store": False,
    }


def _usage(usage: Any) -> dict[str, Any] | None:
    """The Responses usage of OpenAI's chat usage, as the bridge dumps it; ``None`` for any
    other (missing, fields beyond OpenAI's)."""
    if not isinstance(usage, Mapping) or not usage.keys() <= _USAGE:
        return None
    counts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    if not all(type(c) is int and c >= 0 for c in counts):
        return None
    given = usage.get("prompt_tokens_details")
    returned = usage.get("completion_tokens_details")
    if not _details(given, _INPUT_DETAILS) or not _details(returned, _OUTPUT_DETAILS):
        return None
    inputs = None
    if given:  # empty details are none, to litellm
        inputs = {
            "audio_tokens": given.get("audio_tokens"),
            "cached_tokens": given.get("cached_tokens") or 0,
            "cached_tokens_details": None,
            "image_tokens": None,
            "text_tokens": None,
            "video_tokens": None,
        }
    outputs = None
    if returned:
        outputs = {
            "audio_tokens": returned.get("audio_tokens"),
            "reasoning_tokens": returned.get("reasoning_tokens") or 0,
            "text_tokens": None,
        }
    return {
        "input_tokens": counts[0],
        "input_tokens_details": inputs,
        "output_tokens": counts[1],
        "output_tokens_details": outputs,
        "total_tokens": counts[2],
        "cost": None,
    }


def _details(details: Any, names: Iterable[str]) -> bool:
    """Token details of OpenAI's (or none): counts, under the names given."""
    if details is None:
        return True
    return (
        isinstance(details, Mapping)
        and details.keys() <= set(names)
        and all(type(v) is int and v >= 0 for v in details.values())
    )
