"""What the Prometheus metrics cost per request.

Two measurements:

- ``calls``: the metric calls one routed request makes (request, decision, store read,
  overhead, attempt) on ``PrometheusMetrics`` and on the base ``Metrics`` (reports nothing),
  in a tight loop; the difference is the metrics' cost per request, in µs.
- ``router``: ``PolicyRouter.acompletion`` with a user (SQLite preference read), litellm's
  adapter stubbed as in ``bench/overhead.py``, without and with ``PrometheusMetrics``
  installed; interleaved repetitions, median of each. Noisier: the difference is within a
  few µs of the run-to-run spread.

    uv run --frozen python -m bench.metrics [--calls 20000] [--requests 3000] [--reps 6]
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
from bench.overhead import MESSAGES, _router


def _calls(metrics: Any, n: int) -> float:
    """µs per request for the metric calls one routed request makes."""
    started = time.process_time_ns()
    for _ in range(n):
        metrics.store_read(0.0004, True)
        metrics.decision("gpt-4-1", 2)
        metrics.overhead(0.0002)
        metrics.attempt("gpt-4-1", "openai", "ok", 0.3)
        metrics.request("gpt-4-1", "ok", None)
    return (time.process_time_ns() - started) / n / 1000


async def _requests(router: Any, n: int) -> float:
    for _ in range(200):  # warm-up: opens the store, fills the label caches
        await router.acompletion(model="GPT 4.1", messages=MESSAGES, user="alice")
    started = time.process_time_ns()
    for _ in range(n):
        await router.acompletion(model="GPT 4.1", messages=MESSAGES, user="alice")
    return (time.process_time_ns() - started) / n / 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from router._observe.metrics import Metrics
    from router._observe.prometheus import PrometheusMetrics

    calls = {"none": [], "prometheus": []}  # type: dict[str, list[float]]
    for _ in range(args.reps):
        calls["none"].append(_calls(Metrics(), args.calls))
        calls["prometheus"].append(_calls(PrometheusMetrics(), args.calls))
    requests = {"none": [], "prometheus": []}  # type: dict[str, list[float]]
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        routers = {
            "none": _router("user-alice", Path(one)),
            "prometheus": _router("user-alice", Path(two)),
        }
        routers["prometheus"].observe(PrometheusMetrics())
        for rep in range(args.reps):  # interleaved, the order alternating
            for name in sorted(routers, reverse=bool(rep % 2)):
                requests[name].append(await _requests(routers[name], args.requests))
        for router in routers.values():
            await router.aclose()
    summary = {
        "calls_us": {k: _common.median(v) for k, v in calls.items()},
        "router_us": {k: _common.median(v) for k, v in requests.items()},
    }
    return {"config": vars(args), "summary": summary, "calls": calls, "requests": requests}


def report(result: dict[str, Any]) -> str:
    s = result["summary"]
    c, r = s["calls_us"], s["router_us"]
    rows = [
        ["metric calls of one request", c["none"], c["prometheus"], c["prometheus"] - c["none"]],
        [
            "acompletion (stubbed upstream, user)",
            r["none"],
            r["prometheus"],
            r["prometheus"] - r["none"],
        ],
    ]
    return _common.table(["µs per request", "no metrics", "Prometheus", "cost"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=6)
    os.environ["OPENAI_API_KEY"] = "fake"  # the stubbed adapter sends nothing
    result = asyncio.run(run(parser.parse_args()))
    _common.save("metrics", result)
    print(report(result))


if __name__ == "__main__":
    main()
