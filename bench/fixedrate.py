"""CPU per request of each server at one fixed request rate (open loop), side by side.

wrk's closed loop (bench/lean.py, bench/targets.py) lets each server answer as fast as it can,
so a server that is given more CPU answers more requests per second, handles more of them per
turn of its event loop, and shows less CPU per request for the same work. On a CPU shared with
other processes a server with more threads is given more of it (granian: bench/README.md,
"Tried: granian"). At a fixed rate every server does the same work per second, and its CPU per
request compares the work itself.

Servers are bench/lean.py's (each its own process pinned to CPU 0); requests come from
bench/openloop.py's generator (CPU 1, beside the fake upstream), ``--rate`` per second for
``--duration`` seconds after a second of warm-up. Modes: ``json``, ``tok`` (a 1-token stream,
5 events), ``paced`` (20 tokens 10 ms apart, 24 events; ``--paced-rate``). Each round runs
every mode on every server, the servers' order rotating; the table gives each server's median
CPU per request and the median of its per-round ratios to the first server. A server that fell
behind (requests queued for a connection) is marked: its figure then counts the batching of a
saturated loop.

    uv run --frozen --group bench python -m bench.fixedrate --servers reference,serve-lean \
        [--rate 250] [--paced-rate 100] [--duration 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

from bench import _common, lean, openloop
from bench.proxy import OUR_KEY, Proxy, _check, settle

# mode: (the message's text, streamed)
MODES: Final = {
    "json": ("Say ok.", False),
    "tok": ("Say ok. [bench chunks=1]", True),
    "paced": ("Say ok. [bench chunks=20 pace_ms=10]", True),
}


def request(mode: str) -> dict[str, Any]:
    text, stream = MODES[mode]
    body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": text}], "user": lean.USER}
    return body | ({"stream": True} if stream else {})


def one(proxy: Proxy, mode: str, load: openloop.Load, tmp: Path) -> dict[str, Any]:
    """One cell: the server's CPU per request sent, and whether it kept up."""
    cpu = proxy.cpu_s()
    result = openloop.cell(f"{proxy.url}/v1/chat/completions", request(mode), OUR_KEY, load, tmp)
    cpu = proxy.cpu_s() - cpu
    kind = "stream" if MODES[mode][1] else "json"
    return {
        "server": proxy.name, "mode": mode, "cpu_ms": cpu / max(result["requests"], 1) * 1000,
        "sent_rps": result["achieved_rps"], "p99_ms": openloop.figure(result, kind, "p99_ms"),
        "queued": result["queued"],
        "bad": result["errors"] + result["status_errors"] + result["incomplete"],
    }  # fmt: skip


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    names = [n for n in args.servers.split(",") if n]
    modes = [m for m in args.modes.split(",") if m]
    cells: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1))
        proxies = [stack.enter_context(lean.server(n, upstream, args.port + i, tmp))
                   for i, n in enumerate(names)]  # fmt: skip
        for proxy in proxies:
            _check(proxy)
        for r in range(-1, args.rounds):  # round -1 warms up: not kept
            for mode in modes:
                rate = args.paced_rate if mode == "paced" else args.rate
                load = openloop.Load(rate, args.duration if r >= 0 else 2.0, 1.0, 128)
                for proxy in proxies[r % len(proxies) :] + proxies[: r % len(proxies)]:
                    settle(proxies)
                    cell = one(proxy, mode, load, tmp) | {"round": r}
                    print(f"  round {r} {mode:5} {proxy.name:24} {cell['cpu_ms']:.3f} ms/req "
                          f"sent {cell['sent_rps']:.0f}/s p99 {cell['p99_ms']:.2f} ms "
                          f"queued {cell['queued']} bad {cell['bad']}",
                          file=sys.stderr, flush=True)  # fmt: skip
                    if r >= 0:
                        cells.append(cell)
    return cells


def report(cells: list[dict[str, Any]], names: list[str], modes: list[str]) -> str:
    """Each server's median CPU per request per mode, and its paired ratio to the first."""
    by = {(c["server"], c["mode"], c["round"]): c for c in cells}
    rounds = sorted({c["round"] for c in cells})
    rows = []
    for name in names:
        row: list[Any] = [name]
        for mode in modes:
            mine = [by[(name, mode, r)] for r in rounds]
            ratios = [by[(name, mode, r)]["cpu_ms"] / by[(names[0], mode, r)]["cpu_ms"]
                      for r in rounds]  # fmt: skip
            behind = " (fell behind)" if any(c["queued"] for c in mine) else ""
            row.append(f"{statistics.median(c['cpu_ms'] for c in mine):.3f} "
                       f"({statistics.median(ratios):.2f}×){behind}")  # fmt: skip
        rows.append(row)
    return _common.table(["server", *(f"{m}: CPU ms/req (× {names[0]})" for m in modes)], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="reference,serve-lean", help="bench/lean.py's")
    parser.add_argument("--modes", default="json,tok,paced")
    parser.add_argument("--rate", type=float, default=250.0, help="requests/s, json and tok")
    parser.add_argument("--paced-rate", type=float, default=100.0, help="streams/s, paced")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=8640)
    args = parser.parse_args(argv)
    cells = run(args)
    _common.save("fixedrate", {"config": vars(args), "cells": cells})
    print(report(cells, args.servers.split(","), args.modes.split(",")))


if __name__ == "__main__":
    main()
