"""A plain Messages request's stream from a chat route, rendered here without litellm.

A plain request (text only: router/_upstream/messages_plain.py) translated to chat is answered,
on the lean path, by the chat chunks' JSON objects (``lean.Chunks``); ``Render`` turns them
into Anthropic's stream events as litellm's ``AnthropicStreamWrapper`` does, event for event
and at the same point of the stream (tests/upstream/test_messages_stream.py holds the two
equal, by property): ``message_start`` (zero usage, a ``msg_`` id of its own) before the first
chunk, ``content_block_start`` at the first chunk that is not a blank delta, a
``content_block_delta`` per non-empty text, and at the finish reason ``content_block_stop``
with the ``message_delta`` held back until the usage chunk, whose usage it takes; the stream's
end sends what is held and ``message_stop``. A chunk that carries content and its finish
reason at once counts as the two.

A chunk this module does not know (another finish reason, tool calls, reasoning, a refusal,
cached tokens, a field it has not seen) makes ``feed`` answer ``False``: the caller hands the
rest of the stream to litellm's wrapper, started in this state (``State``), so the events
are the wrapper's from there on (router/_upstream/messages.py, ``event_batches``).

Pure: no I/O, no litellm import.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from router._upstream.messages_plain import _STOP_REASON, _usage_of

# The fields of a chat chunk, of its one choice and of that choice's delta, that a plain text
# stream carries (any other: the chunk is left to litellm).
_CHUNK: Final = frozenset(
    {"id", "object", "created", "model", "system_fingerprint", "service_tier", "choices",
     "usage", "obfuscation"}
)  # fmt: skip
_CHOICE: Final = frozenset({"index", "delta", "finish_reason", "logprobs"})
_DELTA: Final = frozenset({"role", "content", "refusal"})
_ZERO: Final = {"input_tokens": 0, "output_tokens": 0}


class Render:
    """One stream's events, chunk by chunk: ``start``, then ``feed`` per chunk, then ``end``.

    Its state is named as the wrapper's (``message_id``, ``started``: a content block was
    opened, ``finished``: it was closed, ``held``: the ``message_delta`` waiting for usage,
    ``usage_sent``: the usage was merged into it and sent), so that the wrapper can take over."""

    __slots__ = ("finished", "held", "message_id", "model", "started", "usage_sent")

    def __init__(self, model: str) -> None:
        self.model = model
        self.message_id = f"msg_{uuid.uuid4()}"
        self.started = False
        self.finished = False
        self.held: dict[str, Any] | None = None
        self.usage_sent = False

    def start(self) -> dict[str, Any]:
        """``message_start``, before any chunk."""
        return {
            "type": "message_start",
            "message": {
                "id": self.message_id,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": self.model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        }

    def feed(self, chunk: dict[str, Any], out: list[dict[str, Any]]) -> bool:
        """Append the events of ``chunk`` (a chat chunk's JSON object) to ``out``; ``False``,
        with nothing appended, for a chunk this module does not render."""
        read = _read(chunk)
        if read is None:
            return False
        text, finish, usage = read
        if finish is _NO_CHOICE:
            if self.held is not None and usage is not None:
                out.append(self._merged(usage))
            return True
        if text and finish is not None:  # content and finish at once: the two, one by one
            self._piece(text, None, None, out)
            self._piece(None, finish, usage, out)
        else:
            self._piece(text, finish, usage, out)
        return True

    def end(self) -> list[dict[str, Any]]:
        """The events after the last chunk: what is held, and ``message_stop``."""
        out: list[dict[str, Any]] = []
        if not self.usage_sent and self.held is not None:
            if not self.finished:  # pragma: no cover - held only once the block is closed
                out.append({"type": "content_block_stop", "index": 0})
                self.finished = True
            out.append(self.held)
            self.held = None
        out.append({"type": "message_stop"})
        return out

    def _piece(
        self, text: str | None, finish: str | None, usage: dict[str, int] | None, out: list[Any]
    ) -> None:
        if not self.started:
            if finish is None and not text:
                return  # a blank delta opens no block
            self.started = True
            self.finished = False
            out.append({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}})  # fmt: skip
        if self.held is not None and usage is not None:
            out.append(self._merged(usage))
            return
        if self.usage_sent:
            return  # nothing follows the final message_delta
        if finish is None:
            if text:
                out.append({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": text}})  # fmt: skip
            return
        delta = {"type": "message_delta", "delta": {"stop_reason": _STOP_REASON[finish]},
                 "usage": _ZERO.copy() if usage is None else usage}  # fmt: skip
        if not self.finished:
            out.append({"type": "content_block_stop", "index": 0})
            self.finished = True
            self.held = delta
            return
        out.append(delta)

    def _merged(self, usage: dict[str, int]) -> dict[str, Any]:
        assert self.held is not None
        merged = self.held | {"usage": usage}
        self.held = None
        self.usage_sent = True
        return merged


_NO_CHOICE: Final = "-"  # ``_read``'s finish reason of a chunk with no choice


def _read(chunk: dict[str, Any]) -> tuple[str | None, str | None, dict[str, int] | None] | None:
    """A plain chunk's text, finish reason (``_NO_CHOICE`` if it has no choice) and usage
    (Anthropic's); ``None`` for any other chunk. (The chunks are orjson's: dicts, lists.)"""
    if not chunk.keys() <= _CHUNK:
        return None
    usage = chunk.get("usage")
    if usage is not None:
        usage = _usage_of(usage)
        if usage is None or usage["output_tokens"] < 0:
            return None
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) > 1:
        return None
    if not choices:
        return None, _NO_CHOICE, usage
    choice = choices[0]
    if type(choice) is not dict or not choice.keys() <= _CHOICE:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or not delta.keys() <= _DELTA:
        return None
    text, finish = delta.get("content"), choice.get("finish_reason")
    if finish is not None and finish not in _STOP_REASON:
        return None
    if not (text is None or type(text) is str) or delta.get("refusal") is not None:
        return None
    if delta.get("role") not in (None, "assistant") or choice.get("index", 0) != 0:
        return None
    if choice.get("logprobs") is not None:
        return None
    return text, finish, usage
