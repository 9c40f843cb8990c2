"""The lean path's offline answer: what a provider of OpenAI's chat format answers, made here.

Offline (``POLICY_ROUTER_OFFLINE``, the library with no credentials, ``route`` with none for
the model), a route of the lean path is answered by this module, not by litellm's mock: no
network, no keys, and no litellm import. Everything before the send is as online: the
decision, the scrubbing, the identifier invariant on the arguments and on the body as it would
go on the wire (``check``), the audit (``offline: true``, ``sends: 0``). The answer is in the
provider's format, a chat completion or its SSE chunks (with a usage chunk when
``stream_options.include_usage`` asks for one), carrying the text the router chose
(``[offline] policy-router chose …``), so the proxy relays it and the library parses it exactly
as an upstream's. Its usage counts words, not tokens: no tokenizer is loaded offline.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from router._core.invariant import find_on_wire
from router._errors import IdentifierInRequest

if TYPE_CHECKING:
    from router._upstream.guard import WireCheck


def check(wire: WireCheck, body: bytes) -> None:
    """Refuse the call if ``body``, as it would be sent, carries the raw user id outside
    content (the lean path's check before a send); no send is counted: nothing leaves."""
    if wire.identity is None:
        return
    found = find_on_wire("", [], body, wire.identity, wire.made_content)
    if found is not None:
        wire.found = found
        raise IdentifierInRequest(found)


def completion(request: Mapping[str, Any], wire: WireCheck, text: str) -> bytes:
    """The chat completion answering ``request`` (the body as it would be sent) with
    ``text``, as JSON bytes, once ``request`` passed ``check``."""
    check(wire, orjson.dumps(request))
    body = _envelope(request, "chat.completion")
    body["choices"] = [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    ]
    body["usage"] = _usage(request, text)
    return orjson.dumps(body)


def chunks(request: Mapping[str, Any], wire: WireCheck, text: str) -> list[bytes]:
    """The data of the SSE events streaming ``text`` for ``request``, once it passed
    ``check``: the role and first word, a chunk per further word, the finish reason, and the
    usage if asked for (``[DONE]`` ends the stream and is not among them)."""
    check(wire, orjson.dumps(request))
    envelope = _envelope(request, "chat.completion.chunk")
    words = text.split(" ")
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": words[0]}]
    deltas.extend({"content": " " + word} for word in words[1:])
    events = [
        envelope | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        for delta in deltas
    ]
    events.append(envelope | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    options = request.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        events.append(envelope | {"choices": [], "usage": _usage(request, text)})
    return [orjson.dumps(event) for event in events]


def _envelope(request: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-offline-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": request.get("model", ""),
    }


def _usage(request: Mapping[str, Any], text: str) -> dict[str, int]:
    """Words as tokens: the request's message contents, and the answer's."""
    messages = request.get("messages")
    contents = (
        [m.get("content") for m in messages if isinstance(m, Mapping)]
        if isinstance(messages, list)
        else []
    )
    prompt = sum(len(piece.split()) for piece in _texts(contents))
    answer = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer}


def _texts(value: object) -> list[str]:
    """Every string inside ``value`` (contents, their parts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _texts(item)]
    return []
