"""Added latency, open loop: requests at a fixed rate whatever the answers do, through ``serve``
and straight to the fake upstream, in one run.

The generator (``python -m bench.openloop generate …``, a process of its own pinned to CPU 1
beside the fake upstream) sends request ``i`` at ``start + i / rate``: a thread sleeps until
each send time (``time.sleep``, tens of microseconds late, not the event loop's millisecond
timers) and hands the send to a uvloop loop, which writes pre-built request bytes on an idle
keep-alive connection of a pool opened beforehand and parses answers with httptools. A
request's latency runs from its *scheduled* time, not from when it went out, so a stall of the
server (or of the generator) counts against every request it delayed: no coordinated omission.
When every connection is busy, a request waits for one (still timed from its schedule) and is
counted as queued; the pool (``--connections``) is sized so that none should.

Per cell: p50/p99/p99.9 of the latency of a JSON chat completion, or of the first byte of a
streamed one's body (its first SSE event; a 1-token stream, asked of the fake upstream by
the ``[bench chunks=1]`` marker in the message); the achieved
send rate, how late the sends were against their schedule, requests queued, errors, and the
generator's own CPU per request (to show it is not the bottleneck). Targets: ``direct`` (the
fake upstream itself), ``serve`` (``policy-router serve`` on the lean path, a user named, audit
to a file, pinned to CPU 0, as bench/lean.py starts it), optionally ``reference``
(bench/reference.py). The figure is serve's p99 minus direct's, per mode (target ≤ 1 ms at
1,000 requests per second on one core). Cells interleave: each round runs every target, the
order rotating. 127.0.0.1 only; every cell is bounded in requests and time.

    uv run --frozen --group bench python -m bench.openloop [--rate 1000] [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from bench import _common

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_REQUESTS: Final = 2_000_000
MAX_SECONDS: Final = 600.0
TARGET_ADDED_P99_MS: Final = 1.0
MODES: Final = ("json", "stream")
PR_SET_TIMERSLACK: Final = 29  # prctl(2)
USER: Final = "bench-user-0001"  # as bench/lean.py: the body names an end user (a store read)


def send_times(rate: float, count: int) -> list[float]:
    """Offsets from the start, in seconds, at which requests ``0 .. count - 1`` are due."""
    return [i / rate for i in range(count)]


def body(model: str, stream: bool) -> dict[str, Any]:
    """The chat request of a cell: JSON, or a 1-token stream (bench/fake_upstream.py's marker)."""
    text = "Say ok. [bench chunks=1]" if stream else "Say ok."
    request: dict[str, Any] = {
        "model": model, "messages": [{"role": "user", "content": text}], "user": USER,
    }  # fmt: skip
    return request | ({"stream": True} if stream else {})


# --- the generator (its own process) ---------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed by httptools."""

    def __init__(self, generator: Generator) -> None:
        import httptools

        self.generator = generator
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.due = self.fired = self.sent = self.first = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, due: float, fired: float) -> None:
        assert self.transport is not None
        self.busy, self.due, self.fired, self.first = True, due, fired, 0.0
        self.sent = time.perf_counter()
        self.transport.write(self.generator.request)

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.generator.failed(self)
            if self.transport is not None:
                self.transport.close()

    def on_body(self, _body: bytes) -> None:
        if not self.first:
            self.first = time.perf_counter()

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.busy = False
        self.generator.answered(self, status, time.perf_counter())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.generator.failed(self)


class Generator:
    """Sends at the schedule; per answer records when it was due, when the loop had it (the
    generator's own lateness), when it went out (later if it waited for a connection), its
    first body byte, its end and its status."""

    def __init__(self, args: argparse.Namespace) -> None:
        split = urlsplit(args.url)
        if split.hostname not in LOOPBACK_HOSTS:
            raise SystemExit(f"loopback URLs only (got {split.hostname})")
        self.host, self.port = split.hostname, split.port or 80
        payload = Path(args.body_file).read_bytes()
        self.request = (
            f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {args.key}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        self.args = args
        self.count = min(round(args.rate * (args.warmup + args.duration)), MAX_REQUESTS)
        self.idle: deque[_Connection] = deque()
        self.waiting: deque[tuple[float, float]] = deque()
        self.records: list[tuple[float, float, float, float, float, int]] = []
        self.errors = self.queued = self.in_flight = self.max_in_flight = self.opened = 0
        self.done = asyncio.Event()
        self.fired = 0

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        for _ in range(self.args.connections):
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
            self.idle.append(conn)
            self.opened += 1

    def fire(self, due: float) -> None:
        """Send the request due at ``due`` on an idle connection, else queue it."""
        fired = time.perf_counter()
        self.fired += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        while self.idle:
            conn = self.idle.popleft()
            if conn.transport is not None:
                conn.send(due, fired)
                return
        self.queued += 1
        self.waiting.append((due, fired))

    def answered(self, conn: _Connection, status: int, end: float) -> None:
        self.records.append((conn.due, conn.fired, conn.sent, conn.first or end, end, status))
        self._finished(conn)

    def failed(self, conn: _Connection) -> None:
        if conn.busy:
            conn.busy = False
            self.errors += 1
            self.in_flight -= 1
            self._check_done()

    def _finished(self, conn: _Connection) -> None:
        self.in_flight -= 1
        if self.waiting:
            conn.send(*self.waiting.popleft())
        else:
            self.idle.append(conn)
        self._check_done()

    def _check_done(self) -> None:
        if self.fired == self.count and self.in_flight == 0:
            self.done.set()

    def tick(self, loop: asyncio.AbstractEventLoop, start: float) -> None:
        """The schedule, on a thread: sleep until each send time, hand the send to the loop."""
        _fine_timer_slack()
        for offset in send_times(self.args.rate, self.count):
            due = start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            loop.call_soon_threadsafe(self.fire, due)

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await self.open(loop)
        gc.collect()
        gc.disable()  # no collector pause inside the generator's measurements
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter() + 0.05
        ticker = threading.Thread(target=self.tick, args=(loop, start), daemon=True)
        ticker.start()
        limit = self.args.warmup + self.args.duration + self.args.timeout
        with suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout=limit)
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime
        return summarize(self.records, start, self.args, self.count) | {
            "errors": self.errors, "queued": self.queued, "max_in_flight": self.max_in_flight,
            "incomplete": self.count - len(self.records) - self.errors, "connections": self.opened,
            "generator_cpu_s": cpu_s, "generator_cpu_us_per_request": cpu_s / self.count * 1e6,
        }  # fmt: skip


def _fine_timer_slack() -> None:
    """This thread's sleeps end within a microsecond of their time, not Linux's default 50."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)


def summarize(
    records: Sequence[tuple[float, float, float, float, float, int]],
    start: float,
    args: argparse.Namespace,
    count: int,
) -> dict[str, Any]:
    """Percentiles of the records scheduled after the warm-up, in milliseconds."""
    measured = [r for r in records if r[0] - start >= args.warmup]
    ok = [r for r in measured if r[5] == 200]
    fired = sorted(r[1] for r in records)
    span = fired[-1] - fired[0] if len(fired) > 1 else float("nan")
    ends = sorted(r[4] for r in ok)
    answered = ends[-1] - ends[0] if len(ends) > 1 else float("nan")

    def pcts(values: list[float], prefix: str) -> dict[str, float]:
        return {
            f"{prefix}p50_ms": _common.percentile(values, 50),
            f"{prefix}p90_ms": _common.percentile(values, 90),
            f"{prefix}p99_ms": _common.percentile(values, 99),
            f"{prefix}p999_ms": _common.percentile(values, 99.9),
            f"{prefix}max_ms": max(values, default=float("nan")),
        }

    return {
        "requests": count,
        "measured": len(measured),
        "ok": len(ok),
        "status_errors": len(measured) - len(ok),
        "rate": args.rate,
        # the rate at which the schedule reached the loop: the generator's own, whatever the
        # answers did (a request that then waited for a connection is in wait_ and queued)
        "achieved_rps": (len(fired) - 1) / span if span == span and span > 0 else float("nan"),
        # what the target kept up with: under the rate, it fell behind and requests queued
        "answered_rps": (len(ends) - 1) / answered if answered > 0 else float("nan"),
        **pcts([(r[3] - r[0]) * 1000 for r in ok], "first_"),
        **pcts([(r[4] - r[0]) * 1000 for r in ok], ""),
        **pcts([(r[1] - r[0]) * 1000 for r in records], "lag_"),
        **pcts([(r[2] - r[1]) * 1000 for r in records], "wait_"),
    }


def generate(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.openloop generate")
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/v1/chat/completions")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--key", default="none")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not measured")
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to drain at the end")
    args = parser.parse_args(argv)
    if args.warmup + args.duration > MAX_SECONDS:
        raise SystemExit(f"at most {MAX_SECONDS:.0f} s per cell")
    import uvloop

    result = uvloop.run(Generator(args).run())
    print("OPENLOOP " + json.dumps(result), flush=True)


# --- the run: targets, cells, report ---------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """An open-loop cell's load: requests per second, seconds measured after ``warmup``
    seconds, the connection pool."""

    rate: float = 1000.0
    duration: float = 20.0
    warmup: float = 2.0
    connections: int = 128


def cell(
    url: str,
    request: dict[str, Any],
    key: str,
    load: Load,
    tmp: Path,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """One open-loop cell: the generator in its own process, pinned to CPU 1. ``cpu`` (the
    server's CPU seconds so far, bench/proxy.py's ``Proxy.cpu_s``) adds the server's CPU per
    request answered (warm-up included) and how busy its core was over the cell (CPU seconds per second of the
    schedule): the queue a request waits in grows with the second."""
    body_file = tmp / "openloop-body.json"
    body_file.write_text(json.dumps(request, separators=(",", ":")))
    command = [
        *_common.pin_prefix(1), sys.executable, "-m", "bench.openloop", "generate",
        "--url", url, "--body-file", str(body_file), "--key", key, "--rate", str(load.rate),
        "--duration", str(load.duration), "--warmup", str(load.warmup),
        "--connections", str(load.connections),
    ]  # fmt: skip
    before = cpu() if cpu is not None else 0.0
    done = subprocess.run(
        command, cwd=_common.ROOT, env=_common.bench_env(), capture_output=True, text=True,
        timeout=load.warmup + load.duration + 120, check=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("OPENLOOP "))
    result = dict(json.loads(line.removeprefix("OPENLOOP ")))
    if cpu is not None:
        used = cpu() - before
        answered = result["requests"] - result["incomplete"] - result["errors"]
        result["server_cpu_ms_per_request"] = used / max(answered, 1) * 1000
        result["server_busy"] = used / (result["requests"] / load.rate)
    return result


def figure(result: dict[str, Any], mode: str, stat: str) -> float:
    """A latency percentile of a cell: the whole answer for JSON, the first byte for streams."""
    return float(result[("first_" if mode == "stream" else "") + stat])


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import lean
    from bench.proxy import OUR_KEY, _check

    names = [n for n in args.targets.split(",") if n]
    trees = {name: Path(path) for name, path in args.tree}
    cells: list[dict[str, Any]] = []
    collector: dict[str, Any] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1))
        urls = {"direct": f"{upstream}/v1/chat/completions"}
        proxies = {}
        for i, name in enumerate(n for n in names if n != "direct"):
            server = "serve-lean" if name == "serve" else name
            proxy = stack.enter_context(
                lean.server(server, upstream, args.port + i, tmp, trees=trees,
                            gc_stats=server.startswith("serve"))
            )  # fmt: skip
            _check(proxy)
            urls[name], proxies[name] = f"{proxy.url}/v1/chat/completions", proxy
        load = Load(args.rate, args.duration, args.warmup, args.connections)
        cpu = {name: proxy.cpu_s for name, proxy in proxies.items()}
        cells = run_cells(urls, names, OUR_KEY, load, args.rounds, tmp, cpu)
        for name, proxy in proxies.items():
            if proxy.name.startswith("serve"):
                collector[name] = lean.gc_stats_of(proxy, tmp)
    return {"config": vars(args), "cells": cells, "summary": summary(cells, names),
            "collector": collector}  # fmt: skip


def run_cells(
    urls: dict[str, str],
    names: list[str],
    key: str,
    load: Load,
    rounds: int,
    tmp: Path,
    cpu: dict[str, Callable[[], float]] | None = None,
) -> list[dict[str, Any]]:
    """Every target and mode, ``rounds`` times, the order of targets rotating; ``cpu``: the
    servers' CPU counters by target (``cell``)."""
    cells = []
    for name in names:  # warm-up: clients, pools, caches; not kept
        cell(urls[name], body("GPT 4.1", False), key, replace(load, duration=1, warmup=0), tmp)
    for i in range(rounds):
        for name in [*names[i % len(names) :], *names[: i % len(names)]]:
            for mode in MODES:
                request = body("GPT 4.1", mode == "stream")
                result = cell(urls[name], request, key, load, tmp, (cpu or {}).get(name))
                result.update(target=name, mode=mode, round=i)
                cells.append(result)
                print(f"  {mode:6} {name:10} p50 {figure(result, mode, 'p50_ms'):7.3f} p99 "
                      f"{figure(result, mode, 'p99_ms'):7.3f} p99.9 "
                      f"{figure(result, mode, 'p999_ms'):7.3f} ms  sent {result['achieved_rps']:7.1f}"
                      f"/s  lag p99 {result['lag_p99_ms']:.3f} ms  queued {result['queued']}  "
                      f"errors {result['errors'] + result['status_errors']}"
                      + (f"  CPU {result['server_cpu_ms_per_request']:.3f} ms/req busy "
                         f"{result['server_busy']:.0%}" if "server_busy" in result else ""),
                      file=sys.stderr, flush=True)  # fmt: skip
    return cells


def summary(cells: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Per mode and target, the median over rounds of each percentile; serve minus direct."""
    out: dict[str, Any] = {}
    for mode in MODES:
        row: dict[str, Any] = {}
        for name in names:
            mine = [c for c in cells if c["mode"] == mode and c["target"] == name]
            row[name] = {
                stat: _common.median([figure(c, mode, stat) for c in mine])
                for stat in ("p50_ms", "p99_ms", "p999_ms")
            } | {
                "achieved_rps": _common.median([c["achieved_rps"] for c in mine]),
                "answered_rps": _common.median([c["answered_rps"] for c in mine]),
                "lag_p99_ms": _common.median([c["lag_p99_ms"] for c in mine]),
                "queued": sum(c["queued"] for c in mine),
                "errors": sum(c["errors"] + c["status_errors"] + c["incomplete"] for c in mine),
                "generator_cpu_us_per_request": _common.median(
                    [c["generator_cpu_us_per_request"] for c in mine]
                ),
            }
            if mine and all("server_busy" in c for c in mine):
                row[name]["server_cpu_ms_per_request"] = _common.median(
                    [c["server_cpu_ms_per_request"] for c in mine]
                )
                row[name]["server_busy"] = _common.median([c["server_busy"] for c in mine])
        for name in names:
            if name != "direct" and "direct" in row:
                added = row[name]["p99_ms"] - row["direct"]["p99_ms"]
                row[name]["added_p99_ms"] = added
                row[name]["met"] = added <= TARGET_ADDED_P99_MS
        out[mode] = row
    return out


def report(result: dict[str, Any]) -> str:
    rows = []
    for mode, row in result["summary"].items():
        what = "JSON, whole answer" if mode == "json" else "1-token stream, first byte"
        for name, s in row.items():
            added = s.get("added_p99_ms")
            met = "" if added is None else ("met" if s["met"] else "**missed**")
            rows.append([
                what, name, s["p50_ms"], s["p99_ms"], s["p999_ms"],
                "" if added is None else f"{added:.3f}", met, s["achieved_rps"], s["answered_rps"],
                s["lag_p99_ms"], s["queued"], s["errors"], s["generator_cpu_us_per_request"],
                s.get("server_cpu_ms_per_request", ""),
                f"{s['server_busy']:.0%}" if "server_busy" in s else "",
            ])  # fmt: skip
    headers = [
        "mode", "target", "p50 ms", "p99 ms", "p99.9 ms", "p99 added ms",
        f"≤ {TARGET_ADDED_P99_MS:g} ms", "sent/s", "answered/s", "send lag p99 ms", "queued", "errors",
        "generator CPU µs/req", "server CPU ms/req", "server's core busy",
    ]  # fmt: skip
    config = result["config"]
    return (
        f"open loop at {config['rate']:,.0f} requests/s, {config['duration']:g} s per cell "
        f"(after {config['warmup']:g} s of warm-up), {config['rounds']} round(s), "
        f"{config['connections']} connections per cell; medians over rounds\n\n"
        + _common.table(headers, rows)
        + "".join(
            _collector_line(name, stats) for name, stats in result.get("collector", {}).items()
        )
    )


def _collector_line(name: str, stats: dict[str, Any] | None) -> str:
    """What the collector did in a serve over the whole run (bench/serve_gc.py)."""
    if stats is None:
        return f"\n{name}: no collector figures (not run under serve_gc.py, or it did not exit)"
    gens = stats["generations"]
    done = "; ".join(
        f"generation {gen}: {g['collections']} collection(s), {g['total_ms']:.1f} ms in all, "
        f"longest {g['max_ms']:.1f} ms"
        for gen, g in gens.items()
    )
    return (
        f"\n{name}: garbage collections while serving (warm-up cells included): {done or 'none'}; "
        f"{stats['frozen']:,} objects frozen at start-up, thresholds {stats['threshold']}"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:
        generate(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not measured")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=128, help="keep-alive pool per cell")
    parser.add_argument("--targets", default="direct,serve",
                        help="direct, serve, reference, serve@NAME (--tree)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8490)
    from bench import lean

    lean.add_tree_option(parser)
    args = parser.parse_args(argv)
    result = run(args)
    path = _common.save("openloop", result)
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
