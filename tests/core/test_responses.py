"""The Responses API's accepted surface (router/_core/responses.py): shapes and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from router._core.responses import (
    BACKGROUND_REFUSED,
    CONVERSATION_REFUSED,
    PREVIOUS_REFUSED,
    RESPONSES,
    STORE_REFUSED,
    check_responses,
)
from router._core.surface import PARAMETERS, SurfaceError

TOOL = {"type": "function", "name": "f", "parameters": {"type": "object"}}
LOOP = [
    {"role": "user", "content": "weather?"},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}", "id": "fc_1"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}],
    },
]


def test_check_responses__accepts_a_tool_loop_and_every_declared_field() -> None:
    arguments = {
        "input": LOOP,
        "instructions": "Be brief.",
        "max_output_tokens": 10.0,
        "temperature": 0.5,
        "top_p": 1,
        "tools": [TOOL],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": True,
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {}, "strict": True}},
        "reasoning": {"effort": "low"},
        "stream": False,
        "safety_identifier": "x",
        "prompt_cache_key": "y",
        "metadata": {"k": "v"},
        "store": False,
        "background": False,
        "previous_response_id": None,
    }

    checked = check_responses(arguments)

    assert checked["input"] == LOOP
    assert checked["max_output_tokens"] == 10  # JSON's 10.0 is the integer 10
    assert "previous_response_id" not in checked  # null: left out


@pytest.mark.parametrize(
    ("arguments", "param", "message"),
    [
        pytest.param({"store": True}, "store", STORE_REFUSED, id="store true"),
        pytest.param({"store": "no"}, "store", "store: expected false, got a string of 2 characters", id="store of another type"),
        pytest.param({"background": True}, "background", BACKGROUND_REFUSED, id="background true"),
        pytest.param({"previous_response_id": "resp_1"}, "previous_response_id", PREVIOUS_REFUSED, id="previous_response_id"),
        pytest.param({"conversation": {"id": "conv_1"}}, "conversation", CONVERSATION_REFUSED, id="conversation"),
        pytest.param({"input": []}, "input", "input: expected a list of at least 1 item(s), got a list of 0 items", id="no items"),
        pytest.param({"input": [{"type": "reasoning", "summary": []}]}, "input", "input[0].type: expected one of 'message', 'function_call', 'function_call_output', got a string of 9 characters", id="a reasoning item"),
        pytest.param({"input": [{"role": "robot", "content": "x"}]}, "input", "input[0].role: expected one of 'user'", id="a role"),
        pytest.param({"input": [7]}, "input", "input[0]: expected an object (an input item), got an integer", id="an item that is no object"),
        pytest.param({"input": [{"role": "user", "content": "x", "user_id": "u"}]}, "input", "input[0].user_id: expected no such field", id="a key of a message item"),
        pytest.param({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input", "input[0]: an item_reference names an item stored at the provider", id="an item reference"),
        pytest.param({"input": LOOP[2:]}, "input", "input[0]: this function_call_output's call_id matches no function_call item before it", id="an output without its call"),
        pytest.param({"tools": [{"type": "mcp", "server_url": "https://x"}]}, "tools", "tools[0]: the built-in tool 'mcp' is refused", id="an mcp tool"),
        pytest.param({"tools": [{"type": "function"}]}, "tools", "tools[0].name: expected a value (required)", id="a function without a name"),
        pytest.param({"tool_choice": "any"}, "tool_choice", "tool_choice: expected one of 'none', 'auto', 'required', got a string of 3 characters", id="a tool choice"),
        pytest.param({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning", "reasoning.summary: expected no such field", id="a reasoning summary"),
        pytest.param({"text": {"format": {"type": "json_schema"}, "verbosity": "low"}}, "text", "text.verbosity: expected no such field", id="text verbosity"),
        pytest.param({"temperature": float("nan")}, "temperature", "temperature: expected a finite number", id="NaN"),
        pytest.param({"truncation": "auto"}, "truncation", "unsupported argument 'truncation': policy-router accepts", id="an unknown argument"),
        pytest.param({"include": ["x"]}, "include", "include[0]: not an include value the router accepts", id="an unknown include value"),
        pytest.param({"extra_body": {"store": True}}, "extra_body", "'extra_body' would reach the provider unchecked", id="extra_body"),
    ],
)  # fmt: skip
def test_check_responses__names_the_place_and_the_reason(
    arguments: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(SurfaceError) as caught:
        check_responses({"input": "hi"} | arguments)

    assert caught.value.param == param
    assert str(caught.value).startswith(message)


def test_check_responses__input_is_required() -> None:
    with pytest.raises(SurfaceError) as caught:
        check_responses({"temperature": 1})

    assert caught.value.param == "input"


def test_check_responses__the_proxy_leaves_the_deadline_to_the_operator() -> None:
    assert check_responses({"input": "hi", "timeout": 5}) == {"input": "hi", "timeout": 5}
    with pytest.raises(SurfaceError, match="'timeout' is not accepted by the proxy"):
        check_responses({"input": "hi", "timeout": 5}, proxy=True)
    with pytest.raises(SurfaceError, match="unsupported argument 'truncation': the proxy"):
        check_responses({"input": "hi", "truncation": "auto"}, proxy=True)


def test_responses_surface__identifiers_are_chats() -> None:
    """The identifier fields take chat's shapes: they are scrubbed by chat's rules."""
    for name in ("user", "safety_identifier", "prompt_cache_key", "metadata", "privacy"):
        assert RESPONSES[name].check is PARAMETERS[name].check


def test_check_responses__null_fields_of_an_item_handed_back_are_left_out() -> None:
    call = LOOP[1] | {"caller": None, "namespace": None}

    checked = check_responses({"input": [call, LOOP[2]]})

    assert checked["input"][0] == LOOP[1]
