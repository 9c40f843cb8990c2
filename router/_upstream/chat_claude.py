"""Plain chat requests to Claude on Anthropic, translated to Messages here, without litellm.

Most chat traffic to Claude is text: a system prompt, user and assistant turns, a token limit
and the sampling fields. For such a request (``plain``) to an ``anthropic/`` target on the lean
path, the Messages body litellm would send is built here (``body``: the leading system turns as
``system`` blocks, consecutive turns of one role merged into one, ``max_tokens`` litellm's
default for the model when absent, ``stop`` as ``stop_sequences``, ``user`` as
``metadata.user_id`` unless an email or a phone number), sent through the as-it-came shell
(router/_upstream/as_it_came.py: the invariant on the bytes, counted; ``x-api-key``,
``anthropic-version``, the route's ``api_base``), and the answer rendered as litellm renders it
(``completion``: the chat completion's JSON, as the proxy relays litellm's ``ModelResponse``).
tests/upstream/test_chat_claude.py holds both equal to litellm 1.104.0's, by property: that
version (``LITELLM``, the lock's) is the one this module reproduces. With another litellm
installed (pyproject's litellm-tested range reaches 1.110.2, whose default ``max_tokens`` and
answer differ), every request takes litellm itself, whose request is then the one to send.

Anything else (tools, images, names on turns, a later system turn, ``n``, ``response_format``,
a stream, a model this module has no facts for, …) takes litellm as before; so does the
rendering of an answer of another shape than text (it is handed to litellm's own renderer).
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Final

import orjson

from router._upstream import anthropic, as_it_came, lean, providers

if TYPE_CHECKING:
    from router._upstream.adapter import UpstreamCall

LITELLM: Final = "1.104.0"  # the litellm whose wire body and answer this module reproduces

# litellm 1.104.0's default max_tokens for Anthropic's models that take sampling fields (its
# model table's max_output_tokens; None: a model it has no limit for, which gets its default,
# ``DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS``). tests/upstream/test_chat_claude.py holds them equal.
MAX_TOKENS: Final[Mapping[str, int | None]] = {
    "claude-haiku-4-5": 64000,
    "claude-haiku-4-5-20251001": 64000,
    "claude-sonnet-4-5": 64000,
    "claude-sonnet-4-5-20250929": 64000,
    "claude-opus-4-5": 64000,
    "claude-opus-4-5-20251101": 64000,
    "claude-opus-4-1": None,
    "claude-opus-4-1-20250805": None,
}
_FIELDS: Final = frozenset(
    {"messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "user"}
)
_STOP_REASON: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}
_USAGE: Final = frozenset(
    {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
)


def serves(call: UpstreamCall) -> bool:
    """Whether this chat call is sent here: a plain request to Claude on Anthropic, on the
    lean path, answered by the upstream (offline calls take litellm's mock), with the litellm
    this module reproduces installed."""
    target = call.target
    return (
        target.prefix == providers.ANTHROPIC_PREFIX
        and installed_litellm() == LITELLM
        and (target.path or providers.DEFAULT_PATH) == "lean"
        and call.offline_text is None
        and not call.parsed
        and plain(call.arguments, target.model.split("/", 1)[1])
    )


@functools.cache
def installed_litellm() -> str | None:
    """The installed litellm's version, read from its metadata (litellm is not imported)."""
    try:
        return version("litellm")
    except PackageNotFoundError:  # pragma: no cover  (litellm is a dependency)
        return None


def plain(arguments: Mapping[str, Any], model: str) -> bool:
    """Whether chat ``arguments`` to ``model`` are text only, in fields that map plainly."""
    if model not in MAX_TOKENS or not arguments.keys() <= _FIELDS:
        return False
    if "max_tokens" in arguments and "max_completion_tokens" in arguments:
        return False
    if not all(_count(arguments.get(k)) for k in ("max_tokens", "max_completion_tokens")):
        return False
    if not all(_number(arguments.get(k)) for k in ("temperature", "top_p")):
        return False
    stop, user = arguments.get("stop"), arguments.get("user")
    if not (stop is None or isinstance(stop, str) or _strings(stop)):
        return False
    if not (user is None or isinstance(user, str)):
        return False
    messages = arguments.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    leading = True
    for message in messages:
        if not _turn(message):
            return False
        system = message["role"] == "system"
        if system and not leading:
            return False
        leading = system
    return not leading  # a conversation after the system turns


def _count(value: Any) -> bool:
    return value is None or (type(value) is int and value > 0)


def _number(value: Any) -> bool:
    return value is None or (type(value) in (int, float) and 0 <= value <= 1)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _turn(message: Any) -> bool:
    """A system, user or assistant turn of non-blank text (a string, or text parts)."""
    if not isinstance(message, Mapping) or message.keys() != {"role", "content"}:
        return False
    if message["role"] not in ("system", "user", "assistant"):
        return False
    content = message["content"]
    if isinstance(content, str):
        return _text(content)
    return (
        isinstance(content, list)
        and bool(content)
        and all(
            isinstance(p, Mapping)
            and p.keys() == {"type", "text"}
            and p["type"] == "text"
            and isinstance(p["text"], str)
            and _text(p["text"])
            for p in content
        )
    )


def _text(text: str) -> bool:
    return bool(text) and not text.isspace() and text == text.rstrip()


def body(arguments: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The Messages body litellm sends for ``plain`` chat ``arguments`` to ``model``."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in arguments["messages"]:
        role, content = message["role"], message["content"]
        blocks = (
            [{"type": "text", "text": content}]
            if isinstance(content, str)
            else [{"type": "text", "text": p["text"]} for p in content]
        )
        if role == "system":
            system.extend(blocks)
        elif turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    out: dict[str, Any] = {"model": model, "messages": turns}
    limit = arguments.get("max_tokens") or arguments.get("max_completion_tokens")
    for name in ("temperature", "top_p"):
        if name in arguments:
            out[name] = arguments[name]
    stop = _stop_sequences(arguments.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    out |= anthropic.metadata_for(arguments.get("user"))
    anthropic.sendable(out)  # an email or a phone number left out, as litellm leaves it
    if system:
        out["system"] = system
    out["max_tokens"] = limit or MAX_TOKENS[model] or default_max_tokens()
    return out


def default_max_tokens() -> int:
    """litellm's default max_tokens for a model it has no limit for (read as litellm does)."""
    return int(os.environ.get("DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS", 4096))


def _stop_sequences(stop: str | list[str] | None) -> list[str]:
    """``stop`` as litellm maps it (it leaves blank sequences in, unless its global
    ``drop_params`` is set, which the router never sets)."""
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def completion(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages answer as the chat completion's JSON litellm renders (its ``ModelResponse``
    dumped); an answer of another shape than text is rendered by litellm itself."""
    rendered = _plain_completion(answer)
    return rendered if rendered is not None else _litellm_completion(answer)


def _plain_completion(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    content, usage = answer.get("content"), answer.get("usage")
    finish = _STOP_REASON.get(answer.get("stop_reason"))  # type: ignore[arg-type]
    model = answer.get("model")
    if finish is None or not isinstance(model, str) or not isinstance(content, list):
        return None
    if not all(isinstance(b, Mapping) and b.keys() == {"type", "text"} and b["type"] == "text"
               and isinstance(b["text"], str) for b in content):  # fmt: skip
        return None
    if not isinstance(usage, Mapping) or not usage.keys() <= _USAGE:
        return None
    if not all(type(usage.get(k, 0)) is int for k in _USAGE):
        return None
    text = "".join(b["text"] for b in content)
    cache_write = usage.get("cache_creation_input_tokens", 0)
    cache_read = usage.get("cache_read_input_tokens", 0)
    completion_tokens = usage.get("output_tokens", 0)
    prompt_tokens = usage.get("input_tokens", 0) + cache_write + cache_read
    return {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "created": int(time.time()),
        "model": model,
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": [
            {
                "finish_reason": finish,
                "index": 0,
                "message": {
                    "content": text or None,
                    "role": "assistant",
                    "tool_calls": None,
                    "function_call": None,
                    "provider_specific_fields": {"citations": None, "thinking_blocks": None},
                },
            }
        ],
        "usage": {
            "completion_tokens": completion_tokens,
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": completion_tokens},
            "prompt_tokens_details": {
                "audio_tokens": None,
                "cache_write_tokens": cache_write,
                "cached_tokens": cache_read,
                "text_tokens": prompt_tokens - cache_read - cache_write,
                "image_tokens": None,
                "video_tokens": None,
                "cache_creation_tokens": cache_write,
            },
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "iterations": None,
            "inference_geo": None,
            "speed": None,
            "service_tier": None,
        },
    }


def _litellm_completion(answer: Mapping[str, Any]) -> dict[str, Any]:
    """litellm's own rendering of a Messages answer (one this module does not render)."""
    import httpx

    from router._upstream.loader import litellm_module

    litellm = litellm_module()
    rendered = litellm.AnthropicConfig().transform_parsed_response(
        dict(answer), httpx.Response(200), litellm.ModelResponse()
    )
    return dict(rendered.model_dump(mode="json"))


async def complete(call: UpstreamCall, *, raw: bool = False) -> Any:
    """One non-streaming call: the chat completion as ``lean.Raw`` bytes if ``raw`` (the
    proxy), else litellm's ``ModelResponse`` (the library), as the lean chat path answers."""
    model = call.target.model.split("/", 1)[1]
    request = (
        anthropic.url(call.api_base),
        anthropic.headers(),
        orjson.dumps(body(call.arguments, model)),
    )
    answer = await as_it_came.complete(call, request, raw=False, holds="content")
    rendered = completion(answer)
    if raw:
        return lean.Raw(orjson.dumps(rendered))
    from router._upstream.loader import litellm_module

    return litellm_module().ModelResponse(**rendered)
