"""The router's own work per call, with litellm taken out.

``PolicyRouter.acompletion`` with the adapter's ``complete`` replaced by a stub that returns a
canned response at once: what is left is everything the router itself does per request
(resolve the model, combine preferences, decide, audit the decision, scrub, audit the attempt,
annotate the response). Timed per call with ``perf_counter_ns``; process CPU per call beside.
Variants: audit to /dev/null, to a file, audit switched off (the difference is the audit's
cost), and with a user (SQLite preference lookup and pseudonyms). Then cProfile of the
/dev/null variant: which functions the time goes to, in µs per call.

    uv run --frozen python -m bench.overhead [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench import _common

MESSAGES: Final = [{"role": "user", "content": "Say ok."}]
VARIANTS: Final = ("audit-devnull", "audit-file", "audit-off", "user-alice")


class _Response:
    """Stands in for litellm's ModelResponse: the router only sets ``_hidden_params`` on it."""

    def __init__(self) -> None:
        self._hidden_params: dict[str, Any] = {}


async def _complete(*_args: Any, **_kwargs: Any) -> _Response:
    return _Response()


def _router(variant: str, tmp: Path) -> Any:
    from router._config.settings import Settings
    from router._router import PolicyRouter
    from router._upstream import adapter as _litellm

    _litellm.complete = _complete  # type: ignore[assignment]
    audit = str(tmp / f"audit-{variant}.jsonl") if variant == "audit-file" else os.devnull
    router = PolicyRouter.from_settings(
        Settings(
            providers={"openai": {"api_base": "http://127.0.0.1:9/v1"}},
            audit=audit,
            data_dir=tmp,
            store_url=f"sqlite:///{tmp / f'prefs-{variant}.sqlite3'}",
            pseudonym_key="bench-pseudonym-key-0123456789abcdef",
        )
    )
    if variant == "audit-off":
        router.audit.emit = lambda *_a, **_k: None
    return router


async def _measure(router: Any, user: str | None, calls: int) -> dict[str, Any]:
    for _ in range(200):  # warm-up (opens the store on first use)
        await router.acompletion(model="GPT 4.1", messages=MESSAGES, user=user)
    clock = time.perf_counter_ns
    samples = []
    cpu = time.process_time()
    for _ in range(calls):
        started = clock()
        await router.acompletion(model="GPT 4.1", messages=MESSAGES, user=user)
        samples.append((clock() - started) / 1000)
    cpu = time.process_time() - cpu
    return {
        "calls": calls,
        "median_us": _common.median(samples),
        "p99_us": _common.percentile(samples, 99),
        "cpu_us_per_call": cpu / calls * 1e6,
    }


async def _profile(router: Any, calls: int, top: int) -> tuple[str, list[list[Any]]]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await router.acompletion(model="GPT 4.1", messages=MESSAGES)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(top * 2)
    rows = []
    for (path, line, name), (_, ncalls, tottime, cumtime, _) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][2],
    )[:top]:
        where = f"{_short(path)}:{line} {name}"
        rows.append([where, ncalls / calls, tottime / calls * 1e6, cumtime / calls * 1e6])
    return out.getvalue(), rows


def _short(path: str) -> str:
    for marker in ("site-packages/", "/router/", "/lib/python3.11/"):
        if marker in path:
            return (
                path.split(marker, 1)[1]
                if marker != "/router/"
                else "router/" + path.split(marker, 1)[1]
            )
    return path


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        routers = {v: _router(v, Path(tmp)) for v in VARIANTS}
        for _rep in range(args.reps):  # interleaved repetitions; the median of them is reported
            for variant, router in routers.items():
                user = "alice" if variant == "user-alice" else None
                one = await _measure(router, user, args.calls)
                results.setdefault(variant, []).append(one)
        text, rows = await _profile(routers["audit-devnull"], args.calls, args.top)
        for router in routers.values():
            await router.aclose()
    summary = {
        variant: {
            key: _common.median([r[key] for r in runs])
            for key in ("median_us", "p99_us", "cpu_us_per_call")
        }
        for variant, runs in results.items()
    }
    path = _common.RESULTS / "profile-router-own.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return {"config": vars(args), "summary": summary, "runs": results, "profile_top": rows}


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = [[v, r["median_us"], r["p99_us"], r["cpu_us_per_call"]] for v, r in s.items()]
    text = _common.table(["variant", "median µs", "p99 µs", "CPU µs/call"], rows)
    audit = s["audit-devnull"]["cpu_us_per_call"] - s["audit-off"]["cpu_us_per_call"]
    to_file = s["audit-file"]["cpu_us_per_call"] - s["audit-off"]["cpu_us_per_call"]
    text += (
        f"\n\naudit (2 records per call): {audit:.1f} µs/call to /dev/null, "
        f"{to_file:.1f} µs/call to a file\n\n"
    )
    text += "cProfile, audit to /dev/null, by own time (µs per request; profiler overhead included):\n\n"
    text += _common.table(
        ["function", "calls/request", "own µs", "cumulative µs"], result["profile_top"]
    )
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the router's own work per call, no litellm")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ["OPENAI_API_KEY"] = "fake"
    _common.pin_self(0)
    result = asyncio.run(run(args))
    path = _common.save("overhead", result)
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
