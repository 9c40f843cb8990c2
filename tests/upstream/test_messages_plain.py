"""The plain Messages translation (router/_upstream/messages_plain.py) against litellm's
adapter, by property: for generated text-only requests, the chat arguments are the adapter's;
for generated chat answers, the Messages response is the adapter's (ids included: both take the
chat answer's). Requests and answers the plain path does not take are left to the adapter."""

from __future__ import annotations

import copy
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from router._core.messages import check_messages
from router._core.surface import SurfaceError
from router._upstream import messages_plain
from router._upstream.messages import Translated, adapted, adapted_message, to_chat, to_message
from router._upstream.setup import _module

MODEL: Final = "GPT 4.1"
_SETTINGS: Final = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_text = st.text(max_size=12)
_blocks = st.lists(st.builds(lambda t: {"type": "text", "text": t}, _text), max_size=3)
_content = st.one_of(_text, _blocks)
_turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": _content})
_optional = {
    "system": _content,
    "temperature": st.floats(0, 1),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(1, 50),
    "stop_sequences": st.lists(st.text(min_size=1, max_size=4), max_size=2),
    "stream": st.booleans(),
    "metadata": st.fixed_dictionaries({"user_id": st.text(min_size=1, max_size=8)}),
}
_requests = st.fixed_dictionaries(
    {
        "model": st.just(MODEL),
        "max_tokens": st.integers(1, 4096),
        "messages": st.lists(_turn, min_size=1, max_size=4),
    },
    optional=_optional,
)


@given(request=_requests, hint=st.sampled_from(["gpt-4.1", "claude-4-5-sonnet"]))
@_SETTINGS
def test_to_chat__a_plain_request_translates_as_the_adapter_does(
    request: dict[str, Any], hint: str
) -> None:
    """The same messages and arguments, and no tool names. (Every difference would reach the
    wire: the router sends the translation's arguments as they are.)"""
    try:
        checked = check_messages(request)
    except SurfaceError:  # refused before any translation (an empty content, say)
        assume(False)
        return
    assert messages_plain.plain(checked)
    ours = to_chat(checked, hint)
    assert ours == adapted(checked, hint)
    assert ours.tool_names == {}


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}, id="tools"),
        pytest.param({"thinking": {"type": "enabled", "budget_tokens": 1024}}, id="thinking"),
        pytest.param({"system": [{"type": "text", "text": "s",
                                  "cache_control": {"type": "ephemeral"}}]}, id="cache_control"),
        pytest.param({"messages": [{"role": "user", "content": [{"type": "image", "source": {
            "type": "url", "url": "https://example.com/a.png"}}]}]}, id="an image"),
    ],
)  # fmt: skip
def test_plain__anything_but_text_takes_the_adapter(extra: dict[str, Any]) -> None:
    request = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert not messages_plain.plain(check_messages(request | extra))


_usage = st.fixed_dictionaries(
    {"prompt_tokens": st.integers(0, 99), "completion_tokens": st.integers(0, 99)},
    optional={
        "prompt_cache_hit_tokens": st.integers(0, 3),  # DeepSeek's, which litellm maps
        "prompt_tokens_details": st.fixed_dictionaries(
            {"cached_tokens": st.integers(0, 3), "audio_tokens": st.just(0)}
        ),
        "completion_tokens_details": st.just({"reasoning_tokens": 0}),
    },
)
_call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
_message = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": st.one_of(st.none(), _text)},
    optional={
        "refusal": st.one_of(st.none(), st.just("no")),
        "tool_calls": st.sampled_from([None, [], [_call]]),
        "reasoning_content": st.sampled_from([None, "", "thought"]),
        "annotations": st.just([]),
    },
)
_choice = st.fixed_dictionaries(
    {
        "index": st.just(0),
        "message": _message,
        "finish_reason": st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]),
    }
)
_answers = st.fixed_dictionaries(
    {
        "id": st.just("chatcmpl-1"),
        "object": st.just("chat.completion"),
        "created": st.just(1),
        "model": st.just("gpt-4.1-2025-04-14"),
        "choices": st.lists(_choice, min_size=1, max_size=2),
        "usage": _usage,  # litellm's adapter fails on an answer without (the lean path's have)
    }
)


@given(answer=_answers)
@_SETTINGS
def test_to_message__a_chat_answer_renders_as_the_adapter_does(answer: dict[str, Any]) -> None:
    """Text answers are rendered by the plain path, others by the adapter: equal either way."""
    response = _module().ModelResponse(**copy.deepcopy(answer))
    translated = Translated([], {})
    expected = adapted_message(response, MODEL, translated)
    assert to_message(response, MODEL, translated) == expected
    # The lean path's JSON object, as it answers a plain request (``parsed``): the same.
    assert to_message(answer, MODEL, translated) == expected


def test_to_message__a_text_answer_takes_the_plain_path() -> None:
    answer = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }  # fmt: skip
    response = _module().ModelResponse(**answer)
    assert messages_plain.to_message(response, MODEL) == {
        "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": MODEL,
        "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1},
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "max_tokens",
    }  # fmt: skip


def test_message_of__a_text_answer_takes_the_plain_path() -> None:
    answer = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi",
                     "refusal": None, "annotations": []}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
    }  # fmt: skip
    assert messages_plain.message_of(answer, MODEL) == {
        "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": MODEL,
        "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1},
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
    }  # fmt: skip


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"content": None, "tool_calls": [_call]}, id="a tool call"),
        pytest.param({"content": "x", "reasoning_content": "r"}, id="reasoning"),
        pytest.param({"content": None, "refusal": "no"}, id="a refusal"),
    ],
)
def test_to_message__any_other_answer_is_left_to_the_adapter(message: dict[str, Any]) -> None:
    answer = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant"} | message,
                                      "finish_reason": "stop"}]}  # fmt: skip
    assert messages_plain.to_message(_module().ModelResponse(**answer), MODEL) is None
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    assert messages_plain.message_of(answer | {"usage": usage}, MODEL) is None
