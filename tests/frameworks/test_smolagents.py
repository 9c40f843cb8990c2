"""smolagents through the gate: ``LiteLLMModel("openai/gpt-4.1", user=...)``.

smolagents calls ``litellm.completion`` only (it has no async API), with ``api_base=None`` and
``api_key=None``; a keyword given to the model is passed on every call, which is how the user
id travels. Async code calls it from inside its running event loop (as a notebook does) or
from a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from smolagents import LiteLLMModel, ToolCallingAgent, tool
from smolagents.models import ChatMessage

from tests.frameworks.conftest import ANSWER, MODEL, PARIS, USER, Gate

pytestmark = pytest.mark.frameworks

QUESTION = [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
            "required": ["city", "sky"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A model that calls ``get_weather``, then ``final_answer`` with what it heard; JSON when
    asked for a schema; text otherwise."""
    if body.get("response_format"):
        return {"content": PARIS.model_dump_json()}
    if not body.get("tools"):
        return {"content": ANSWER}
    if "sunny in Paris" in json.dumps(body["messages"][1:]):
        return {"tool_calls": [("final_answer", {"answer": ANSWER})]}
    return {"tool_calls": [("get_weather", {"city": "Paris"})]}


@pytest.fixture
def model(gate: Gate) -> LiteLLMModel:
    gate.serve("ok", answer=answer)
    return LiteLLMModel(model_id=MODEL, user=USER)


def test_smolagents__generate(model: LiteLLMModel) -> None:
    assert model.generate(QUESTION).content == ANSWER


async def test_smolagents__generate_inside_a_running_event_loop(model: LiteLLMModel) -> None:
    assert model.generate(QUESTION).content == ANSWER


async def test_smolagents__generate_from_a_worker_thread(model: LiteLLMModel) -> None:
    message = await asyncio.to_thread(model.generate, QUESTION)
    assert message.content == ANSWER


def test_smolagents__generate_stream(model: LiteLLMModel) -> None:
    deltas = list(model.generate_stream(QUESTION))
    assert "".join(d.content or "" for d in deltas) == ANSWER


def test_smolagents__tool_calling_agent(model: LiteLLMModel, gate: Gate) -> None:
    agent = ToolCallingAgent(tools=[get_weather], model=model, max_steps=3, verbosity_level=0)
    assert agent.run("What is the weather in Paris?") == ANSWER
    assert len(gate.attempts()) == 2  # get_weather, then final_answer


def test_smolagents__tool_calling_agent_streaming(model: LiteLLMModel, gate: Gate) -> None:
    agent = ToolCallingAgent(
        tools=[get_weather], model=model, max_steps=3, verbosity_level=0, stream_outputs=True
    )
    assert agent.run("What is the weather in Paris?") == ANSWER
    assert all(json.loads(r.body)["stream"] for r in gate.upstream.received)


def test_smolagents__structured_output(model: LiteLLMModel, gate: Gate) -> None:
    message: ChatMessage = model.generate(QUESTION, response_format=SCHEMA)
    assert PARIS.model_validate_json(str(message.content)) == PARIS
    assert json.loads(gate.upstream.received[-1].body)["response_format"] == SCHEMA


@pytest.mark.parametrize("status", [429, 500])
def test_smolagents__transient_failure_recovered_by_the_routers_resend(
    gate: Gate, status: int
) -> None:
    gate.serve(str(status), "ok", answer=answer)
    # smolagents' own retry (a minute's wait on a rate limit) off: the router alone recovers
    unretried = LiteLLMModel(model_id=MODEL, user=USER, retry=False)
    assert unretried.generate(QUESTION).content == ANSWER
    gate.assert_recovered(status)
