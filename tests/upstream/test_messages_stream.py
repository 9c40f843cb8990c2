"""A plain Messages request's stream rendered without litellm (router/_upstream/messages_stream.py,
through router/_upstream/messages.py's ``event_batches``) against litellm's
``AnthropicStreamWrapper``, by property: for generated chat chunk streams (text deltas, empty
ones among them, finish reasons, a usage chunk or none, usage on the finish chunk or on
every chunk, content and finish at once), the same events, in the same order, with the same
fields (the message id aside: each makes its own), and each at the same point of the stream:
after the same chunk. A chunk the renderer does not know (tool calls, reasoning, a refusal,
another finish reason, cached tokens) hands the rest to litellm's wrapper, started in the
renderer's state: the events are the same as the wrapper's alone."""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router._upstream import lean, messages_stream
from router._upstream.messages import Translated, _adapter_module, _json, event_batches
from router._upstream.setup import _module

MODEL: Final = "GPT 4.1"
_SETTINGS: Final = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
_ID: Final = re.compile(r"^msg_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEAD: Final = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4.1-2025-04-14"}  # fmt: skip

_usage = st.fixed_dictionaries(
    {"prompt_tokens": st.integers(0, 99), "completion_tokens": st.integers(0, 99)},
    optional={
        "total_tokens": st.integers(0, 200),
        "prompt_tokens_details": st.fixed_dictionaries(
            {"cached_tokens": st.just(0), "audio_tokens": st.just(0)}
        ),
        "completion_tokens_details": st.just({"reasoning_tokens": 0}),
    },
)
_delta = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": st.one_of(st.none(), st.just(""), st.text(max_size=6)),
        "refusal": st.none(),
    },
)
_choice = st.fixed_dictionaries(
    {"index": st.just(0), "delta": _delta},
    optional={
        "finish_reason": st.sampled_from([None, None, None, "stop", "length"]),
        "logprobs": st.none(),
    },
)
_plain_chunk = st.one_of(
    st.fixed_dictionaries(
        {"choices": st.lists(_choice, min_size=1, max_size=1)},
        optional={"usage": st.one_of(st.none(), _usage), "system_fingerprint": st.just("fp")},
    ),
    st.fixed_dictionaries({"choices": st.just([]), "usage": st.one_of(st.none(), _usage)}),
)
# Chunks the renderer leaves to litellm's wrapper.
_call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
_other_chunk = st.sampled_from(
    [
        {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "content_filter"}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [_call]}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "r"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"refusal": "no"}, "finish_reason": None}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2,
                                  "prompt_tokens_details": {"cached_tokens": 4}}},
    ]
)  # fmt: skip
_plain_stream = st.lists(_plain_chunk, max_size=8)
_any_stream = st.lists(st.one_of(_plain_chunk, _plain_chunk, _other_chunk), max_size=8)


def _full(chunk: dict[str, Any]) -> dict[str, Any]:
    return _HEAD | chunk


async def _source(
    batches: list[list[dict[str, Any]]], trace: list[Any], *, litellm: bool, ended: bool = False
) -> AsyncIterator[Any]:
    """The chunks as the lean path gives them (``lean.Chunks`` per read; with ``ended`` the
    last read's ``lean.Ended``: ``[DONE]`` came with it), or as litellm's chunks one by one;
    each pulled chunk leaves a mark in ``trace``."""
    chunk_type = _module().types.utils.ModelResponseStream
    number = 0
    for count, batch in enumerate(batches, 1):
        if litellm:
            for chunk in batch:
                trace.append(("chunk", number))
                number += 1
                yield chunk_type(**copy.deepcopy(chunk))
        else:
            trace.append(("chunk", number))
            number += len(batch)
            last = ended and count == len(batches)
            yield (lean.Ended if last else lean.Chunks)(copy.deepcopy(batch))


async def _ours(batches: list[list[dict[str, Any]]], *, ended: bool = False) -> list[Any]:
    """The renderer's events, each in the trace after the chunk it came of."""
    trace: list[Any] = []
    source = _source(batches, trace, litellm=False, ended=ended)
    async for batch in event_batches(source, MODEL, Translated([], {})):
        trace.extend(batch)
    return trace


async def _wrapper(chunks: list[dict[str, Any]]) -> list[Any]:
    """litellm's wrapper's events over the same chunks, each after the chunk it came of."""
    trace: list[Any] = []
    source = _source([chunks], trace, litellm=True)
    _module()
    wrapper = _adapter_module("streaming_iterator").AnthropicStreamWrapper(
        completion_stream=source, model=MODEL
    )
    async for event in wrapper:
        trace.append(_json(event))
    return trace


def _same_ids(trace: list[Any]) -> list[Any]:
    """``trace`` with message_start's id checked for its form and set to one value; its
    message_start first (the renderer's comes with the first chunk's events, in one write)."""
    events = [e for e in trace if isinstance(e, dict)]
    starts = [e for e in events if e["type"] == "message_start"]
    assert len(starts) == 1
    assert _ID.match(starts[0]["message"]["id"])
    starts[0]["message"]["id"] = "msg_"
    return [starts[0], *(e for e in trace if e is not starts[0])]


@given(chunks=_any_stream)
@_SETTINGS
def test_event_batches__each_event_is_the_wrappers_after_the_same_chunk(
    chunks: list[dict[str, Any]],
) -> None:
    """One chunk per read: the events between two chunks are the wrapper's between them."""
    full = [_full(c) for c in chunks]
    ours = asyncio.run(_ours([[c] for c in full]))
    assert _same_ids(ours) == _same_ids(asyncio.run(_wrapper(full)))


@given(chunks=_plain_stream, cuts=st.lists(st.integers(0, 8), max_size=4), ended=st.booleans())
@_SETTINGS
def test_event_batches__a_plain_stream_in_any_reads_is_the_wrappers(
    chunks: list[dict[str, Any]], cuts: list[int], ended: bool
) -> None:
    """Several chunks per read, the last with the stream's end or not: the same events
    (written together per read)."""
    full = [_full(c) for c in chunks]
    bounds = sorted({0, len(full), *(min(c, len(full)) for c in cuts)})
    batches = [full[a:b] for a, b in itertools.pairwise(bounds)] or [[]]
    ours = [e for e in asyncio.run(_ours(batches, ended=ended)) if isinstance(e, dict)]
    expected = [e for e in asyncio.run(_wrapper(full)) if isinstance(e, dict)]
    assert _same_ids(ours) == _same_ids(expected)


def test_event_batches__a_text_stream_takes_the_renderer() -> None:
    """A typical answer: a role chunk, text, the finish, the usage chunk (OpenAI's
    ``include_usage``), two reads; the events as Anthropic's SDK reads them."""
    reads = [
        [_full({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "finish_reason": None, "logprobs": None}], "usage": None}),
         _full({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})],
        [_full({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
         _full({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1}})],
    ]  # fmt: skip
    trace = asyncio.run(_ours(reads, ended=True))
    start, *rest = _same_ids(trace)
    assert start["message"] == {
        "id": "msg_", "type": "message", "role": "assistant", "content": [], "model": MODEL,
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }  # fmt: skip
    assert rest == [
        ("chunk", 0),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        ("chunk", 2),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
         "usage": {"input_tokens": 5, "output_tokens": 1}},
        {"type": "message_stop"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param({"choices": [{"delta": {"content": "x"}, "finish_reason": "eos"}]},
                     id="another finish reason"),
        pytest.param({"choices": [{"delta": {"content": "x"}, "logprobs": {"content": []}}]},
                     id="logprobs"),
        pytest.param({"choices": [{"index": 1, "delta": {"content": "x"}}]}, id="a second choice"),
        pytest.param({"choices": [{"delta": {"role": "tool", "content": "x"}}]}, id="a role"),
        pytest.param({"choices": [{"finish_reason": "stop"}]}, id="no delta"),
        pytest.param({"choices": [{"delta": {"content": 5}}]}, id="content not text"),
        pytest.param({"choices": [{"delta": {}}, {"delta": {}}]}, id="two choices"),
        pytest.param({"choices": ["x"]}, id="a choice not an object"),
        pytest.param({"choices": [{"delta": {}, "x": 1}]}, id="a field of a choice"),
        pytest.param({"choices": None}, id="no choices"),
        pytest.param({"choices": [], "citations": []}, id="a field of a chunk"),
        pytest.param({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": -1}},
                     id="negative tokens"),
    ],
)  # fmt: skip
def test_feed__a_chunk_it_does_not_know_is_left_to_litellm(chunk: dict[str, Any]) -> None:
    render = messages_stream.Render(MODEL)
    out: list[dict[str, Any]] = []
    assert not render.feed(chunk, out)
    assert out == []
