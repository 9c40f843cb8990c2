"""The plain Responses translation (router/_upstream/responses_plain.py) against litellm's
bridge, by property: for generated text-only requests, the chat arguments are the bridge's;
for generated chat answers, the Responses object is the bridge's, dumped as the proxy sends
it; for generated chat streams, the events (SSE bytes, as the proxy sends them) are the bridge's,
numbered and naming the model asked for as the proxy numbers and names them.
The ids and timestamps the bridge makes up (``msg_<uuid>``, ``created_at`` of the stream's
first events) are set equal before comparing; everything else, key order included, is held."""

from __future__ import annotations

import asyncio
import copy
from importlib.metadata import version
from typing import Any, Final

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from router._core.responses import check_responses
from router._core.surface import SurfaceError
from router._errors import UpstreamFailure
from router._upstream import lean, responses, responses_plain, sse
from router._upstream.setup import _module

MODEL: Final = "GPT 4.1"
_SETTINGS: Final = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_text = st.text(max_size=12)
_parts = st.lists(
    st.builds(
        lambda k, t: {"type": k, "text": t}, st.sampled_from(["input_text", "output_text"]), _text
    ),
    max_size=3,
)
_item = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "developer"]),
     "content": st.one_of(_text, _parts)},
    optional={"type": st.just("message")},
)  # fmt: skip
_optional = {
    "instructions": _text,
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "max_output_tokens": st.integers(1, 4096),
    "stream": st.booleans(),
    "metadata": st.fixed_dictionaries({"tag": _text}),
    "user": st.text(min_size=1, max_size=8),
    "safety_identifier": st.text(min_size=1, max_size=8),
    "prompt_cache_key": st.text(min_size=1, max_size=8),
    "store": st.just(False),
    "background": st.just(False),
}
_requests = st.fixed_dictionaries(
    {"model": st.just(MODEL), "input": st.one_of(_text, st.lists(_item, min_size=1, max_size=4))},
    optional=_optional,
)


def _checked(request: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_responses(request)
    except SurfaceError:  # refused before any translation
        assume(False)
        raise


@given(request=_requests)
@_SETTINGS
def test_to_chat__a_plain_request_translates_as_the_bridge_does(request: dict[str, Any]) -> None:
    """The same chat arguments, in the same order (every difference would reach the wire)."""
    checked = _checked(request)
    assert responses_plain.plain(checked)
    stream = bool(checked.get("stream"))
    ours = responses_plain.to_chat(checked, stream=stream)
    theirs = responses.to_chat(copy.deepcopy(checked), stream=stream)
    assert orjson.dumps(ours) == orjson.dumps(theirs)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"tools": [{"type": "function", "name": "f"}]}, id="tools"),
        pytest.param({"text": {"format": {"type": "json_object"}}}, id="a text format"),
        pytest.param({"reasoning": {"effort": "low"}}, id="reasoning"),
        pytest.param({"include": ["reasoning.encrypted_content"]}, id="include"),
        pytest.param({"input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/a.png"}]}]}, id="an image"),
        pytest.param({"input": [{"role": "user", "content": "hi", "id": "m1"}]}, id="an item id"),
        pytest.param({"input": [{"type": "function_call", "call_id": "c", "name": "f",
                                 "arguments": "{}"}]}, id="a function call"),
    ],
)  # fmt: skip
def test_plain__anything_but_text_takes_the_bridge(extra: dict[str, Any]) -> None:
    assert not responses_plain.plain(check_responses({"model": MODEL, "input": "hi"} | extra))


_counts = st.integers(0, 99)
_usage = st.fixed_dictionaries(
    {"prompt_tokens": _counts, "completion_tokens": _counts, "total_tokens": _counts},
    optional={
        "prompt_tokens_details": st.one_of(
            st.none(),
            st.fixed_dictionaries({}, optional={"cached_tokens": _counts, "audio_tokens": _counts}),
        ),
        "completion_tokens_details": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {},
                optional={
                    "reasoning_tokens": _counts,
                    "audio_tokens": _counts,
                    "accepted_prediction_tokens": _counts,
                    "rejected_prediction_tokens": _counts,
                },
            ),
        ),
    },
)
_message = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": st.one_of(st.none(), _text)},
    optional={"refusal": st.none(), "annotations": st.just([])},
)
_answers = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["chatcmpl-1", "chatcmpl-Bx9"]),
        "object": st.just("chat.completion"),
        "created": st.integers(1_600_000_000, 1_800_000_000),
        "model": st.sampled_from(["gpt-4.1", "gpt-4.1-2025-04-14"]),
        "choices": st.builds(
            lambda m, f, lp: [{"index": 0, "message": m, "finish_reason": f} | lp],
            _message,
            st.sampled_from(["stop", "length"]),
            st.sampled_from([{}, {"logprobs": None}]),
        ),
        "usage": _usage,
    },
    optional={"system_fingerprint": st.just("fp_1"), "service_tier": st.just("default")},
)


def _bridged(answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """What the proxy sent for ``answer`` before: the bridge's object, dumped."""
    completion = _module().ModelResponse(**copy.deepcopy(answer))
    dumped: dict[str, Any] = responses.to_response(completion, request).model_dump(mode="json")
    return dumped


def _made_up(mine: str, their: str) -> bool:
    """Two ids of an output item, each a fresh uuid (``msg_``, ``rs_``, ``fc_``)."""
    prefix = mine.split("_", 1)[0]
    return prefix in ("msg", "rs", "fc") and their.startswith(prefix + "_")


# The router renders the Responses object as litellm 1.104.0's bridge (the lock's) did,
# whichever litellm is installed: the request's instructions, max_output_tokens, temperature
# and top_p left unset (temperature 0.0). Later bridges echo them (1.110.2, CI's second pass);
# with such a litellm installed those four fields are set aside and the rest compared.
_BRIDGE: Final = "1.104.0"
_ECHOED: Final = ("instructions", "max_output_tokens", "temperature", "top_p")
_ECHOES: Final = version("litellm") != _BRIDGE


def _same_ids(ours: Any, theirs: Any) -> Any:
    """``theirs`` with the output items' ids ours made up (a fresh uuid each, in either), and,
    under a litellm that echoes the request in its Responses object, ours of those fields."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = {k: _same_ids(ours.get(k), v) for k, v in theirs.items()}
        if _ECHOES and theirs.get("object") == "response":
            out |= {k: ours.get(k) for k in _ECHOED if k in theirs}
        for key in ("id", "item_id"):
            mine, their = ours.get(key), theirs.get(key)
            if isinstance(mine, str) and isinstance(their, str) and _made_up(mine, their):
                out[key] = mine
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [_same_ids(a, b) for a, b in zip(ours, theirs, strict=True)]
    return theirs


@given(answer=_answers, request=_requests)
@_SETTINGS
def test_response_of__a_text_answer_renders_as_the_bridge_does(
    answer: dict[str, Any], request: dict[str, Any]
) -> None:
    checked = _checked(request)
    ours = responses_plain.response_of(copy.deepcopy(answer))
    assert ours is not None
    theirs = _same_ids(ours, _bridged(answer, checked))
    assert orjson.dumps(ours) == orjson.dumps(theirs)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"finish_reason": "tool_calls"}, id="another finish reason"),
        pytest.param({"message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}},
            id="tool calls"),
        pytest.param({"message": {"role": "assistant", "content": "a", "refusal": "no"}},
                     id="a refusal"),
        pytest.param({"message": {"role": "assistant", "content": "a",
                                  "reasoning_content": "r"}}, id="reasoning"),
        pytest.param({"logprobs": {"content": []}}, id="logprobs"),
    ],
)  # fmt: skip
def test_response_of__any_other_answer_takes_the_bridge(change: dict[str, Any]) -> None:
    answer = {
        "id": "chatcmpl-1",
        "created": 1,
        "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"},
                     "finish_reason": "stop"} | change],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip
    assert responses_plain.response_of(answer) is not None or change
    assert responses_plain.response_of(answer) is None


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"usage": None}, id="no usage"),
        pytest.param({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                                "prompt_cache_hit_tokens": 1}}, id="usage beyond OpenAI's"),
        pytest.param({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                                "prompt_tokens_details": {"cached_tokens": -1}}},
                     id="odd details"),
        pytest.param({"id": "resp_1"}, id="an id litellm may read as its own"),
        pytest.param({"choices": []}, id="no choice"),
        pytest.param({"created": "1"}, id="a created time not a number"),
        pytest.param({"x_extra": 1}, id="a field beyond OpenAI's"),
    ],
)  # fmt: skip
def test_response_of__an_answer_outside_openais_fields_takes_the_bridge(
    answer: dict[str, Any],
) -> None:
    base = {
        "id": "chatcmpl-1",
        "created": 1,
        "model": "gpt-4.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip
    assert responses_plain.response_of(base) is not None
    assert responses_plain.response_of(base | answer) is None


# --- the stream -------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4.1-2025-04-14", "choices": choices, **extra}  # fmt: skip


_deltas = st.lists(
    st.fixed_dictionaries(
        {"content": st.one_of(st.none(), _text)}, optional={"refusal": st.none()}
    ),
    max_size=5,
)


@st.composite
def _streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """OpenAI's chat stream: the role, text deltas, the finish reason (alone, or with the last
    text), and usage (alone, or on the finishing chunk)."""
    chunks = [_chunk({"role": "assistant", "content": draw(st.sampled_from(["", None]))})]
    chunks += [_chunk(d) for d in draw(_deltas)]
    finish = draw(st.sampled_from(["stop", "length"]))
    usage = draw(_usage)
    where = draw(st.sampled_from(["alone", "with the finish"]))
    if draw(st.booleans()):
        chunks[-1]["choices"][0]["finish_reason"] = finish
    else:
        chunks.append(_chunk({}, finish))
    if where == "alone":
        chunks.append(_chunk(None, usage=usage))
    else:
        chunks[-1]["usage"] = usage
    return chunks


async def _bridge_events(chunks: list[dict[str, Any]], request: dict[str, Any]) -> list[Any]:
    typed = _module().types.utils.ModelResponseStream

    async def source() -> Any:
        for chunk in copy.deepcopy(chunks):
            yield typed(**chunk)

    stream = responses.ResponsesStream(source(), request, MODEL)
    return [event.model_dump(mode="json") async for event in stream]


class _Routed:
    """A routed stream of the lean path's ``Events``, in reads of ``sizes`` data events; with
    ``ended``, ``[DONE]`` came in the last read (``EventsEnded``)."""

    def __init__(self, chunks: list[dict[str, Any]], sizes: list[int], ended: bool = False) -> None:
        payloads = [orjson.dumps(c) for c in chunks]
        self.reads: list[Any] = []
        while payloads:
            size = sizes.pop(0) if sizes else 1
            last = ended and size >= len(payloads)
            self.reads.append((lean.EventsEnded if last else lean.Events)(payloads[:size]))
            payloads = payloads[size:]
        self.closed = False

    def __aiter__(self) -> _Routed:
        return self

    async def __anext__(self) -> Any:
        if not self.reads:
            raise StopAsyncIteration
        return self.reads.pop(0)

    async def aclose(self) -> None:
        self.closed = True


async def _our_events(routed: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The events the stream sends, as SSE bytes (one item per upstream read), each decoded
    (its ``event:`` name its type); ``sent`` counts them."""
    stream = responses_plain.Stream(routed, request, MODEL)
    try:
        reads = [read async for read in stream]
    finally:
        await stream.aclose()
    events = []
    for read in reads:
        for event in sse.Decoder().feed(read):  # a read's events end within it
            data = orjson.loads(event.data)
            assert event.event == data["type"].encode()
            events.append(data)
    assert stream.sent == len(events)
    return events


def _as_sent(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bridge's events as the proxy sends them: numbered, a ``response`` object naming the
    model asked for."""
    out = []
    for number, event in enumerate(copy.deepcopy(events)):
        event["sequence_number"] = number
        if isinstance(event.get("response"), dict):
            event["response"]["model"] = MODEL
        out.append(event)
    return out


def _clock_aside(event: dict[str, Any]) -> dict[str, Any]:
    """The opening events' clock set aside (the bridge's and ours read it apart)."""
    if event["type"] in ("response.created", "response.in_progress"):
        event["response"]["created_at"] = 0
    return event


def _equal_streams(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert [e["sequence_number"] for e in ours] == list(range(len(ours)))
    ours = [_incomplete_ends_so(_clock_aside(e)) for e in ours]
    theirs = [_incomplete_ends_so(_clock_aside(e)) for e in _as_sent(theirs)]
    theirs = _same_ids(ours, theirs)
    assert [e["type"] for e in ours] == [e["type"] for e in theirs]
    for mine, their in zip(ours, theirs, strict=True):
        assert orjson.dumps(mine) == orjson.dumps(their)


def _incomplete_ends_so(event: dict[str, Any]) -> dict[str, Any]:
    """The bridge's last event as 1.104.0's bridge sends it, which the router renders: later
    bridges (1.110.2) end an incomplete response in ``response.incomplete``, as OpenAI does,
    where 1.104.0 sent ``response.completed`` with the incomplete object (a stream handed to
    the bridge midway ends as the installed bridge ends it, on either side)."""
    if _ECHOES and event["type"] == "response.incomplete":
        return event | {"type": "response.completed"}
    return event


@given(
    chunks=_streams(),
    request=_requests,
    sizes=st.lists(st.integers(1, 4), max_size=4),
    ended=st.booleans(),
)
@_SETTINGS
def test_stream__a_text_stream_renders_as_the_bridge_does(
    chunks: list[dict[str, Any]], request: dict[str, Any], sizes: list[int], ended: bool
) -> None:
    """Event by event, however the upstream's reads group the data events, whether
    ``[DONE]`` comes with the last of them or after."""
    checked = _checked(request | {"stream": True})
    theirs = asyncio.run(_bridge_events(chunks, checked))
    routed = _Routed(chunks, sizes, ended)
    ours = asyncio.run(_our_events(routed, checked))
    _equal_streams(ours, theirs)
    assert routed.closed


_TEXT: Final = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk({}, "stop"),
    _chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}),
]


@pytest.mark.parametrize(("ended", "writes"), [(True, 1), (False, 2)])
def test_stream__the_closing_events_go_with_the_read_that_ends_the_stream(
    ended: bool, writes: int
) -> None:
    """``[DONE]`` in the last read: its events and the closing ones in one item (one write);
    after it, the closing events once the stream has ended."""
    request = check_responses({"model": MODEL, "input": "hi", "stream": True})

    async def reads() -> list[bytes]:
        stream = responses_plain.Stream(_Routed(_TEXT, [len(_TEXT)], ended), request, MODEL)
        return [read async for read in stream]

    got = asyncio.run(reads())
    assert len(got) == writes
    assert b"".join(got).count(b"\n\n") == 10  # 2 opening, 2 added, 2 deltas, 4 closing


@pytest.mark.parametrize(
    ("where", "departing"),
    [
        pytest.param(0, _chunk({"role": "assistant", "reasoning_content": "hm"}), id="reasoning first"),
        pytest.param(2, _chunk({"reasoning_content": "hm"}), id="reasoning mid-stream"),
        pytest.param(2, _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}]}), id="a tool call"),
        pytest.param(2, _chunk({"content": "!"}, logprobs={"content": []}), id="a field beyond"),
        pytest.param(4, _chunk({}, "content_filter"), id="another finish reason"),
        pytest.param(5, _chunk(None, usage={"prompt_tokens": 1, "completion_tokens": 1,
            "total_tokens": 2}), id="a second usage"),
        pytest.param(4, _chunk({}, "stop"), id="a second finish reason"),
        pytest.param(2, _chunk(None), id="a chunk of nothing"),
        pytest.param(2, _chunk({"content": "!"}) | {"created": None}, id="no created time"),
    ],
)  # fmt: skip
def test_stream__a_chunk_outside_text_hands_the_stream_to_the_bridge(
    where: int, departing: dict[str, Any]
) -> None:
    """From there the bridge renders it, its events already sent skipped: the stream is the
    bridge's, whether the departure comes first, mid-stream or in a read with others."""
    chunks = [*_TEXT[:where], departing, *_TEXT[where:]]
    request = check_responses({"model": MODEL, "input": "hi", "stream": True})
    theirs = asyncio.run(_bridge_events(chunks, request))
    for sizes, ended in (([], False), ([3, 3, 3], False), ([3, 3, 3], True), ([9], True)):
        routed = _Routed(chunks, list(sizes), ended)
        _equal_streams(asyncio.run(_our_events(routed, request)), theirs)
        assert routed.closed


def test_stream__litellms_chunks_are_the_bridges_stream() -> None:
    """A route litellm serves answers its chunks, not the lean path's events: the bridge's."""
    request = check_responses({"model": MODEL, "input": "hi", "stream": True})
    typed = _module().types.utils.ModelResponseStream

    async def routed() -> Any:
        for chunk in copy.deepcopy(_TEXT):
            yield typed(**chunk)

    theirs = asyncio.run(_bridge_events(_TEXT, request))
    _equal_streams(asyncio.run(_our_events(routed(), request)), theirs)


def test_stream__an_error_event_fails_the_stream_as_on_the_chat_path() -> None:
    """An error object mid-stream raises the upstream's failure (as litellm's chunks do)."""
    chunks = [*_TEXT[:2], {"error": {"message": "overloaded"}}]
    request = check_responses({"model": MODEL, "input": "hi", "stream": True})
    with pytest.raises(UpstreamFailure, match="overloaded"):
        asyncio.run(_our_events(_Routed(chunks, []), request))


def test_stream__a_data_event_not_json_fails_the_stream_as_on_the_chat_path() -> None:
    request = check_responses({"model": MODEL, "input": "hi", "stream": True})

    class Routed(_Routed):
        def __init__(self) -> None:
            super().__init__(_TEXT[:2], [])
            self.reads.append(lean.Events([b"not json"]))

    async def read() -> list[bytes]:
        stream = responses_plain.Stream(Routed(), request, MODEL)
        return [batch async for batch in stream]

    with pytest.raises(UpstreamFailure, match="not JSON"):
        asyncio.run(read())


def test_plain__an_unchecked_item_of_another_role_is_not_plain() -> None:
    """Defensive: a request not checked against the surface is judged item by item too."""
    item = {"type": "message", "role": "tool", "content": "x"}
    assert not responses_plain.plain({"model": MODEL, "input": [item]})
