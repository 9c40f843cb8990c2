"""What the Anthropic Messages API costs over chat: the translation, and a whole call.

1. The translation alone (router/_upstream/messages.py, litellm's adapter) per request: a
   Messages request with a system block, a tool loop (tool_use, tool_result) and two tools into
   chat arguments, and the chat answer back into a Messages response; CPU per call.
2. A whole call in process against bench/fake_upstream.py on loopback (GPT 4.1, the lean path,
   httpx): ``PolicyRouter.amessages`` against ``PolicyRouter.acompletion`` with the same
   request already in chat form; CPU per call (``time.process_time``), JSON and streaming.

    LITELLM_LOCAL_MODEL_COST_MAP=True uv run --frozen python -m bench.messages [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from bench import _common

SYSTEM: Final = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
TOOLS: Final = [
    {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}},
    {"name": "get_time", "description": "Time", "input_schema": {"type": "object"}},
]
TURNS: Final = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
    ]},
]  # fmt: skip
REQUEST: Final = {"model": "GPT 4.1", "max_tokens": 64, "system": SYSTEM, "tools": TOOLS, "messages": TURNS}  # fmt: skip


def _cpu_us(fn: Callable[[], Any], calls: int) -> float:
    fn()  # warm-up: imports, caches
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1e6


def translation(calls: int) -> dict[str, float]:
    from litellm.types.utils import ModelResponse  # noqa: TID251

    from router._upstream import messages

    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "ok"},
        "finish_reason": "stop",
    }
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    answer = ModelResponse(id="c", model="gpt-4.1", choices=[choice], usage=usage)
    translated = messages.to_chat(REQUEST, "gpt-4-1")
    return {
        "to_chat_us": _cpu_us(lambda: messages.to_chat(REQUEST, "gpt-4-1"), calls),
        "to_message_us": _cpu_us(lambda: messages.to_message(answer, "GPT 4.1", translated), calls),
    }


async def _per_call(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(20):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1000


async def whole_calls(base: str, tmp: Path, calls: int) -> dict[str, float]:
    from router._config.settings import Settings
    from router._router import PolicyRouter
    from router._upstream import messages

    os.environ["OPENAI_API_KEY"] = "fake"  # the fake upstream takes any key
    settings = Settings(
        providers={"openai": {"api_base": f"{base}/v1"}},
        audit="/dev/null",
        data_dir=tmp,
        store_url=f"sqlite:///{tmp / 'prefs.sqlite3'}",
        pseudonym_key="bench-pseudonym-key-0123456789abcdef",
        transport="httpx",
    )
    chat = messages.to_chat(REQUEST, "gpt-4-1")
    out: dict[str, float] = {}
    async with PolicyRouter.from_settings(settings) as router:
        for stream in (False, True):

            async def as_messages(stream: bool = stream) -> None:
                answer = await router.amessages(**REQUEST, stream=stream)
                if stream:
                    _ = [event async for event in answer]

            async def as_chat(stream: bool = stream) -> None:
                answer = await router.acompletion(
                    "GPT 4.1", chat.messages, stream=stream, **chat.arguments
                )
                if stream:
                    _ = [chunk async for chunk in answer]

            kind = "stream" if stream else "json"
            out[f"chat_{kind}_ms"] = await _per_call(as_chat, calls)
            out[f"messages_{kind}_ms"] = await _per_call(as_messages, calls)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    figures = translation(args.calls * 10)
    with _common.fake_upstream(cpu=1, sse_chunks=20) as base, tempfile.TemporaryDirectory() as tmp:
        figures |= asyncio.run(whole_calls(base, Path(tmp), args.calls))
    print("| measure | CPU per call |")
    print("| --- | --- |")
    print(f"| translation in (Messages -> chat arguments) | {figures['to_chat_us']:.0f} µs |")
    print(f"| translation out (chat answer -> Messages) | {figures['to_message_us']:.0f} µs |")
    for kind in ("json", "stream"):
        chat, msgs = figures[f"chat_{kind}_ms"], figures[f"messages_{kind}_ms"]
        print(f"| acompletion, {kind} | {chat:.2f} ms |")
        print(
            f"| amessages, {kind} | {msgs:.2f} ms (+{msgs - chat:.2f} ms, +{(msgs / chat - 1) * 100:.0f} %) |"
        )


if __name__ == "__main__":
    main()
