"""A small assistant written against ``litellm.acompletion``: a tool loop, a streamed answer
built with ``litellm.stream_chunk_builder``, and a retry on ``litellm.RateLimitError``.

tests/dropin/test_assistant.py runs it as it is, then with only the IMPORT block changed to
policy-router's, against the same fake provider, and compares what it prints. Its settings
come from the environment, as an application's would: ASSISTANT_MODEL names the model
(a litellm model string for litellm, a catalog model for the router).
"""

# ruff: noqa: T201 (the assistant prints its transcript, which the test compares)
from __future__ import annotations

import asyncio
import json
import os
from typing import Any

# IMPORT: the only lines that differ between the two runs
import litellm  # noqa: TID251

acompletion = litellm.acompletion
# END IMPORT

MODEL = os.environ["ASSISTANT_MODEL"]
USER = "alice-4242"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> str:
    return f"sunny in {city}"


async def with_retry(**arguments: Any) -> Any:
    """One call, retried after a rate limit, as many applications do."""
    for attempt in range(3):
        try:
            return await acompletion(model=MODEL, user=USER, timeout=20, max_retries=0, **arguments)
        except litellm.RateLimitError as exc:
            print(f"rate limited (HTTP {exc.status_code}), retry {attempt + 1}")
            await asyncio.sleep(0.05)
    raise RuntimeError("still rate limited")


async def tool_loop(question: str) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(4):
        response = await with_retry(messages=messages, tools=TOOLS)
        message = response.choices[0].message
        if not message.tool_calls:
            return str(message.content)
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = get_weather(**json.loads(call.function.arguments))
            print(f"tool {call.function.name} -> {result}")
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError("the tool loop did not end")


async def streamed(question: str) -> str:
    messages = [{"role": "user", "content": question}]
    stream = await with_retry(messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    built = litellm.stream_chunk_builder(chunks, messages=messages)
    return str(built.choices[0].message.content)


async def main() -> None:
    print("tool loop:", await tool_loop("What is the weather in Paris?"))
    print("streamed:", await streamed("Say hello."))
    print("after a rate limit:", await tool_loop("And now?"))


if __name__ == "__main__":
    asyncio.run(main())
