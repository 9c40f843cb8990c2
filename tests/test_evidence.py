"""The library's side of the evidence: bad input raises InvalidRequest (never a raw
UnicodeEncodeError or RecursionError), and what it records holds no caller string."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from router import InvalidRequest, PolicyRouter, UnknownModel
from tests.apis import test_messages

USER: Final = "library-user-5e2a"
CONTENT: Final = "my diagnosis is lib-content-81"
HELLO: Final = [{"role": "user", "content": "hi"}]


lines, router = test_messages.lines, test_messages.router  # its offline router and records


def _deep(levels: int) -> Any:
    value: Any = CONTENT
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("call", "param", "message"),
    [
        pytest.param(
            {"user": "\ud800abc"}, "user",
            "user: expected valid Unicode text (no lone surrogate, such as \\ud800 in JSON), "
            "got a string of 4 characters (see docs/library.md, 'Accepted request surface')",
            id="a lone surrogate in the user",
        ),
        pytest.param(
            {"model": "GPT\ud800"}, "model",
            "model: expected valid Unicode text (no lone surrogate, such as \\ud800 in JSON), "
            "got a string of 4 characters (see docs/library.md, 'Accepted request surface')",
            id="a lone surrogate in the model",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": "x\udfff"}]}, "messages",
            "messages[0].content: expected valid Unicode text (no lone surrogate, such as "
            "\\ud800 in JSON), got a string of 2 characters (see docs/library.md, 'Accepted request surface')",
            id="a lone surrogate in the content",
        ),
        pytest.param(
            {"metadata": {"k\ud800": "v"}}, "metadata",
            "metadata.{key#0}: expected a key of valid Unicode text (no lone surrogate, such as "
            "\\ud800 in JSON), got a string of 2 characters (see docs/library.md, 'Accepted request "
            "surface')",
            id="a lone surrogate in a metadata key",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": _deep(62)}]}, "messages",
            "messages: expected at most 64 levels of nesting, got a value nested deeper than "
            "64 levels (see docs/library.md, 'Accepted request surface')",
            id="nesting past 64 levels",
        ),
        pytest.param(
            {"messages": [{"role": "user", "content": _deep(5000)}]}, "messages",
            "messages: expected at most 64 levels of nesting, got a value nested deeper than "
            "64 levels (see docs/library.md, 'Accepted request surface')",
            id="nesting past the interpreter's stack",
        ),
    ],
)  # fmt: skip
async def test_acompletion__bad_text_and_nesting_raise_invalid_request(
    router: PolicyRouter, lines: list[str], call: dict[str, Any], param: str, message: str
) -> None:
    arguments = {"model": "GPT 4.1", "messages": HELLO, "user": USER} | call
    with pytest.raises(InvalidRequest) as refused:
        await router.acompletion(**arguments)
    assert (str(refused.value), refused.value.param) == (message, param)
    (record,) = [json.loads(line) for line in lines]
    assert (record["event"], record["reason"]) == ("route.refused", "InvalidRequest")
    assert USER not in "".join(lines)
    assert "diagnosis" not in "".join(lines)


async def test_acompletion__nesting_of_64_levels_is_accepted(router: PolicyRouter) -> None:
    content = _deep(61)  # the request (1), messages (2), the message (3), content: 4 to 64
    response = await router.acompletion("GPT 4.1", [{"role": "user", "content": content}], USER)
    assert response.choices[0].message.content


async def test_acompletion__an_unknown_model_is_recorded_as_a_keyed_hash_and_its_length(
    router: PolicyRouter, lines: list[str]
) -> None:
    with pytest.raises(UnknownModel) as refused:
        await router.acompletion(CONTENT, HELLO, USER)
    assert "diagnosis" not in str(refused.value)
    (record,) = [json.loads(line) for line in lines]
    assert record["model"] is None
    assert record["asked"] == {
        "hash": router.pipeline._pseudonymizer.for_name(CONTENT),
        "length": len(CONTENT),
    }
    assert "diagnosis" not in lines[0]


async def test_acompletion__a_misspelt_field_never_lands_its_value_in_the_record(
    router: PolicyRouter, lines: list[str]
) -> None:
    """The issue's example: ``contents`` for ``content`` put the diagnosis in the audit log."""
    with pytest.raises(InvalidRequest) as refused:
        await router.acompletion("GPT 4.1", [{"role": "user", "contents": CONTENT}], USER)
    assert str(refused.value) == (
        "messages[0].contents: expected no such field (this object takes role, content, name, "
        "tool_calls, tool_call_id, function_call, refusal, audio, reasoning_content, "
        "thinking_blocks, annotations, cache_control, provider_specific_fields), got a string "
        "of 30 characters (see docs/library.md, 'Accepted request surface')"
    )
    assert "diagnosis" not in "".join(lines)


async def test_acompletion__an_argument_named_like_the_user_is_withheld_from_the_record(
    router: PolicyRouter, lines: list[str]
) -> None:
    with pytest.raises(InvalidRequest):
        await router.acompletion("GPT 4.1", HELLO, "alice", alice=1)
    (record,) = [json.loads(line) for line in lines]
    assert (record["detail"], record["withheld"]) == ("[withheld]", ["detail"])
    assert "alice" not in lines[0]


@pytest.mark.parametrize("request_id", [USER, f"req-{USER}"])
async def test_acompletion__a_request_id_holding_the_user_is_refused(
    router: PolicyRouter, lines: list[str], request_id: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await router.acompletion("GPT 4.1", HELLO, USER, request_id=request_id)
    assert refused.value.param == "request_id"
    assert str(refused.value) == (
        "request_id holds the user id; the request id is copied into every audit record and "
        "log line, where the id must never be: pass a random id (or none, and the router "
        "makes one)"
    )
    (record,) = [json.loads(line) for line in lines]
    assert record["event"] == "route.refused"
    assert USER not in lines[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"timeout": "soon"}, "'timeout' must be a finite number of seconds for the whole call (got a string of 4 characters); an httpx.Timeout is not accepted: pass its total as a number", id="timeout"),
        pytest.param({"num_retries": -3}, "'num_retries' must be a whole number of 0 or more (got a negative integer): how many times a transient failure is resent to the same route", id="num_retries"),
        pytest.param({"temperature": CONTENT}, "temperature: expected a number, got a string of 30 characters (see docs/library.md, 'Accepted request surface')", id="a typed field"),
        pytest.param({"privacy": {"allow_training": CONTENT}}, "'allow_training' must be true or false (got a string of 30 characters)", id="privacy"),
    ],
)  # fmt: skip
async def test_acompletion__refusals_name_the_kind_never_the_value(
    router: PolicyRouter, lines: list[str], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="got a") as refused:
        await router.acompletion("GPT 4.1", HELLO, USER, **arguments)
    assert str(refused.value) == message
    assert "diagnosis" not in "".join(lines)
