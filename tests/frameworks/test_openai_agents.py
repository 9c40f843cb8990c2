"""openai-agents through the gate: ``Agent(model=LitellmModel("openai/gpt-4.1"))``.

LitellmModel calls ``litellm.acompletion`` only, with ``api_key=None``, ``base_url=None``,
``extra_headers`` (its User-Agent) and, with tools, ``_skip_mcp_handler``. The user id goes in
``ModelSettings(extra_args={"user": ...})``, which it merges into every call.
``Runner.run_sync`` is its sync form. Its trace exporter, which posts to OpenAI, is off
(``OPENAI_AGENTS_DISABLE_TRACING``, set in conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, ModelSettings, Runner, function_tool
from agents.extensions.models.litellm_model import LitellmModel
from openai.types.responses import ResponseTextDeltaEvent

from tests.frameworks.conftest import ANSWER, MODEL, PARIS, USER, Gate, Weather, answer

pytestmark = pytest.mark.frameworks

QUESTION = "What is the weather in Paris?"


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _agent(**options: Any) -> Agent[Any]:
    return Agent(
        name="assistant",
        instructions="Answer briefly.",
        model=LitellmModel(model=MODEL),
        model_settings=ModelSettings(extra_args={"user": USER}),
        **options,
    )


@pytest.fixture
def agent(gate: Gate) -> Agent[Any]:
    gate.serve("ok", answer=answer)
    return _agent()


async def test_openai_agents__run(agent: Agent[Any]) -> None:
    assert (await Runner.run(agent, QUESTION)).final_output == ANSWER


@pytest.mark.usefixtures("default_loop")
def test_openai_agents__run_sync(agent: Agent[Any]) -> None:
    assert Runner.run_sync(agent, QUESTION).final_output == ANSWER


async def test_openai_agents__run_streamed(agent: Agent[Any]) -> None:
    result = Runner.run_streamed(agent, QUESTION)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    assert "".join(deltas) == ANSWER == result.final_output


async def test_openai_agents__tool_loop(gate: Gate) -> None:
    gate.serve("ok", answer=answer)
    result = await Runner.run(_agent(tools=[get_weather]), QUESTION)
    assert result.final_output == ANSWER
    assert len(gate.attempts()) == 2


@pytest.mark.usefixtures("default_loop")
def test_openai_agents__tool_loop_sync(gate: Gate) -> None:
    gate.serve("ok", answer=answer)
    assert Runner.run_sync(_agent(tools=[get_weather]), QUESTION).final_output == ANSWER


async def test_openai_agents__tool_loop_streamed(gate: Gate) -> None:
    gate.serve("ok", answer=answer)
    result = Runner.run_streamed(_agent(tools=[get_weather]), QUESTION)
    names = [
        event.item.type
        async for event in result.stream_events()
        if event.type == "run_item_stream_event"
    ]
    assert "tool_call_output_item" in names
    assert result.final_output == ANSWER


async def test_openai_agents__structured_output(gate: Gate) -> None:
    gate.serve("ok", answer=answer)
    result = await Runner.run(_agent(output_type=Weather), QUESTION)
    assert result.final_output == PARIS
    sent = json.loads(gate.upstream.received[-1].body)
    assert sent["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("status", [429, 500])
async def test_openai_agents__transient_failure_recovered_by_the_routers_resend(
    agent: Agent[Any], gate: Gate, status: int
) -> None:
    gate.serve(str(status), "ok", answer=answer)
    assert (await Runner.run(agent, QUESTION)).final_output == ANSWER
    gate.assert_recovered(status)
