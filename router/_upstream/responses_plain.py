"""Plain Responses requests translated to chat and back here, without litellm's bridge.

Most Responses traffic to a chat route is text: ``input`` as a string or as message items of
text, ``instructions``, and the sampling fields. For such a request (``plain``) the chat
arguments are built here (``to_chat``), the chat JSON answer rendered as the Responses object
(``response_of``), and the chat stream's data events (the lean path's ``Events``) as the
Responses stream events (``Stream``), each as the JSON that litellm's bridge
(``LiteLLMCompletionResponsesConfig``, ``LiteLLMCompletionStreamingIterator``) gives for the
same request and answer, once dumped (tests/upstream/test_responses_plain.py holds them equal,
by property, but for the ids and timestamps the bridge makes up); a stream's events as the
proxy sends them, SSE bytes numbered, written from a template per event kind. The proxy relays
these; the library keeps litellm's types and bridge (router/_upstream/responses.py).

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
import json
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, Final, cast

import orjson

from router._upstream import lean, sse

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
_FINISHES: Final = (None, *_STATUS)  # a streamed choice's finish reason: none yet, or one
_INCOMPLETE: Final = {"stop": None, "length": {"reason": "max_output_tokens"}}
_USAGE: Final = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
     "completion_tokens_details"}
)  # fmt: skip
_INPUT_DETAILS: Final = frozenset({"cached_tokens", "audio_tokens"})
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


# A random UUID's bits (version 4, RFC 4122 variant), as uuid.uuid4 sets them.
_UUID_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_SET: Final = (0x8000 << 48) | (4 << 76)


def _message_id() -> str:
    """A fresh output item id as the bridge makes one, ``msg_`` and ``str(uuid.uuid4())``:
    the same random bits and text, without the UUID object."""
    hexed = "%032x" % (int.from_bytes(os.urandom(16)) & _UUID_CLEAR | _UUID_SET)
    return f"msg_{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


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
    output = [] if content is None else [_message_item(_message_id(), content, finish)]
    return _completed(
        response_id(answer["id"]), created, answer.get("model"), output, finish, usage
    )


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
    response: str, created: int, model: Any, output: list[Any], finish: str, usage: Any
) -> dict[str, Any]:
    """The Responses object (its id ``response``) of a finished answer, in the bridge's
    fields and order."""
    return {
        "id": response,
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


def _usage(usage: Any, *, streamed: bool = False) -> dict[str, Any] | None:
    """The Responses usage of OpenAI's chat usage, as the bridge dumps it; ``None`` for any
    other (missing, fields beyond OpenAI's). A stream's (``streamed``) is as litellm's
    ``stream_chunk_builder`` sums it up: the total is the two counts', and the output tokens
    not said to be reasoning are counted as text."""
    if not isinstance(usage, Mapping) or not usage.keys() <= _USAGE:
        return None
    counts: list[Any] = [
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("total_tokens"),
    ]
    for count in counts:
        if type(count) is not int or count < 0:
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
    if streamed:
        counts[2] = counts[0] + counts[1]
        if (returned or {}).get("reasoning_tokens") is None:
            outputs = (outputs or {"audio_tokens": None}) | {
                "reasoning_tokens": 0,
                "text_tokens": counts[1],
            }
    return {
        "input_tokens": counts[0],
        "input_tokens_details": inputs,
        "output_tokens": counts[1],
        "output_tokens_details": outputs,
        "total_tokens": counts[2],
        "cost": None,
    }


def _details(details: Any, names: frozenset[str]) -> bool:
    """Token details of OpenAI's (or none): counts, under the names given."""
    if details is None:
        return True
    return (
        isinstance(details, Mapping)
        and details.keys() <= names
        and all(type(v) is int and v >= 0 for v in details.values())
    )


# --- the stream -------------------------------------------------------------------------------


def _chunk(payload: bytes) -> dict[str, Any] | None:
    """A stream's data event as a chat chunk of the text subset (one choice, a delta of text,
    or usage alone); ``None`` for anything else (the bridge renders it)."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    # orjson's: an object is a dict, an array a list, a string a str (the types checked here)
    if type(chunk) is not dict or not chunk.keys() <= _ANSWER:
        return None
    chat_id = chunk.get("id")
    if type(chat_id) is not str or "resp_" in chat_id or type(chunk.get("created")) is not int:
        return None  # an id litellm would read as its own (``_chat_id``), a time not a number
    choices = chunk.get("choices")
    if choices == []:
        return chunk if chunk.get("usage") is not None else None
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if (
        type(choice) is not dict
        or not choice.keys() <= _CHOICE
        or choice.get("index", 0) != 0
        or choice.get("logprobs") is not None
        or choice.get("finish_reason") not in _FINISHES
    ):
        return None  # as ``_choice`` judges a choice; the delta's, next
    delta = choice.get("delta")
    if type(delta) is not dict or not delta.keys() <= _DELTA:
        return None
    content = delta.get("content")
    if (
        delta.get("role", "assistant") != "assistant"
        or delta.get("refusal") is not None
        or (content is not None and type(content) is not str)
    ):
        return None
    return chunk


class _Departed(Exception):
    """A chunk outside the text subset: the bridge renders the stream from there."""


def numbered(data: dict[str, Any], number: int, model: str) -> bytes:
    """An event of the bridge's, dumped (``data``), as the proxy sends it: ``number`` its
    ``sequence_number``, a ``response`` object in it naming ``model`` (the caller's name)."""
    data["sequence_number"] = number
    response = data.get("response")
    if isinstance(response, dict):
        response["model"] = model
    return sse.json_event(data, str(data["type"]))


class Stream:
    """The Responses events of a plain request's chat stream as the proxy sends them: each
    the bridge's event, dumped, numbered (``sequence_number``, from 0) and naming ``model``
    in its ``response`` object, as SSE bytes, the events of an upstream read in one item
    (sent in one write, as on the chat path); ``sent`` is how many were handed out (the next
    event's number: a failure's). ``chunks`` is the routed stream of the lean path's
    ``Events`` (raw data events); a stream of litellm's chunks (a route litellm serves) is
    the bridge's whole. ``aclose()`` closes the routed stream (its attempt is recorded then);
    ``answered`` is the route, as on the routed stream."""

    def __init__(self, chunks: Any, request: Mapping[str, Any], model: str) -> None:
        self._chunks = chunks
        self._request = request
        self.model = model
        self.sent = 0
        self.answered = getattr(chunks, "answered", None)
        self._events = self._rendered()

    def __aiter__(self) -> Stream:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        return self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()

    async def _rendered(self) -> AsyncGenerator[bytes]:
        seen: list[Any] = []  # every item read, for the bridge if the stream departs
        state = _State(self._request, self.model)
        ended = False
        try:
            async for item in self._chunks:
                seen.append(item)  # whole: the bridge replays all of it, skipping what was sent
                if not isinstance(item, tuple):  # litellm's chunk: the bridge's stream
                    raise _Departed
                events: list[bytes] = []
                for payload in item:
                    chunk = _chunk(payload)
                    if chunk is None:  # outside the text subset
                        raise _Departed
                    state.feed(chunk, events)
                if isinstance(item, lean.EventsEnded):  # the end came with it: one write
                    events += state.done()
                    ended = True
                if events:
                    self.sent = state.number
                    yield b"".join(events)
            if not ended:
                events = state.done()
                self.sent = state.number
                yield b"".join(events)
        except _Departed:
            async for event in self._bridged(seen, state.item_id):
                yield event

    async def _bridged(self, seen: list[Any], item_id: str | None) -> AsyncIterator[bytes]:
        """litellm's bridge over the chunks read so far and the rest, less the events
        already sent (the same, by property), under the same message id, numbered on. litellm
        is imported in a worker thread if it is not yet (the event loop serves on meanwhile)."""
        from router._upstream import responses
        from router._upstream.loader import imported

        await imported()
        bridge = responses.ResponsesStream(_replayed(seen, self._chunks), self._request, self.model)
        if item_id is not None:
            cast(Any, bridge)._events._cached_item_id = item_id
        skip = self.sent
        async for event in bridge:
            if skip:
                skip -= 1
                continue
            rendered = numbered(event.model_dump(mode="json"), self.sent, self.model)
            self.sent += 1
            yield rendered


async def _replayed(seen: list[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """litellm's chunks of the data events read so far, then of the rest of the stream."""
    typed = lean._chunk_type()
    prefix = getattr(getattr(rest, "answered", None), "route", None)
    name = "" if prefix is None else prefix.provider.slug

    def chunks(items: Iterable[Any]) -> Iterable[Any]:
        for item in items:
            if isinstance(item, bytes):
                yield typed(**lean._chunk(item, name))
            elif isinstance(item, tuple):
                yield from chunks(item)
            else:
                yield item

    for chunk in chunks(seen):
        yield chunk
    async for item in rest:
        for chunk in chunks([item]):
            yield chunk


def _parts(*values: Any) -> list[bytes]:
    """``values`` as JSON, each as sse.json_event writes it in an event of them and ASCII
    otherwise: orjson's, or, where it refuses one (a string with a lone surrogate), Python's
    writer's for all (which escapes it, and every non-ASCII character with it)."""
    try:
        return [orjson.dumps(v) for v in values]
    except orjson.JSONEncodeError:
        return [json.dumps(v, separators=(",", ":")).encode() for v in values]


def _head(kind: str) -> bytes:
    """An event's bytes up to the end of its ``type``."""
    return f'event: {kind}\ndata: {{"type":"{kind}"'.encode()


_CREATED: Final = _head("response.created") + b',"response":'
_IN_PROGRESS: Final = _head("response.in_progress") + b',"response":'
_ITEM_ADDED: Final = _head("response.output_item.added") + b',"output_index":0,"item":{"id":'
_ITEM_ADDED_END: Final = (
    b',"type":"message","role":"assistant","status":"in_progress","content":[]}'
)
_PART_ADDED: Final = _head("response.content_part.added")
_PART_ADDED_END: Final = (
    b',"output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}'
)
_TEXT_DELTA: Final = _head("response.output_text.delta")
_TEXT_DONE: Final = _head("response.output_text.done")
_PART_DONE: Final = _head("response.content_part.done")
_ITEM_DONE: Final = _head("response.output_item.done") + b',"output_index":0,"sequence_number":'
_OF_ITEM: Final = b',"item_id":'  # an event of the message's one text part: its item, ...
_PART_AT: Final = b',"output_index":0,"content_index":0,'  # ... where the part is
_COMPLETED: Final = _head("response.completed") + b',"response":{"id":"'
_INCOMPLETE_JSON: Final = {k: orjson.dumps(v) for k, v in _INCOMPLETE.items()}
_NUMBER: Final = b',"sequence_number":'
_END: Final = b"}\n\n"


class _State:
    """The bridge's events for a stream of text chunks, as they arrive (``feed``) and at its
    end (``done``), as the proxy sends them (SSE bytes, numbered from ``number``: a template
    per kind, the varying parts written with orjson, byte for byte what ``numbered`` makes
    of the event's dict); an end the bridge would render otherwise (no usage, no text, no
    finish reason) departs."""

    def __init__(self, request: Mapping[str, Any], model: str) -> None:
        self.request = request
        self.model = model
        self.number = 0
        self.item_id: str | None = None
        self.item_json = b""
        self.chat_id: str | None = None
        self.response_id = ""
        self.created = 0
        self.text: list[str] = []
        self.finish: str | None = None
        self.usage: Any = None
        self.started = False

    def _numbered(self) -> bytes:
        number = self.number
        self.number = number + 1
        return _NUMBER + b"%d" % number + _END

    def feed(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        """Append the events of ``chunk`` to ``out``."""
        if self.chat_id is None:  # the first chunk names the response
            self.chat_id, self.created = chunk["id"], chunk["created"]
            self.response_id = response_id(self.chat_id)
            response = self._opening(int(time.time()))
            out += (_CREATED, response, self._numbered(), _IN_PROGRESS, response, self._numbered())
        if chunk.get("usage") is not None:
            if self.usage is not None:
                raise _Departed
            self.usage = chunk["usage"]
        choices = chunk["choices"]
        if not choices:
            return
        if not self.started:
            self.started = True
            self.item_id = _message_id()
            self.item_json = b'"' + self.item_id.encode() + b'"'
            out += (_ITEM_ADDED, self.item_json, _ITEM_ADDED_END, self._numbered())
            out += (_PART_ADDED, _OF_ITEM, self.item_json, _PART_ADDED_END, self._numbered())
        choice = choices[0]
        text = choice["delta"].get("content")
        if text:
            self.text.append(text)
            out += (_TEXT_DELTA, _OF_ITEM, self.item_json, _PART_AT, b'"delta":',
                    orjson.dumps(text), self._numbered())  # fmt: skip
        finish = choice.get("finish_reason")
        if finish is not None:
            if self.finish is not None:
                raise _Departed
            self.finish = finish

    def done(self) -> list[bytes]:
        usage = _usage(self.usage, streamed=True)
        text = "".join(self.text)
        if usage is None or not text or self.finish is None or self.chat_id is None:
            raise _Departed
        item_json, written = self.item_json, orjson.dumps(text)
        out = [
            _TEXT_DONE, _OF_ITEM, item_json, _PART_AT, b'"text":', written, self._numbered(),
            _PART_DONE, _OF_ITEM, item_json, _PART_AT, b'"part":{"type":"output_text","text":',
            written, b',"annotations":[],"logprobs":null}', self._numbered(),
            _ITEM_DONE, b"%d" % self.number, b',"item":{"id":', item_json,
            b',"status":"completed","type":"message","role":"assistant","content":'
            b'[{"type":"output_text","text":', written, b',"annotations":[]}]}', _END,
        ]  # fmt: skip
        self.number += 1
        out += self._completed(text, usage)
        return out

    def _completed(self, text: str, usage: dict[str, Any]) -> tuple[bytes, ...]:
        """``response.completed``: the Responses object of the finished answer (``_completed``'s,
        naming the model asked for), as the proxy dumps it (one writer for the event's model
        and text: see ``_parts``)."""
        finish = cast(str, self.finish)
        model, written = _parts(self.model, text)
        status = _STATUS[finish].encode()
        return (
            _COMPLETED, self.response_id.encode(), b'","created_at":', b"%d" % self.created,
            b',"error":null,"incomplete_details":', _INCOMPLETE_JSON[finish],
            b',"instructions":null,"metadata":{},"model":', model,
            b',"object":"response","output":[{"type":"message","id":', self.item_json,
            b',"status":"', status, b'","role":"assistant","content":[{"type":"output_text",'
            b'"text":', written, b',"annotations":[]}],"phase":null}],"parallel_tool_calls":false,'
            b'"temperature":0.0,"tool_choice":"auto","tools":[],"top_p":null,'
            b'"max_output_tokens":null,"previous_response_id":null,"reasoning":null,"status":"',
            status, b'","text":{},"truncation":null,"usage":', orjson.dumps(usage),
            b',"user":null,"store":false}', self._numbered(),
        )  # fmt: skip

    def _opening(self, at: int) -> bytes:
        """The response of ``response.created`` and ``response.in_progress``: the bridge's
        opening object, as the proxy dumps it."""
        request = self.request
        instructions, model, temperature, top_p = _parts(
            request.get("instructions"), self.model, request.get("temperature"),
            request.get("top_p", 1.0),
        )  # fmt: skip
        return b"".join((
            b'{"id":"', self.response_id.encode(), b'","created_at":',
            b"%d" % at, b',"error":null,"incomplete_details":null,"instructions":', instructions,
            b',"metadata":null,"model":', model,
            b',"object":"response","output":[],"parallel_tool_calls":true,"temperature":',
            temperature, b',"tool_choice":"auto","tools":[],"top_p":', top_p,
            b',"max_output_tokens":null,"previous_response_id":null,'
            b'"reasoning":{"effort":null,"summary":null},"status":"in_progress","text":null,'
            b'"truncation":null,"usage":null,"user":null,"store":false}',
        ))  # fmt: skip
