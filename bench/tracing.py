"""What tracing costs per request: off (the default), and on with the SDK.

Two measurements:

- ``calls``: the tracing calls one routed request makes (the request span, its store read,
  decision and attempt children, their attributes) in a tight loop: off, and on with an SDK
  tracer provider whose spans go nowhere (no processor), in µs per request.
- ``router``: ``PolicyRouter.acompletion`` with a user (SQLite preference read), litellm's
  adapter stubbed as in ``bench/overhead.py``, tracing off and on (SDK, spans to no exporter);
  interleaved repetitions, median of each. Noisier: differences of a few µs are within the
  run-to-run spread.

    uv run --frozen python -m bench.tracing [--calls 20000] [--requests 3000] [--reps 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import _common
from bench.metrics import _requests
from bench.overhead import _router


def _calls(n: int) -> float:
    """µs per request for the tracing calls one routed request makes."""
    from router._observe import tracing as _tracing

    started = time.process_time_ns()
    for _ in range(n):
        with _tracing.span("request", catalog_version="2025-11") as request:
            if request is not None:
                _tracing.annotate(request, request_id="r", user="user-x", stream=False)
            with _tracing.child("store_read") as read:
                _tracing.annotate(read, outcome="ok")
            with _tracing.child("decision", model="gpt-4-1") as decision:
                if decision is not None:
                    _tracing.annotate(decision, allowed=2, rejected=3)
            with _tracing.child("attempt") as attempt:
                if attempt is not None:
                    _tracing.annotate(attempt, route="gpt-4-1/openai", provider="openai")
                _tracing.annotate(attempt, outcome="ok")
            _tracing.annotate(request, model="gpt-4-1", outcome="ok")
    return (time.process_time_ns() - started) / n / 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from opentelemetry.sdk.trace import TracerProvider

    from router._observe import tracing as _tracing

    providers: dict[str, Any] = {"off": None, "sdk": TracerProvider()}
    calls: dict[str, list[float]] = {k: [] for k in providers}
    for _ in range(args.reps):
        for name, provider in providers.items():
            _tracing.use(provider)
            calls[name].append(_calls(args.calls))
    requests: dict[str, list[float]] = {k: [] for k in providers}
    with tempfile.TemporaryDirectory() as tmp:
        router = _router("user-alice", Path(tmp))
        for rep in range(args.reps):  # interleaved, the order alternating
            for name in sorted(providers, reverse=bool(rep % 2)):
                _tracing.use(providers[name])
                requests[name].append(await _requests(router, args.requests))
        await router.aclose()
    _tracing.use(None)
    summary = {
        "calls_us": {k: _common.median(v) for k, v in calls.items()},
        "router_us": {k: _common.median(v) for k, v in requests.items()},
    }
    return {"config": vars(args), "summary": summary, "calls": calls, "requests": requests}


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    c, r = s["calls_us"], s["router_us"]
    rows = [
        ["tracing calls of one request", c["off"], c["sdk"], c["sdk"] - c["off"]],
        ["acompletion (stubbed upstream, user)", r["off"], r["sdk"], r["sdk"] - r["off"]],
    ]
    return _common.table(["µs per request", "tracing off", "SDK on", "cost"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=6)
    os.environ["OPENAI_API_KEY"] = "fake"  # the stubbed adapter sends nothing
    result = asyncio.run(run(parser.parse_args()))
    _common.save("tracing", result)
    print(report(result))


if __name__ == "__main__":
    main()
