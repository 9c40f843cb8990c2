"""In-process cost: ``PolicyRouter.acompletion`` against bare ``litellm.acompletion``.

Each variant lives in its own worker process (litellm's module-level settings, which an
adapter may change on import, cannot leak from one variant into another). All workers are
pinned to CPU 0 and the fake upstream to CPU 1, so the upstream's CPU is never counted. The
controller runs rounds interleaved (bare, router, bare, router, …, rotating the order each
round) so that drift affects every variant alike. CPU per call is the worker's process CPU
time (every thread: litellm runs logging callbacks in a thread pool) over the round,
including a short idle drain after the last call, divided by the calls.

    uv run --frozen --group bench python -m bench.inprocess [--rounds 5] [--seq 200] …
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from bench import _common

MESSAGES: Final = [{"role": "user", "content": "Say ok."}]
DRAIN_S: Final = 0.15
# What each variant is compared with: the target (router vs bare) and the steps between them.
PAIRS: Final = (
    ("router", "bare"),
    ("router-audit-file", "bare"),
    ("router-user", "bare"),
    ("bare-httpx", "bare"),
    ("bare-httpx-pool", "bare-httpx"),
    ("adapter", "bare-httpx"),
    ("router", "adapter"),
    ("router-aiohttp", "bare"),
)
VARIANTS: Final = (
    "bare", "bare-httpx", "bare-httpx-pool", "adapter", "router", "router-audit-file",
    "router-user", "router-aiohttp",
)  # fmt: skip
DESCRIPTIONS: Final = {
    "bare": "litellm.acompletion(model='openai/gpt-4.1', api_base=…, api_key='fake'), litellm defaults",
    "bare-httpx": "the same, with DISABLE_AIOHTTP_TRANSPORT=True (litellm's httpx transport)",
    "bare-httpx-pool": "bare-httpx with litellm.aclient_session = httpx.AsyncClient(keep-alive pool of 200)",
    "adapter": "router._upstream.adapter.complete(Target('openai/gpt-4.1'), …) alone: the adapter's settings, no decision",
    "router": "PolicyRouter.acompletion(model='GPT 4.1'), audit to /dev/null, no user",
    "router-audit-file": "the same, audit to a file",
    "router-user": "the same with user='alice' (SQLite preference lookup, pseudonym), audit to /dev/null",
    "router-aiohttp": "'router' with Settings(transport='aiohttp') (POLICY_ROUTER_TRANSPORT=aiohttp)",
}

Call = Callable[[bool], Awaitable[Any]]


# -- worker ---------------------------------------------------------------------------------


def _bare(
    base: str, httpx_transport: bool, pool: bool = False
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    if httpx_transport:
        os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "True"
    import litellm  # noqa: TID251 (the benchmark's baseline is litellm itself, called directly)

    if pool:  # httpx's default keeps 20 idle connections: more concurrent calls churn them
        import httpx

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
        litellm.aclient_session = httpx.AsyncClient(limits=limits, timeout=600.0)

    async def call(stream: bool) -> Any:
        response = await litellm.acompletion(
            model="openai/gpt-4.1",
            api_base=f"{base}/v1",
            api_key="fake",
            messages=MESSAGES,
            stream=stream,
        )
        if stream:
            return [chunk async for chunk in response]
        return response

    async def close() -> None:
        return None

    return call, close


def _adapter(base: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from router._upstream import adapter as _litellm
    from router._upstream.adapter import UpstreamCall
    from router._upstream.deployment import Target

    upstream = UpstreamCall(
        Target("openai/gpt-4.1"), {"messages": MESSAGES}, api_base=f"{base}/v1", timeout=60.0
    )

    async def call(stream: bool) -> Any:
        if stream:
            chunks = await _litellm.open_stream(upstream)
            return [chunk async for chunk in chunks]
        return await _litellm.complete(upstream)

    async def close() -> None:
        return None

    return call, close


def _setup(variant: str, base: str, tmp: Path) -> tuple[Call, Callable[[], Awaitable[None]]]:
    if variant in ("bare", "bare-httpx", "bare-httpx-pool"):
        return _bare(base, variant != "bare", pool=variant == "bare-httpx-pool")
    if variant == "adapter":
        return _adapter(base)
    return _router(base, variant, tmp)


def _router(base: str, variant: str, tmp: Path) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from router._config.settings import Settings
    from router._router import PolicyRouter

    audit = (
        str(tmp / f"audit-{os.getpid()}.jsonl") if variant == "router-audit-file" else "/dev/null"
    )
    settings = Settings(
        providers={"openai": {"api_base": f"{base}/v1"}},
        audit=audit,
        data_dir=tmp,
        store_url=f"sqlite:///{tmp / f'prefs-{os.getpid()}.sqlite3'}",
        pseudonym_key="bench-pseudonym-key-0123456789abcdef",
        transport="aiohttp" if variant == "router-aiohttp" else "httpx",
    )
    router = PolicyRouter.from_settings(settings)
    user = "alice" if variant == "router-user" else None

    async def call(stream: bool) -> Any:
        response = await router.acompletion(
            model="GPT 4.1", messages=MESSAGES, user=user, stream=stream
        )
        if stream:
            return [chunk async for chunk in response]
        return response

    return call, router.aclose


async def _round(call: Call, command: dict[str, Any]) -> dict[str, Any]:
    calls, concurrency = int(command["calls"]), int(command.get("concurrency", 1))
    stream = bool(command.get("stream", False))
    latencies: list[float] = []
    errors: list[str] = []

    async def one() -> None:
        started = time.perf_counter()
        try:
            await call(stream)
        except Exception as exc:  # noqa: BLE001 (counted and reported, the round goes on)
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        latencies.append((time.perf_counter() - started) * 1000)

    async def lane(count: int) -> None:
        for _ in range(count):
            await one()

    share, extra = divmod(calls, concurrency)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane(share + (i < extra)) for i in range(concurrency)))
    wall = time.perf_counter() - wall0
    await asyncio.sleep(DRAIN_S)  # let callbacks queued by the last calls finish on the clock
    cpu = time.process_time() - cpu0
    return {
        "calls": calls,
        "ok": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "cpu_s": cpu,
        "wall_s": wall,
        "latencies_ms": latencies,
    }


async def _profile(call: Call, command: dict[str, Any], out: Path) -> dict[str, Any]:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    with profiler:
        for _ in range(int(command["calls"])):
            await call(bool(command.get("stream", False)))
    await asyncio.to_thread(out.write_text, _profile_text(profiler.last_session))
    return {"profile": str(out)}


def _profile_text(session: Any, top: int = 70) -> str:
    """Three views of one profile: inclusive time and self time per function, and the tree."""
    from pyinstrument.renderers import ConsoleRenderer

    parts = []
    for title, mode in (("inclusive (total) time", "total"), ("self time", "self")):
        text = ConsoleRenderer(flat=True, flat_time=mode, show_all=True).render(session)
        parts.append(f"== {title}, top {top} ==\n" + "\n".join(text.splitlines()[: top + 6]))
        if mode == "total":
            ours = [line for line in text.splitlines() if "router/" in line or "structlog" in line]
            parts.append("== inclusive time of router/ and structlog frames ==\n" + "\n".join(ours))
    tree = ConsoleRenderer(show_all=False, unicode=False, color=False).render(session)
    return "\n\n".join([*parts, "== call tree (library frames folded) ==\n" + tree])


def worker(variant: str, base: str, tmp: Path, cpu: int) -> None:
    """Set up one variant, say READY, then answer one JSON command per stdin line."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    call, close = _setup(variant, base, tmp)
    _common.pin_self(cpu)
    print("READY", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["phase"] == "quit":
            break
        if command["phase"] == "profile":
            result = loop.run_until_complete(_profile(call, command, Path(command["out"])))
        else:
            result = loop.run_until_complete(_round(call, command))
        print(json.dumps(result), flush=True)
    loop.run_until_complete(close())
    loop.close()


# -- controller -----------------------------------------------------------------------------


class Worker:
    """One worker process, driven one command at a time."""

    def __init__(self, variant: str, base: str, tmp: Path, cpu: int) -> None:
        self.variant = variant
        env = _common.bench_env({"OPENAI_API_KEY": "fake"})
        command = [
            sys.executable, "-m", "bench.inprocess", "--worker", variant, "--base", base,
            "--tmp", str(tmp), "--cpu", str(cpu),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=_common.ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def ready(self) -> None:
        line = self._read()
        if line.strip() != "READY":
            raise RuntimeError(f"worker {self.variant} failed to start: {line!r}")

    def run(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self._read()))

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.variant} exited ({self.proc.wait()})")
        return line

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write('{"phase": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _common.stop(self.proc)


def phases(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = [{"phase": "seq", "calls": args.seq}]
    out.append({"phase": "conc", "calls": args.conc_calls, "concurrency": args.concurrency})
    if args.stream:
        out.append({"phase": "stream", "calls": args.seq, "stream": True})
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    variants = tuple(args.variants)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {v: {} for v in variants}
    with _common.fake_upstream(cpu=1) as base, tempfile.TemporaryDirectory() as tmp:
        workers = {v: Worker(v, base, Path(tmp), cpu=0) for v in variants}
        try:
            for w in workers.values():
                w.ready()
            for w in workers.values():  # warm-up: first calls build clients and caches
                for command in phases(args):
                    w.run({**command, "calls": max(args.warmup, command.get("concurrency", 1))})
            for number in range(args.rounds):
                order = variants[number % len(variants) :] + variants[: number % len(variants)]
                for command in phases(args):
                    for variant in order:
                        result = _counted(base, workers[variant], command)
                        raw[variant].setdefault(command["phase"], []).append(result)
                        _progress(number, variant, command["phase"], result)
            profiles = _profiles(args, workers) if args.profile else {}
        finally:
            for w in workers.values():
                w.close()
    summary = summarize(raw)
    return {
        "config": {k: v for k, v in vars(args).items() if k not in {"worker"}},
        "variants": {v: DESCRIPTIONS[v] for v in variants},
        "summary": summary,
        "profiles": profiles,
        "rounds": _without_latencies(raw),
    }


def _counted(base: str, worker: Worker, command: dict[str, Any]) -> dict[str, Any]:
    """One round, with the requests and new connections the upstream saw during it."""
    before = _common.upstream_stats(base)
    result = worker.run(command)
    after = _common.upstream_stats(base)
    # Each /stats request is one request on one new connection of its own: not the round's.
    result["upstream_requests"] = after["served"] - before["served"] - 1
    result["upstream_connections"] = after["connections"] - before["connections"] - 1
    return result


def _profiles(args: argparse.Namespace, workers: dict[str, Worker]) -> dict[str, str]:
    out = {}
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    for variant, w in workers.items():
        path = _common.RESULTS / f"profile-inprocess-{variant}.txt"
        w.run({"phase": "profile", "calls": args.profile, "out": str(path)})
        out[variant] = str(path)
    return out


def _progress(number: int, variant: str, phase: str, result: dict[str, Any]) -> None:
    per_call = result["cpu_s"] / max(result["calls"], 1) * 1000
    print(
        f"  round {number + 1} {phase:<6} {variant:<18} cpu/call {per_call:6.3f} ms "
        f"wall {result['wall_s']:6.2f} s errors {result['errors']}",
        file=sys.stderr,
        flush=True,
    )


def summarize(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, by_phase in raw.items():
        for phase, rounds in by_phase.items():
            latencies = [x for r in rounds for x in r["latencies_ms"]]
            calls = sum(r["calls"] for r in rounds)
            per_round = [r["cpu_s"] / r["calls"] * 1000 for r in rounds]
            out.setdefault(phase, {})[variant] = {
                "calls": calls,
                "errors": sum(r["errors"] for r in rounds),
                "upstream_requests": sum(r["upstream_requests"] for r in rounds),
                "upstream_connections": sum(r["upstream_connections"] for r in rounds),
                "first_error": next((r["first_error"] for r in rounds if r["first_error"]), None),
                "cpu_ms_per_call": sum(r["cpu_s"] for r in rounds) / calls * 1000,
                "cpu_ms_per_call_rounds": per_round,
                "p50_ms": _common.percentile(latencies, 50),
                "p99_ms": _common.percentile(latencies, 99),
                "throughput_rps": calls / sum(r["wall_s"] for r in rounds),
            }
    for by_variant in out.values():
        by_variant["ratios"] = [
            _ratio(by_variant[mine], by_variant[theirs], mine, theirs)
            for mine, theirs in PAIRS
            if mine in by_variant and theirs in by_variant
        ]
    return out


def _ratio(mine: dict[str, Any], theirs: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    """CPU per call of ``a`` over ``b``: pooled, and the median and quartiles of paired rounds."""
    paired = sorted(
        x / y
        for x, y in zip(
            mine["cpu_ms_per_call_rounds"], theirs["cpu_ms_per_call_rounds"], strict=True
        )
    )
    return {
        "variant": a,
        "baseline": b,
        "pooled": mine["cpu_ms_per_call"] / theirs["cpu_ms_per_call"],
        "median_round": _common.median(paired),
        "q1_round": _common.percentile(paired, 25),
        "q3_round": _common.percentile(paired, 75),
        "extra_cpu_ms_per_call": mine["cpu_ms_per_call"] - theirs["cpu_ms_per_call"],
    }


def _without_latencies(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    return {
        v: {
            p: [{k: x for k, x in r.items() if k != "latencies_ms"} for r in rs]
            for p, rs in ph.items()
        }
        for v, ph in raw.items()
    }


def report(summary: dict[str, Any]) -> str:
    rows, ratios = [], []
    for phase, by_variant in summary.items():
        for variant, s in by_variant.items():
            if variant == "ratios":
                continue
            rows.append(
                [
                    phase, variant, s["calls"], s["errors"], s["upstream_connections"],
                    s["cpu_ms_per_call"], s["p50_ms"], s["p99_ms"], s["throughput_rps"],
                ]
            )  # fmt: skip
        for r in by_variant.get("ratios", []):
            ratios.append(
                [
                    phase, f"{r['variant']} / {r['baseline']}", r["pooled"], r["median_round"],
                    f"{r['q1_round']:.3f}–{r['q3_round']:.3f}", r["extra_cpu_ms_per_call"],
                ]
            )  # fmt: skip
    headers = [
        "phase", "variant", "calls", "errors", "new upstream conns", "CPU ms/call",
        "p50 ms", "p99 ms", "calls/s",
    ]  # fmt: skip
    ratio_headers = [
        "phase", "CPU ratio", "pooled", "median of rounds", "rounds IQR", "extra CPU ms/call",
    ]  # fmt: skip
    return _common.table(headers, rows) + "\n\n" + _common.table(ratio_headers, ratios)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PolicyRouter.acompletion vs litellm.acompletion")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seq", type=int, default=50, help="sequential calls per round")
    parser.add_argument("--conc-calls", type=int, default=250, help="calls per concurrent round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--stream", action="store_true", help="also a sequential streaming phase")
    parser.add_argument("--profile", type=int, default=0, help="profile N calls per variant")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.base, Path(args.tmp), args.cpu)
        return
    result = run(args)
    path = _common.save("inprocess", result)
    print(report(result["summary"]))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
