"""The plain Responses translation (router/_upstream/responses_plain.py) against litellm's
bridge, by property: for generated text-only requests, the chat arguments are the bridge's;
for generated chat answers, the Responses object is the bridge's, dumped as the proxy sends
it; for generated chat streams, the events are the bridge's, rendered as the proxy sends them.
The ids and timestamps the bridge makes up (``msg_<uuid>``, ``created_at`` of the stream's
first events) are set equal before comparing; everything else, key order included, is held."""

from __future__ import annotations

import copy
from typing import Any, Final

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from router._core.responses import check_responses
from router._core.surface import SurfaceError
from router._upstream import responses, responses_plain
from router._upstream.setup import _module

MODEL: Final = "GPT 4.1"
_SETTINGS: Final = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_text = st.text(max_size=12)
_parts = st.lists(
    st.builds(lambda k, t: {"type": k, "text": t}, st.sampled_from(["input_text", "output_text"]), _text),
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


def _same_ids(ours: Any, theirs: Any) -> Any:
    """``theirs`` with the message ids ours made up (a fresh uuid each, in either)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = {k: _same_ids(ours.get(k), v) for k, v in theirs.items()}
        for key in ("id", "item_id"):
            mine, their = ours.get(key), theirs.get(key)
            if isinstance(mine, str) and isinstance(their, str) and mine[:4] == their[:4] == "msg_":
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
