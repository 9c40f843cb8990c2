"""The accepted request surface (router/_core/surface.py): shapes, messages, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from router._core.surface import PARAMETERS, SurfaceError, check_request, refusal

HELLO = [{"role": "user", "content": "hi"}]


class _Message:
    """What litellm's ``Message`` looks like to the check: a pydantic object."""

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]}  # fmt: skip


def test_check_request__accepts_a_tool_loop_with_litellm_messages() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    messages = [*HELLO, _Message(), {"role": "tool", "tool_call_id": "c1", "content": "42"}]

    checked = check_request({"messages": messages, "tools": tools, "tool_choice": "auto"})

    assert checked["messages"][1] == {  # as a plain dict, its None values left out
        k: v for k, v in _Message().model_dump().items() if v is not None
    }
    assert checked["tools"] == tools


def test_check_request__drops_none_values() -> None:
    assert check_request({"messages": HELLO, "temperature": None}) == {"messages": HELLO}


@pytest.mark.parametrize(
    ("arguments", "param", "message"),
    [
        pytest.param({"messages": []}, "messages", "messages: expected a list of at least 1 item(s), got a list of 0 items", id="no messages"),
        pytest.param({"messages": [{"role": "robot"}]}, "messages", "messages[0].role: expected one of 'system'", id="a role"),
        pytest.param({"messages": [{"role": "user", "user_id": "x"}]}, "messages", "messages[0].user_id: expected no such field", id="a message key"),
        pytest.param({"n": 1.5}, "n", "n: expected an integer, got a number", id="an integer"),
        pytest.param({"n": True}, "n", "n: expected an integer, got true", id="a boolean is no integer"),
        pytest.param({"tool_choice": {"type": "function", "function": {"name": "f", "x": 1}}}, "tool_choice", "tool_choice.function.x: expected no such field", id="deep in one branch of either"),
        pytest.param({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format", "response_format.json_schema.name: expected a value (required)", id="a required field"),
    ],
)  # fmt: skip
def test_check_request__names_the_place_and_what_was_expected(
    arguments: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(SurfaceError) as caught:
        check_request(arguments)
    assert caught.value.param == param
    assert str(caught.value).startswith(message)


def test_check_request__the_proxy_leaves_the_deadline_to_the_operator() -> None:
    assert check_request({"timeout": 5}) == {"timeout": 5}
    with pytest.raises(SurfaceError, match="'timeout' is not accepted by the proxy"):
        check_request({"timeout": 5}, proxy=True)


@pytest.mark.parametrize(
    ("name", "starts"),
    [
        ("api_base", "the router chooses the backend from the policy; remove 'api_base'"),
        ("aws_region_name", "the router chooses the backend from the policy"),
        ("extra_headers", "'extra_headers' would reach the provider unchecked"),
        ("frobnicate", "unsupported argument 'frobnicate': the proxy forwards"),
    ],
)
def test_refusal__says_what_to_do(name: str, starts: str) -> None:
    assert refusal(name, proxy=True).startswith(starts)


def test_parameters__every_one_says_what_the_router_does() -> None:
    assert all(p.handling for p in PARAMETERS.values())
    assert {"extra_body", "api_key", "api_base", "base_url"}.isdisjoint(PARAMETERS)


def test_check_request__none_is_absent_whatever_the_name() -> None:
    arguments = {"messages": HELLO, "api_key": None, "base_url": None, "custom_llm_provider": None}

    assert check_request(arguments) == {"messages": HELLO}


def test_check_request__bookkeeping_is_accepted_and_marked_consumed() -> None:
    from router._core.surface import CONSUMED

    arguments = {
        "cache": {"no-cache": True},
        "caching": False,
        "retry_strategy": "exponential_backoff_retry",
        "drop_params": True,
        "base_model": "gpt-4",
        "num_ctx": 4096,
        "_skip_mcp_handler": True,
        "headers": {"user-agent": "DSPy/3.4.1"},
        "extra_headers": {"User-Agent": "Agents/Python"},
        "metadata": {"nested": {"list": [1, "a"]}},
    }

    assert arguments.keys() <= CONSUMED
    assert check_request(arguments) == {}  # checked, then left out: never forwarded


def test_check_request__a_header_other_than_the_harmless_ones_is_refused() -> None:
    with pytest.raises(SurfaceError) as caught:
        check_request({"headers": {"User-Agent": "x", "X-Secret": "s3cr3t-value"}})

    assert caught.value.param == "headers"
    assert "s3cr3t-value" not in str(caught.value)
    assert str(caught.value).startswith("'headers' may carry only these headers")


class _Answer:
    """A pydantic model class as litellm's callers pass it (duck-typed: model_json_schema)."""

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"a": {"type": "string", "default": None}, "b": {"$ref": "#/$defs/B"}},
            "$defs": {"B": {"type": "object", "properties": {"c": {"type": "integer"}}}},
        }


@pytest.mark.parametrize("given", [_Answer, _Answer()], ids=["a class", "an instance"])
def test_check_request__a_pydantic_response_format_becomes_its_strict_schema(given: Any) -> None:
    checked = check_request({"response_format": given})["response_format"]

    assert checked == {
        "type": "json_schema",
        "json_schema": {
            "name": "_Answer",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"$ref": "#/$defs/B"}},
                "$defs": {
                    "B": {
                        "type": "object",
                        "properties": {"c": {"type": "integer"}},
                        "additionalProperties": False,
                        "required": ["c"],
                    }
                },
                "additionalProperties": False,
                "required": ["a", "b"],
            },
        },
    }


@pytest.mark.parametrize(
    ("name", "proxy", "hint"),
    [
        ("temprature", False, "; did you mean 'temperature'?"),
        ("max_token", True, "; did you mean 'max_tokens'?"),
        ("drop_param", False, "; did you mean 'drop_params'?"),
        ("truncation", False, ""),
    ],
)
def test_refusal__suggests_the_closest_accepted_name(name: str, proxy: bool, hint: str) -> None:
    message = refusal(name, proxy=proxy)

    assert message.endswith(f"remove it{hint} (see docs/library.md, 'Accepted request surface')")


def test_responses_and_messages_refusals__suggest_too() -> None:
    from router._core.messages import refusal as messages_refusal
    from router._core.responses import check_responses

    with pytest.raises(SurfaceError, match="did you mean 'max_output_tokens'"):
        check_responses({"input": "hi", "max_output_token": 5})
    assert "did you mean 'max_tokens'?" in messages_refusal("max_token")
