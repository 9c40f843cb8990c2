"""dspy through the gate: ``dspy.LM("openai/gpt-4.1", user=...)`` on its litellm engine.

dspy calls ``litellm.completion`` (sync) and ``litellm.acompletion`` (async, streams), always
with ``cache``, ``retry_strategy``, ``num_retries`` and ``headers``. The user id is a keyword of
the LM, which dspy passes on every call. ``engine="litellm"`` is dspy's own switch for its
litellm backend; its default engine calls OpenAI with its own client, which only strict mode
can stop (tests/gate/test_strict.py; the last test here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest

import router
from tests.frameworks.conftest import ANSWER, MODEL, PARIS, USER, Gate, Weather, provider
from tests.test_router import Audit, make_router

pytestmark = pytest.mark.frameworks


class Forecast(dspy.Signature):
    """Tell the weather of a city."""

    city: str = dspy.InputField()
    weather: Weather = dspy.OutputField()


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _fields(system: str) -> list[str]:
    """The output fields dspy's adapter asks for, in its order."""
    listed = system.split("Your output fields are:")[1].split("All interactions")[0]
    return re.findall(r"^\d+\. `(\w+)`", listed, re.MULTILINE)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """What a model answers to dspy's prompts: each output field dspy asked for, in its format;
    a ReAct loop calls ``get_weather`` until it has seen the tool's answer, then finishes."""
    observed = "sunny in Paris" in json.dumps(body["messages"][1:])
    values: dict[str, Any] = {
        "reasoning": "The tool knows.",
        "answer": ANSWER,
        "next_thought": "Ask the tool." if not observed else "I know now.",
        "next_tool_name": "finish" if observed else "get_weather",
        "next_tool_args": {} if observed else {"city": "Paris"},
        "weather": PARIS.model_dump(),
    }
    fields = _fields(body["messages"][0]["content"])
    if body.get("response_format"):
        return {"content": json.dumps({name: values[name] for name in fields})}
    parts = [
        f"[[ ## {name} ## ]]\n{v if isinstance(v := values[name], str) else json.dumps(v)}\n\n"
        for name in fields
    ]
    return {"content": "".join(parts) + "[[ ## completed ## ]]\n"}


@pytest.fixture
def lm(gate: Gate) -> Iterator[dspy.LM]:
    gate.serve("ok", answer=answer)
    lm = dspy.LM(MODEL, engine="litellm", cache=False, user=USER)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        yield lm


def test_dspy__predict(lm: dspy.LM) -> None:
    assert dspy.Predict("question -> answer")(question="Weather?").answer == ANSWER


async def test_dspy__predict_async(lm: dspy.LM) -> None:
    prediction = await dspy.Predict("question -> answer").acall(question="Weather?")
    assert prediction.answer == ANSWER


def _listened() -> dict[str, Any]:
    listener = dspy.streaming.StreamListener(signature_field_name="answer")
    return {"stream_listeners": [listener]}


async def test_dspy__stream(lm: dspy.LM) -> None:
    program = dspy.streamify(dspy.Predict("question -> answer"), **_listened())
    out = [item async for item in program(question="Weather?")]
    chunks = [o.chunk for o in out if isinstance(o, dspy.streaming.StreamResponse)]
    assert "".join(chunks).strip() == ANSWER
    assert out[-1].answer == ANSWER


def test_dspy__stream_sync(lm: dspy.LM) -> None:
    program = dspy.streamify(dspy.Predict("question -> answer"), async_streaming=False)
    out = list(program(question="Weather?"))
    assert out[-1].answer == ANSWER


def test_dspy__react_tool_loop(lm: dspy.LM, gate: Gate) -> None:
    agent = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)
    prediction = agent(question="What is the weather in Paris?")
    assert prediction.answer == ANSWER
    assert prediction.trajectory["observation_0"] == "sunny in Paris"
    assert len(gate.attempts()) == 3  # get_weather, finish, the extraction


async def test_dspy__react_tool_loop_async(lm: dspy.LM) -> None:
    agent = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)
    prediction = await agent.acall(question="What is the weather in Paris?")
    assert prediction.trajectory["observation_0"] == "sunny in Paris"


def test_dspy__structured_output_as_json_schema(lm: dspy.LM, gate: Gate) -> None:
    with dspy.context(adapter=dspy.JSONAdapter()):
        prediction = dspy.Predict(Forecast)(city="Paris")
    assert prediction.weather == PARIS
    sent = json.loads(gate.upstream.received[-1].body)
    assert sent["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("status", [429, 500])
def test_dspy__transient_failure_recovered_by_the_routers_resend(
    lm: dspy.LM, gate: Gate, status: int
) -> None:
    gate.serve(str(status), "ok", answer=answer)
    assert dspy.Predict("question -> answer")(question="Weather?").answer == ANSWER
    gate.assert_recovered(status)


def test_dspy__default_engine_under_strict_mode_reaches_the_provider_only_through_the_router(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # dspy's default engine ("auto") prefers its vendored lm15 client, which calls OpenAI with
    # a client of its own that the litellm gate never sees; here it falls back to litellm for
    # this call. Either way, under strict mode nothing may reach the provider unaudited: a
    # request of its own client is refused before it is sent (tests/gate/test_strict.py), and
    # one through litellm is routed.
    with provider(monkeypatch) as upstream:
        audit = Audit()
        policy_router = make_router(
            tmp_path, audit, providers={"openai": {"api_base": upstream.base}}
        )
        router.install(policy_router, strict=True)
        try:
            answered = dspy.LM(MODEL, cache=False, user=USER)("Weather?")
        finally:
            router.uninstall()
            policy_router.close()
    assert answered == ["hello from the fake upstream"]
    sends = [a["sends"] for a in audit.events("route.attempt")]
    assert sends == [1] * len(upstream.received) == [1]
    assert USER not in upstream.received[0].text()
