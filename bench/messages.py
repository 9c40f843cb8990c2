"""What the Anthropic Messages API costs over chat: the translation, a whole call in process,
and ``serve`` side by side (Claude on Anthropic as it came, against chat on the lean path).

1. The translation alone (router/_upstream/messages.py, litellm's adapter) per request: a
   Messages request with a system block, a tool loop (tool_use, tool_result) and two tools into
   chat arguments, and the chat answer back into a Messages response; CPU per call.
2. A whole call in process against bench/fake_upstream.py on loopback (httpx):
   ``PolicyRouter.acompletion`` (GPT 4.1, the lean path), ``amessages`` to GPT 4.1 (translated)
   and ``amessages`` to Claude 4.5 Sonnet (Anthropic's lean path: sent as it came); CPU per call
   (``time.process_time``), JSON and streaming.
3. ``serve`` (aiohttp, as shipped; pinned to CPU 0, the fake upstream and wrk on CPU 1): wrk at
   concurrency 50 against ``/v1/chat/completions`` (GPT 4.1, lean), ``/v1/messages`` to Claude
   4.5 Sonnet (as it came) and ``/v1/messages`` to GPT 4.1 (translated), JSON and a 1-token
   stream, cells interleaved over ``--rounds``; serve's CPU per request (from /proc) and the
   ratio to chat's in the same round. Every body names an end user (a store read).

    LITELLM_LOCAL_MODEL_COST_MAP=True uv run --frozen --group bench python -m bench.messages \
        [--calls 300] [--rounds 3] [--duration 4] [--skip-inprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
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
CLAUDE_REQUEST: Final = REQUEST | {"model": "Claude 4.5 Sonnet"}
USER: Final = "bench-user-0001"
# serve's cells: (name, path, body); each body names an end user, as chat's does.
SAY_OK: Final = [{"role": "user", "content": "Say ok."}]
CELLS: Final = (
    ("chat GPT 4.1 (lean)", "/v1/chat/completions", {"model": "GPT 4.1", "messages": SAY_OK, "user": USER}),
    ("messages Claude (as it came)", "/v1/messages", {"model": "Claude 4.5 Sonnet", "max_tokens": 16, "messages": SAY_OK, "metadata": {"user_id": USER}}),
    ("messages GPT 4.1 (translated)", "/v1/messages", {"model": "GPT 4.1", "max_tokens": 16, "messages": SAY_OK, "metadata": {"user_id": USER}}),
)  # fmt: skip


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


async def whole_calls(base: str, tmp: Path, calls: int) -> dict[str, Any]:
    from router._config.settings import Settings
    from router._router import PolicyRouter
    from router._upstream import messages

    os.environ["OPENAI_API_KEY"] = "fake"  # the fake upstream takes any key
    os.environ["ANTHROPIC_API_KEY"] = "fake"
    settings = Settings(
        providers={"openai": {"api_base": f"{base}/v1"}, "anthropic": {"api_base": base}},
        audit="/dev/null",
        data_dir=tmp,
        store_url=f"sqlite:///{tmp / 'prefs.sqlite3'}",
        pseudonym_key="bench-pseudonym-key-0123456789abcdef",
        transport="httpx",
    )
    chat = messages.to_chat(REQUEST, "gpt-4-1")
    out: dict[str, Any] = {}
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

            async def as_claude(stream: bool = stream) -> None:
                answer = await router.amessages(**CLAUDE_REQUEST, stream=stream)
                if stream:
                    _ = [event async for event in answer]

            kind = "stream" if stream else "json"
            out[f"chat_{kind}_ms"] = await _per_call(as_chat, calls)
            out[f"messages_{kind}_ms"] = await _per_call(as_messages, calls)
            out[f"claude_{kind}_ms"] = await _per_call(as_claude, calls)

        async def chat_claude() -> None:
            await router.acompletion("Claude 4.5 Sonnet", SAY_OK, max_tokens=16, user=USER)

        # Chat to Claude on Anthropic: the lean path (router/_upstream/chat_claude.py) and
        # litellm side by side, interleaved, in the same process.
        for _round in range(3):
            for key, lean in (("chat_claude_lean", True), ("chat_claude_litellm", False)):
                with _chat_claude_lean(on=lean):
                    spent = await _per_call(chat_claude, calls)
                out.setdefault(f"{key}_ms_rounds", []).append(spent)
    return out


@contextlib.contextmanager
def _chat_claude_lean(*, on: bool) -> Iterator[None]:
    """Plain chat to Claude on Anthropic on the lean path (``on``) or on litellm, as before."""
    from router._upstream import chat_claude

    served = chat_claude.serves
    if not on:
        chat_claude.serves = lambda _call: False  # type: ignore[assignment]
    try:
        yield
    finally:
        chat_claude.serves = served


def served(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    """serve's CPU per request in each cell (name and mode), per round."""
    from bench.lean import WRK
    from bench.proxy import CLOCK_TICKS, OUR_KEY

    out: dict[str, list[float]] = {}
    with _common.fake_upstream(cpu=1, sse_chunks=1) as base:
        port = 18_000 + os.getpid() % 1000
        env = _common.bench_env({
            "OPENAI_API_KEY": "fake", "ANTHROPIC_API_KEY": "fake", "PYTHONPATH": str(_common.ROOT),
            "POLICY_ROUTER_SERVER__API_KEYS": f'["{OUR_KEY}"]',
            "POLICY_ROUTER_SERVER__PORT": str(port), "POLICY_ROUTER_SERVER__HOST": _common.LOOPBACK,
            "POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE": f"{base}/v1",
            "POLICY_ROUTER_PROVIDERS__ANTHROPIC__API_BASE": base,
            "POLICY_ROUTER_AUDIT": str(tmp / "audit.jsonl"),
            "POLICY_ROUTER_DATA_DIR": str(tmp / "data"),
            "POLICY_ROUTER_STORE_URL": f"sqlite:///{tmp / 'prefs.sqlite3'}",
            "POLICY_ROUTER_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdef",
        })  # fmt: skip
        command = [*_common.pin_prefix(0), sys.executable, "-m", "router.cli", "serve"]
        with (tmp / "serve.log").open("wb") as log:
            proc = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=log)
        try:
            url = f"http://{_common.LOOPBACK}:{port}"
            _common.wait_http(f"{url}/healthz", timeout=120)

            def cpu() -> float:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

            for round_ in range(args.rounds + 1):  # round 0 warms up, uncounted
                order = CELLS[round_ % len(CELLS) :] + CELLS[: round_ % len(CELLS)]
                for (name, path, body), stream in itertools.product(order, (False, True)):
                    script = tmp / "cell.lua"
                    data = json.dumps(
                        body | ({"stream": True} if stream else {}), separators=(",", ":")
                    )
                    script.write_text(WRK % {"body": data, "key": OUR_KEY})
                    duration = 1 if round_ == 0 else args.duration
                    before = cpu()
                    done = subprocess.run(
                        [*_common.pin_prefix(1), "wrk", "-t1", "-c50", f"-d{duration:.0f}s",
                         "--timeout", "30s", "-s", str(script), url + path],
                        capture_output=True, text=True, check=True, env=_common.bench_env(),
                    )  # fmt: skip
                    spent = cpu() - before
                    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
                    result = json.loads(line.removeprefix("WRKJSON "))
                    if result["status"] or not result["requests"]:
                        raise RuntimeError(f"{name}: {result['status']} non-2xx answers")
                    if round_:
                        key = f"{name}, {'stream' if stream else 'json'}"
                        out.setdefault(key, []).append(spent / result["requests"] * 1000)
        finally:
            _common.stop(proc, timeout=40)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cells = served(args, Path(tmp))
    print("serve, c=50, CPU per request (median of rounds; ratio to chat in the same round):")
    print("| cell | ms | ratio to chat |")
    print("| --- | --- | --- |")
    for kind in ("json", "stream"):
        chat = cells[f"{CELLS[0][0]}, {kind}"]
        for name, _path, _body in CELLS:
            mine = cells[f"{name}, {kind}"]
            ratios = [a / b for a, b in zip(mine, chat, strict=True)]
            print(f"| {name}, {kind} | {statistics.median(mine):.3f} | "
                  f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")  # fmt: skip
    _common.save("messages", {"serve": cells})
    if args.skip_inprocess:
        return
    figures: dict[str, Any] = dict(translation(args.calls * 10))
    with _common.fake_upstream(cpu=1, sse_chunks=20) as base, tempfile.TemporaryDirectory() as tmp:
        figures |= asyncio.run(whole_calls(base, Path(tmp), args.calls))
    print("| measure | CPU per call |")
    print("| --- | --- |")
    print(f"| translation in (Messages -> chat arguments) | {figures['to_chat_us']:.0f} µs |")
    print(f"| translation out (chat answer -> Messages) | {figures['to_message_us']:.0f} µs |")
    for kind in ("json", "stream"):
        chat = figures[f"chat_{kind}_ms"]
        print(f"| acompletion GPT 4.1, {kind} | {chat:.2f} ms |")
        for label, key in (("amessages GPT 4.1 (translated)", "messages"),
                           ("amessages Claude (as it came)", "claude")):  # fmt: skip
            mine = figures[f"{key}_{kind}_ms"]
            print(f"| {label}, {kind} | {mine:.2f} ms ({mine / chat:.2f}x) |")
    lean, litellm = figures["chat_claude_lean_ms_rounds"], figures["chat_claude_litellm_ms_rounds"]
    per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(lean, litellm, strict=True))
    print(f"| acompletion Claude (lean), json | {statistics.median(lean):.2f} ms |")
    print(f"| acompletion Claude (litellm), json | {statistics.median(litellm):.2f} ms |")
    print(f"| lean / litellm per round | {per_round} |")


if __name__ == "__main__":
    main()
