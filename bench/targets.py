"""Issue 25's targets, each beside its reference in one run, as one table.

    uv run --frozen --group bench python -m bench.targets [--rounds 3] [--duration 6]

Prints ``target | reference | serve | ratio | met?``, one row per target of the issue, and saves
every cell to ``bench/results/targets-*.json``. The servers are bench/lean.py's, each its own
process pinned to CPU 0: ``reference`` (bench/reference.py), ``serve`` (``policy-router serve``
on the lean path, a user named, audit to a file), ``serve-httpx`` (the same with
``POLICY_ROUTER_TRANSPORT=httpx``); the fake upstream, wrk and the open-loop generator share
CPU 1. A load cell is ``API-SHAPE+CONCURRENCY`` (``chat-json50``, ``messages-tok50``, …) run by
wrk in a closed loop, figured as the server's CPU per request, per SSE event, and the upstream
connections it opened, from /proc and the fake upstream's ``/stats``. The stream's shape rides
in the message text (bench/fake_upstream.py's ``[bench chunks=N pace_ms=M]`` marker), so one
upstream serves every cell. Each round runs every load cell on each of its servers back to
back (their order rotating per round, every server idle before a cell starts), then the
open-loop cells (bench/openloop.py); a row's figures are medians over rounds and its ratio the
median of the rounds' paired ratios. Start-up rows: the time from spawn to a 2xx ``/healthz``
(polled every 50 ms), peak RSS at the end of the run, and ``policy-router route`` wall time.

``--only TEXT`` runs the rows whose target contains TEXT (their cells only; the open loop and
``route`` only if a chosen row names them).

To add a target: a ``Row`` in ``ROWS`` naming its two (server, cell) figures; a new API or
stream shape: an entry in ``APIS`` or ``SHAPES``. A cell a server cannot answer (a 4xx/5xx on a
first request) is skipped and its rows say so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench import _common, lean, openloop, serve_startup
from bench.proxy import OUR_KEY, Proxy, load, settle

USER: Final = lean.USER
TEXT: Final = "Say ok."
# A served name: (bench/lean.py's server, environment it starts with).
SERVERS: Final = {
    "reference": ("reference", {}),
    "serve": ("serve-lean", {}),
    "serve-httpx": ("serve-lean", {"POLICY_ROUTER_TRANSPORT": "httpx"}),
    # the shipped deployment with only its lean routes (bench/serve_startup.py): litellm never
    # imported, the deployment the start-up and memory targets are about
    "serve-lean-only": ("serve-lean", {}),
}
CLAUDE: Final = "Claude 4.5 Sonnet"
O3_PRO: Final = "o3 pro"


@dataclass(frozen=True)
class Api:
    """An API of serve: its path, and the body of one request in it."""

    path: str
    body: Callable[[str, bool], dict[str, Any]]


def _chat(text: str, stream: bool) -> dict[str, Any]:
    body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": text}], "user": USER}
    return body | ({"stream": True} if stream else {})


def _responses(model: str) -> Callable[[str, bool], dict[str, Any]]:
    def body(text: str, stream: bool) -> dict[str, Any]:
        return {"model": model, "input": text, "user": USER} | ({"stream": True} if stream else {})

    return body


def _messages(model: str) -> Callable[[str, bool], dict[str, Any]]:
    def body(text: str, stream: bool) -> dict[str, Any]:
        request = {
            "model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}],
            "metadata": {"user_id": USER},
        }  # fmt: skip
        return request | ({"stream": True} if stream else {})

    return body


APIS: Final = {
    "chat": Api("/v1/chat/completions", _chat),
    "responses": Api("/v1/responses", _responses("GPT 4.1")),
    # Responses to o3 pro on OpenAI: sent as it came (the fake upstream's fixed Responses
    # answer; its stream is one token in 6 events, whatever the marker says).
    "o3pro": Api("/v1/responses", _responses(O3_PRO)),
    "messages": Api("/v1/messages", _messages("GPT 4.1")),
    # Messages to Claude on Anthropic: the fake upstream's fixed Messages answer (its stream
    # is one token in 6 events, whatever the marker says).
    "claude": Api("/v1/messages", _messages(CLAUDE)),
}


@dataclass(frozen=True)
class Shape:
    """JSON, or a stream: the marker the fake upstream reads, and SSE events per response."""

    stream: bool
    marker: Callable[[argparse.Namespace], str]
    events: Callable[[argparse.Namespace], int]
    long: bool = False  # its cells last --stream-duration


SHAPES: Final = {
    "json": Shape(False, lambda a: "", lambda a: 0),
    "tok": Shape(True, lambda a: "[bench chunks=1]", lambda a: 5),
    "stream": Shape(True, lambda a: f"[bench chunks={a.chunks}]", lambda a: a.chunks + 4, True),
    "paced": Shape(
        True,
        lambda a: f"[bench chunks={a.paced_chunks} pace_ms={a.pace_ms:g}]",
        lambda a: a.paced_chunks + 4,
        True,
    ),
}


@dataclass(frozen=True)
class Cell:
    """A load cell, ``API-SHAPE+CONCURRENCY``."""

    key: str
    api: Api
    shape: Shape
    concurrency: int

    @classmethod
    def parse(cls, key: str) -> Cell:
        api, _, rest = key.partition("-")
        shape = rest.rstrip("0123456789")
        if api not in APIS or shape not in SHAPES or shape == rest:
            raise SystemExit(f"cell {key!r}: expected API-SHAPE+CONCURRENCY ({APIS}, {SHAPES})")
        return cls(key, APIS[api], SHAPES[shape], int(rest[len(shape) :]))

    def body(self, args: argparse.Namespace) -> dict[str, Any]:
        return self.api.body(f"{TEXT} {self.shape.marker(args)}".strip(), self.shape.stream)


@dataclass(frozen=True)
class Row:
    """A target: two figures (server, cell) and the test between them.

    ``test``: ``ratio`` (serve / reference ≤ limit), ``serve`` (serve ≤ limit), ``added``
    (serve − reference ≤ limit), ``info`` (no target: shown beside them), ``connections`` (serve / reference ≤ limit, or serve at most
    the cell's concurrency: a pool filled once)."""

    target: str
    unit: str
    reference: tuple[str, str]
    serve: tuple[str, str]
    metric: str
    limit: float
    test: str


def _rows(args: argparse.Namespace) -> tuple[Row, ...]:
    ref, srv, lean_only = "reference", "serve", "serve-lean-only"
    paced = f"{args.paced_chunks} tokens, {args.pace_ms:g} ms apart"
    return (
        Row("chat JSON c=50: CPU ≤ 2.0× reference", "ms/req", (ref, "chat-json50"), (srv, "chat-json50"), "cpu_ms", 2.0, "ratio"),
        Row("chat JSON c=200: CPU ≤ 2.0× reference", "ms/req", (ref, "chat-json200"), (srv, "chat-json200"), "cpu_ms", 2.0, "ratio"),
        Row("1-token stream c=50: CPU ≤ 2.0× reference", "ms/stream", (ref, "chat-tok50"), (srv, "chat-tok50"), "cpu_ms", 2.0, "ratio"),
        Row(f"paced stream ({paced}) c=50: CPU per event ≤ 1.3× reference", "µs/event", (ref, "chat-paced50"), (srv, "chat-paced50"), "cpu_us_event", 1.3, "ratio"),
        Row(f"unpaced stream ({args.chunks} tokens, one write) c=50: CPU per event ≤ 30 µs", "µs/event", (ref, "chat-stream50"), (srv, "chat-stream50"), "cpu_us_event", 30.0, "serve"),
        Row("/v1/responses JSON: CPU ≤ 1.2× chat", "ms/req", (srv, "chat-json50"), (srv, "responses-json50"), "cpu_ms", 1.2, "ratio"),
        Row("/v1/responses 1-token stream: CPU ≤ 1.2× chat", "ms/stream", (srv, "chat-tok50"), (srv, "responses-tok50"), "cpu_ms", 1.2, "ratio"),
        Row(f"/v1/responses to {O3_PRO} (OpenAI) as it came JSON: CPU ≤ 1.2× chat", "ms/req", (srv, "chat-json50"), (srv, "o3pro-json50"), "cpu_ms", 1.2, "ratio"),
        Row(f"/v1/responses to {O3_PRO} stream: CPU ≤ 1.2× chat 1-token", "ms/stream", (srv, "chat-tok50"), (srv, "o3pro-tok50"), "cpu_ms", 1.2, "ratio"),
        Row("/v1/messages JSON: CPU ≤ 1.2× chat", "ms/req", (srv, "chat-json50"), (srv, "messages-json50"), "cpu_ms", 1.2, "ratio"),
        Row("/v1/messages 1-token stream: CPU ≤ 1.2× chat", "ms/stream", (srv, "chat-tok50"), (srv, "messages-tok50"), "cpu_ms", 1.2, "ratio"),
        Row(f"/v1/messages to {CLAUDE} (Anthropic) JSON: CPU ≤ 1.2× chat", "ms/req", (srv, "chat-json50"), (srv, "claude-json50"), "cpu_ms", 1.2, "ratio"),
        Row(f"/v1/messages to {CLAUDE} stream: CPU ≤ 1.2× chat 1-token", "ms/stream", (srv, "chat-tok50"), (srv, "claude-tok50"), "cpu_ms", 1.2, "ratio"),
        Row("httpx transport: new upstream connections, 1-token streams c=50, ≤ 2× the default (httptools)", "per cell", (srv, "chat-tok50"), ("serve-httpx", "chat-tok50"), "new_connections", 2.0, "connections"),
        Row("lean-only deployment, chat JSON c=200: CPU ≤ 2.0× reference", "ms/req", (ref, "chat-json200"), (lean_only, "chat-json200"), "cpu_ms", 2.0, "ratio"),
        Row("lean-only deployment: serve ready after start ≤ 1.0 s", "s", (ref, "start"), (lean_only, "start"), "ready_s", 1.0, "serve"),
        Row("lean-only deployment: peak RSS over the run (c=200 included) ≤ 100 MiB", "MiB", (ref, "start"), (lean_only, "start"), "rss_mib", 100.0, "serve"),
        Row("shipped deployment (litellm loaded for Claude's chat routes): serve ready", "s", (ref, "start"), (srv, "start"), "ready_s", 0.0, "info"),
        Row("shipped deployment: peak RSS over the run", "MiB", (ref, "start"), (srv, "start"), "rss_mib", 0.0, "info"),
        Row("`policy-router route` on a lean route ≤ 1.0 s (reference: one request from a bare httpx script)", "s", ("client", "route"), (srv, "route"), "route_s", 1.0, "serve"),
        Row(f"open loop {args.rate:,.0f} req/s, JSON: p99 added ≤ 1 ms (reference: the upstream direct)", "ms p99", ("direct", "open-json"), (srv, "open-json"), "p99_ms", 1.0, "added"),
        Row(f"open loop {args.rate:,.0f} req/s, 1-token stream, first byte: p99 added ≤ 1 ms", "ms p99", ("direct", "open-stream"), (srv, "open-stream"), "p99_ms", 1.0, "added"),
    )  # fmt: skip


# --- measuring -------------------------------------------------------------------------------


@contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in this process's environment while a server starts (bench/lean.py's servers
    take it from there)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _script(path: Path, body: dict[str, Any], key: str) -> Path:
    path.write_text(lean.WRK % {"body": json.dumps(body, separators=(",", ":")), "key": key})
    return path


def check(proxy: Proxy, cell: Cell, args: argparse.Namespace) -> str | None:
    """Why ``proxy`` cannot run ``cell`` (its answer to one request), or None."""
    import httpx

    try:
        response = httpx.post(
            proxy.url + cell.api.path, json=cell.body(args), timeout=60,
            headers={"Authorization": f"Bearer {proxy.key}"},
        )  # fmt: skip
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__} on {cell.api.path}"
    if response.status_code != 200 or not response.content:
        return f"{response.status_code} on {cell.api.path}: {response.text[:120]}"
    return None


def closed(
    proxy: Proxy, upstream: str, cell: Cell, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    """One wrk cell: the server's CPU per request and per event, new upstream connections."""
    seconds = args.stream_duration if cell.shape.long else args.duration
    proxy.script = _script(tmp / f"{proxy.name}-{cell.key}.lua", cell.body(args), proxy.key)
    before, cpu = _common.upstream_stats(upstream), proxy.cpu_s()
    result = load(proxy, cell.concurrency, seconds, "wrk", cell.api.path)
    cpu, after = proxy.cpu_s() - cpu, _common.upstream_stats(upstream)
    per_request = cpu / max(result["ok"], 1) * 1000
    events = cell.shape.events(args)
    result.update(
        cpu_s=cpu, cpu_ms=per_request, events=events,
        cpu_us_event=per_request * 1000 / events if events else None,
        new_connections=after["connections"] - before["connections"] - 1,  # less /stats' own
    )  # fmt: skip
    return result


def route_times(upstream: str, tmp: Path, runs: int) -> dict[str, list[float]]:
    """Wall time of ``policy-router route`` on the lean route, and of a bare script sending
    the same request, each pinned to CPU 0, interleaved, after one warm run each."""
    env = _common.bench_env({
        "OPENAI_API_KEY": "fake",
        "POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE": f"{upstream}/v1",
        "POLICY_ROUTER_AUDIT": str(tmp / "audit-route.jsonl"),
        "POLICY_ROUTER_DATA_DIR": str(tmp / "data-route"),
        "POLICY_ROUTER_STORE_URL": f"sqlite:///{tmp / 'prefs-route.sqlite3'}",
        "POLICY_ROUTER_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdef",
        "PYTHONPATH": str(_common.ROOT),
    })  # fmt: skip
    request = {"model": "gpt-4.1", "messages": [{"role": "user", "content": TEXT}]}
    bare = (
        f"import httpx; httpx.post({upstream + '/v1/chat/completions'!r}, "
        f"json={request!r}).raise_for_status()"
    )
    commands = {
        "serve": [sys.executable, "-m", "router.cli", "route", "GPT 4.1", TEXT, "--online",
                  "--user", USER],
        "client": [sys.executable, "-c", bare],
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs + 1):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(
                [*_common.pin_prefix(0), *command], cwd=tmp, env=env, check=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
            )  # fmt: skip
            if i:  # the first run of each warms the page cache and bytecode
                times[name].append(time.perf_counter() - started)
    return times


# --- the run ---------------------------------------------------------------------------------


Figures = dict[tuple[str, str], list[dict[str, Any]]]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = tuple(r for r in _rows(args) if args.only is None or args.only in r.target)
    plan = _plan(rows)
    cells_named = {c for row in rows for _, c in (row.reference, row.serve)}
    args.open_loop = any(c.startswith("open-") for c in cells_named)
    figures: Figures = {}
    skipped: dict[tuple[str, str], str] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1))
        names = sorted({s for cell in plan.values() for s in cell}, key=list(SERVERS).index)
        proxies = {name: stack.enter_context(_server(name, i, upstream, args.port, tmp))
                   for i, name in enumerate(names)}  # fmt: skip
        for name, proxy in proxies.items():
            figures[(name, "start")] = [{"ready_s": proxy.startup_s}]
        times = route_times(upstream, tmp, args.route_runs) if "route" in cells_named else {}
        for name, values in times.items():
            figures[(name, "route")] = [{"route_s": v} for v in values]
        cells = {key: Cell.parse(key) for key in plan}
        for key, names in plan.items():
            for name in names:
                reason = check(proxies[name], cells[key], args)
                if reason is None:
                    closed(proxies[name], upstream, cells[key], _warm(args), tmp)  # warm-up
                else:
                    skipped[(name, key)] = reason
                    print(f"  skipped {key} on {name}: {reason}", file=sys.stderr, flush=True)
        for i in range(args.rounds):
            _round(i, plan, cells, proxies, upstream, skipped, figures, args, tmp)
        for name, proxy in proxies.items():
            figures[(name, "start")][0]["rss_mib"] = _common.peak_rss_kib(proxy.proc.pid) / 1024
        load_avg = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "config": vars(args),
        "loadavg": load_avg,
        "rows": [_row(row, figures, skipped) for row in rows],
        "skipped": {f"{s} {c}": why for (s, c), why in skipped.items()},
        "cells": [{"server": s, "cell": c, "round": i, **f}
                  for (s, c), runs in figures.items() for i, f in enumerate(runs)],
    }  # fmt: skip


@contextmanager
def _server(name: str, index: int, upstream: str, port: int, tmp: Path) -> Iterator[Proxy]:
    """A server of ``SERVERS`` in a directory of its own, Anthropic's API on the upstream."""
    lean_name, env = SERVERS[name]
    home = tmp / name
    home.mkdir()
    anthropic = {"ANTHROPIC_API_KEY": "fake",
                 "POLICY_ROUTER_PROVIDERS__ANTHROPIC__API_BASE": upstream}  # fmt: skip
    if name == "serve-lean-only":
        deployment = serve_startup.lean_only_deployment(tmp / "routes-lean-only.yaml")
        env = env | {"POLICY_ROUTER_DEPLOYMENT": str(deployment)}
    with ExitStack() as stack:
        with _environ(anthropic | env):
            proxy = stack.enter_context(lean.server(lean_name, upstream, port + index, home))
        proxy.name = name
        print(f"  {name} ready after {proxy.startup_s:.2f} s", file=sys.stderr, flush=True)
        yield proxy


def _plan(rows: tuple[Row, ...]) -> dict[str, list[str]]:
    """Every load cell the rows name, with the servers it runs on, in the rows' order."""
    plan: dict[str, list[str]] = {}
    for row in rows:
        for server, cell in (row.reference, row.serve):
            if cell in ("start", "route") or cell.startswith("open-"):
                continue
            if server not in plan.setdefault(cell, []):
                plan[cell].append(server)
    return plan


def _warm(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**(vars(args) | {"duration": 1, "stream_duration": 1}))


def _round(
    i: int,
    plan: dict[str, list[str]],
    cells: dict[str, Cell],
    proxies: dict[str, Proxy],
    upstream: str,
    skipped: dict[tuple[str, str], str],
    figures: Figures,
    args: argparse.Namespace,
    tmp: Path,
) -> None:
    """Every load cell on its servers (order rotating), then the open-loop cells."""
    for key, names in plan.items():
        for name in [*names[i % len(names) :], *names[: i % len(names)]]:
            if (name, key) in skipped:
                continue
            settle(list(proxies.values()))
            result = closed(proxies[name], upstream, cells[key], args, tmp)
            figures.setdefault((name, key), []).append(result)
            per_event = f" {result['cpu_us_event']:.1f} µs/event" if result["events"] else ""
            print(f"  round {i + 1} {key:16} {name:12} {result['rps']:8.1f} req/s "
                  f"cpu {result['cpu_ms']:.3f} ms/req{per_event} new conns "
                  f"{result['new_connections']} errors {result['errors']}",
                  file=sys.stderr, flush=True)  # fmt: skip
    if not args.open_loop:
        return
    urls = {"direct": f"{upstream}/v1/chat/completions",
            "serve": f"{proxies['serve'].url}/v1/chat/completions"}  # fmt: skip
    order = ["direct", "serve"] if i % 2 == 0 else ["serve", "direct"]
    load = openloop.Load(args.rate, args.open_duration, args.open_warmup, args.connections)
    for mode in openloop.MODES:
        for name in order:
            settle(list(proxies.values()))
            request = openloop.body("GPT 4.1", mode == "stream")
            cpu = proxies["serve"].cpu_s if name == "serve" else None
            result = openloop.cell(urls[name], request, OUR_KEY, load, tmp, cpu)
            result.update(target=name, mode=mode, p99_ms=openloop.figure(result, mode, "p99_ms"))
            figures.setdefault((name, f"open-{mode}"), []).append(result)
            print(f"  round {i + 1} open-{mode:11} {name:12} p99 {result['p99_ms']:.3f} ms "
                  f"sent {result['achieved_rps']:.0f}/s queued {result['queued']}",
                  file=sys.stderr, flush=True)  # fmt: skip


def _row(row: Row, figures: Figures, skipped: dict[tuple[str, str], str]) -> dict[str, Any]:
    """A row's medians, paired ratio over rounds, and verdict."""
    out: dict[str, Any] = {"target": row.target, "unit": row.unit, "test": row.test,
                           "limit": row.limit}  # fmt: skip
    missing = [skipped.get(side, "not run") for side in (row.reference, row.serve)
               if side not in figures]  # fmt: skip
    if missing:
        return out | {"met": None, "why": "; ".join(missing)}
    ref = [f[row.metric] for f in figures[row.reference]]
    ours = [f[row.metric] for f in figures[row.serve]]
    errors = sum(f.get("errors", 0) + f.get("status_errors", 0) for side in (row.reference, row.serve)
                 for f in figures[side])  # fmt: skip
    ref_m, ours_m = statistics.median(ref), statistics.median(ours)
    pairs = [b / a for a, b in zip(ref, ours, strict=False) if a]
    ratio = statistics.median(pairs) if pairs else float("inf")
    met: bool | None
    if row.test == "info":  # a figure beside the targets, not one of them
        met = None
    elif row.test == "ratio":
        met = ratio <= row.limit
    elif row.test == "serve":
        met = ours_m <= row.limit
    elif row.test == "added":
        met = ours_m - ref_m <= row.limit
    else:  # connections: opening the cell's pool once is no regression
        met = ratio <= row.limit or ours_m <= Cell.parse(row.serve[1]).concurrency
    queued = sum(f.get("queued", 0) for f in figures[row.serve])  # open loop: fell behind
    return out | {
        "reference": ref_m, "serve": ours_m, "ratio": ratio, "added": ours_m - ref_m,
        "ratios": pairs, "rounds": len(ours), "errors": errors, "met": met, "queued": queued,
        "answered_rps": statistics.median(f.get("answered_rps", 0.0) for f in figures[row.serve]),
    }  # fmt: skip


def report(result: dict[str, Any]) -> str:
    lines = []
    for r in result["rows"]:
        if r["met"] is None and "why" in r:
            lines.append([r["target"], r["unit"], "", "", "", f"not measured: {r['why']}"])
            continue
        verdict = "for comparison" if r["met"] is None else "met" if r["met"] else "**missed**"
        if r["test"] == "added":
            verdict += f" (+{r['added']:.3f} ms)"
        if r["queued"]:
            verdict += f"; fell behind: {r['answered_rps']:,.0f} answers/s, {r['queued']} queued"
        if r["errors"]:
            verdict += f", {r['errors']} errors"
        spread = (f" ({min(r['ratios']):.2f}-{max(r['ratios']):.2f})"
                  if len(r["ratios"]) > 1 else "")  # fmt: skip
        ratio = f"{r['ratio']:.2f}×{spread}" if r["ratio"] != float("inf") else "n/a"
        lines.append([r["target"], r["unit"], _num(r["reference"]), _num(r["serve"]), ratio,
                      verdict])  # fmt: skip
    config = result["config"]
    head = (
        f"{config['rounds']} round(s); load cells {config['duration']:g} s "
        f"({config['stream_duration']:g} s for long streams), open loop {config['rate']:,.0f} "
        f"req/s for {config['open_duration']:g} s; load average at the end "
        f"{' '.join(result['loadavg'])}\n\n"
    )
    headers = ["target", "unit", "reference", "serve", "ratio (rounds)", "met?"]
    opened = [c for c in result["cells"] if c["cell"].startswith("open-")]
    if not opened:  # --only chose no open-loop row
        return head + _common.table(headers, lines)
    details = openloop.report({
        "config": {"rate": config["rate"], "duration": config["open_duration"],
                   "warmup": config["open_warmup"], "rounds": config["rounds"],
                   "connections": config["connections"]},
        "summary": openloop.summary(opened, ["direct", "serve"]),
    })  # fmt: skip
    return head + _common.table(headers, lines) + "\n\n" + details


def _num(value: float) -> str:
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds per load cell")
    parser.add_argument(
        "--stream-duration", type=int, default=10, help="seconds per cell of long streams"
    )
    parser.add_argument("--chunks", type=int, default=300, help="tokens of an unpaced stream")
    parser.add_argument("--paced-chunks", type=int, default=20, help="tokens of a paced stream")
    parser.add_argument("--pace-ms", type=float, default=10.0, help="between paced events")
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop, requests/s")
    parser.add_argument("--open-duration", type=float, default=15.0, help="seconds per cell")
    parser.add_argument("--open-warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=128, help="open loop's pool")
    parser.add_argument("--route-runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=8520)
    parser.add_argument(
        "--only", help="run only the rows whose target contains this text (e.g. /v1/responses)"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.targets needs wrk (apt-get install wrk)")
    result = run(args)
    path = _common.save("targets", result)
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
