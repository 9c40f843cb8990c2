"""langchain-litellm through the gate: ``ChatLiteLLM(model="openai/gpt-4.1")``.

ChatLiteLLM calls ``litellm.completion`` and ``litellm.acompletion`` with
``custom_llm_provider=None``, ``num_ctx=None``, ``base_model=None`` and its other fields, under
its own tenacity retry. The user id goes in ``model_kwargs`` or is bound per runnable with
``.bind(user=...)``.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langchain_litellm import ChatLiteLLM

from tests.frameworks.conftest import ANSWER, MODEL, PARIS, USER, Gate, Weather, answer

pytestmark = pytest.mark.frameworks

QUESTION = [HumanMessage("What is the weather in Paris?")]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def chat(gate: Gate) -> ChatLiteLLM:
    gate.serve("ok", answer=answer)
    return ChatLiteLLM(model=MODEL, model_kwargs={"user": USER})


def test_langchain__invoke(chat: ChatLiteLLM) -> None:
    assert chat.invoke(QUESTION).content == ANSWER


async def test_langchain__ainvoke(chat: ChatLiteLLM) -> None:
    assert (await chat.ainvoke(QUESTION)).content == ANSWER


def test_langchain__user_bound_per_runnable(gate: Gate) -> None:
    gate.serve("ok", answer=answer)
    bound = ChatLiteLLM(model=MODEL).bind(user=USER)
    assert bound.invoke(QUESTION).content == ANSWER


def test_langchain__stream(chat: ChatLiteLLM) -> None:
    assert "".join(str(chunk.content) for chunk in chat.stream(QUESTION)) == ANSWER


async def test_langchain__astream(chat: ChatLiteLLM) -> None:
    assert "".join([str(chunk.content) async for chunk in chat.astream(QUESTION)]) == ANSWER


def test_langchain__tool_loop(chat: ChatLiteLLM, gate: Gate) -> None:
    with_tools = chat.bind_tools([get_weather])
    messages: list[BaseMessage] = list(QUESTION)
    reply = with_tools.invoke(messages)
    while isinstance(reply, AIMessage) and reply.tool_calls:
        messages += [reply, *(get_weather.invoke(call) for call in reply.tool_calls)]
        reply = with_tools.invoke(messages)
    assert reply.content == ANSWER
    assert len(gate.attempts()) == 2


async def test_langchain__tool_loop_async(chat: ChatLiteLLM) -> None:
    with_tools = chat.bind_tools([get_weather])
    messages: list[BaseMessage] = list(QUESTION)
    reply = await with_tools.ainvoke(messages)
    while isinstance(reply, AIMessage) and reply.tool_calls:
        messages += [reply, *[await get_weather.ainvoke(call) for call in reply.tool_calls]]
        reply = await with_tools.ainvoke(messages)
    assert reply.content == ANSWER


def test_langchain__structured_output(chat: ChatLiteLLM, gate: Gate) -> None:
    assert chat.with_structured_output(Weather).invoke(QUESTION) == PARIS
    sent = json.loads(gate.upstream.received[-1].body)
    assert sent["response_format"]["json_schema"]["name"] == "Weather"


@pytest.mark.parametrize("status", [429, 500])
def test_langchain__transient_failure_recovered_by_the_routers_resend(
    chat: ChatLiteLLM, gate: Gate, status: int
) -> None:
    gate.serve(str(status), "ok", answer=answer)
    assert chat.invoke(QUESTION).content == ANSWER
    gate.assert_recovered(status)
