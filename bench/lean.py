"""The lean path side by side: the reference forwarder, ``serve`` on each path, ``serve`` as on
main, and LiteLLM's proxy, in one run, as ratios.

Every server runs as its own process pinned to CPU 0; the fake upstream and wrk share CPU 1.
Cells (``--cells``, a comma-separated list of KIND+CONCURRENCY):

- ``json50``, ``json200``: non-streaming chat;
- ``stream50``: streams of ``--chunks`` text deltas, written by the upstream at once;
- ``tok50``: a 1-token stream (5 events: role, the token, finish, usage, ``[DONE]``);
- ``paced50``: streams of ``--paced-chunks`` deltas, one event every ``--pace-ms`` ms.

The stream's shape rides in the request (bench/fake_upstream.py's ``[bench …]`` marker in the
message text), so every server meets the same upstream. Per cell and server: CPU per request
and per event (from /proc over the cell), req/s, wrk's p50/p99, and the upstream connections
opened during the cell; then each server's peak RSS. The body names an end user (a store
read) and every request writes two audit records to a file. ``--profile`` runs ``serve`` on the
lean path under cProfile instead and prints its top functions by own time.

``cells(...)`` is the importable entry (bench/run's summary calls it); it returns
``{"cells": [CELL, …], "peak_rss_mib": {server: MiB}, "loadavg": [...], …}`` where each CELL
is ``{"proxy", "kind", "concurrency", "stream", "events", "rps", "p50_ms", "p99_ms", "ok",
"errors", "cpu_s", "cpu_ms_per_request", "cpu_us_per_event", "new_connections"}`` (``events``:
SSE events per response, 0 for JSON; ``new_connections``: upstream connections the fake
accepted during the cell). ``ratios(result, "reference")`` gives each cell's CPU ratio to one
server.

    uv run --frozen --group bench python -m bench.lean [--duration 8] [--chunks 300]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from bench import _common
from bench.proxy import (
    LITELLM_ENV,
    LITELLM_KEY,
    OUR_KEY,
    Proxy,
    _check,
    load,
    serve_env,
    settle,
)

MAIN: Final = Path("/work/main")  # serve as it is on main ("today"), from main's environment
USER: Final = "bench-user-0001"
WRK: Final = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


# The cell kinds: (streamed, the marker's text deltas or None: the upstream's --sse-chunks).
KINDS: Final = ("json", "stream", "tok", "paced")


def _script(
    path: Path, model: str, key: str, *, stream: bool, user: bool = True, marker: str = ""
) -> Path:
    content = f"Say ok. {marker}".strip()
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if user:
        body["user"] = USER
    if stream:
        body["stream"] = True
    path.write_text(WRK % {"body": json.dumps(body, separators=(",", ":")), "key": key})
    return path


def _popen(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Any:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*_common.pin_prefix(0), *command], cwd=cwd, env=_common.bench_env(env),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@contextmanager
def server(
    name: str,
    upstream: str,
    port: int,
    tmp: Path,
    profile: Path | None = None,
    base: Path | None = None,
    trees: dict[str, Path] | None = None,
    gc_stats: bool = False,
) -> Iterator[Proxy]:
    """One of: reference, serve-lean, serve-lean-anon (no user: no store read), serve-lean-httpx
    (the lean path on httpx: POLICY_ROUTER_TRANSPORT=httpx; any serve name ending in -httpx, or
    -aiohttp for aiohttp: the default is the router's own client, httptools), serve-litellm,
    serve-main, litellm-proxy, serve-base (serve on the lean path from the tree ``base``, with
    this tree's environment: the before of a before/after run), serve@NAME (the same from the
    tree ``--tree NAME=DIR`` names; serve@NAME-httpx, serve@NAME-aiohttp: on that), serve-granian (serve's app on
    granian: one worker, HTTP/1, uvloop; serve-granian-rloop or -asyncio: that loop; -st: its
    single-threaded runtime; granian installed by hand, bench/granian_app.py). ``gc_stats``: a
    serve on uvicorn runs under bench/serve_gc.py, which logs its collector's pauses at exit
    (``gc_stats_of``)."""
    url = f"http://{_common.LOOPBACK}:{port}"
    env = serve_env(upstream, port, tmp, name)
    model, key, health, cwd = "GPT 4.1", OUR_KEY, "/healthz", tmp
    if name == "reference":
        command = [sys.executable, "-m", "bench.reference", "--upstream", f"{upstream}/v1",
                   "--port", str(port), "--key", OUR_KEY, "--audit", str(tmp / "audit-ref.jsonl")]  # fmt: skip
        env = {"PYTHONPATH": str(_common.ROOT)}
    elif name == "serve-main":
        command = [str(MAIN / ".venv" / "bin" / "policy-router"), "serve"]
        env["PYTHONPATH"] = str(MAIN)
        cwd = MAIN
    elif name == "litellm-proxy":
        command = [str(LITELLM_ENV / ".venv" / "bin" / "litellm"), "--config",
                   str(_common.ROOT / "bench" / "litellm_config.yaml"), "--host",
                   _common.LOOPBACK, "--port", str(port), "--num_workers", "1"]  # fmt: skip
        env = {"BENCH_UPSTREAM_API_BASE": f"{upstream}/v1", "BENCH_LITELLM_MASTER_KEY": LITELLM_KEY}
        model, key, health = "gpt-4.1", LITELLM_KEY, "/health/liveliness"
    else:
        command = [sys.executable, "-m", "router.cli", "serve"]
        if profile is not None:
            command = [sys.executable, "-m", "bench.serve_profiled", str(profile)]
        elif gc_stats:
            command = [sys.executable, str(_common.ROOT / "bench" / "serve_gc.py")]
        env["PYTHONPATH"] = str(_common.ROOT)
        if name.startswith("serve@"):
            base = (trees or {}).get(name[6:].removesuffix("-httpx").removesuffix("-aiohttp"))
        if name == "serve-base" or name.startswith("serve@"):
            if base is None:
                raise SystemExit("serve-base needs --base DIR (a checkout of the commit before)")
            env["PYTHONPATH"], cwd = str(base), base
        if name.endswith(("-httpx", "-aiohttp")):
            env["POLICY_ROUTER_TRANSPORT"] = name.rsplit("-", 1)[1]
        if name.startswith("serve-granian"):  # granian installed by hand: bench/granian_app.py
            options = name.removeprefix("serve-granian").split("-")[1:]
            loop = next((o for o in options if o in ("uvloop", "rloop", "asyncio")), "uvloop")
            command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                       "--loop", loop, "--host", _common.LOOPBACK, "--port", str(port),
                       "--workers", "1", "--no-ws", "--log-level", "warning", "--http", "1",
                       *(["--runtime-mode", "st"] if "st" in options else []),
                       "bench.granian_app:app"]  # fmt: skip
        if name == "serve-litellm":
            routes = tmp / "routes-litellm.yaml"
            routes.write_text(
                "reaches: {openai: [openai]}\ncredentials: {openai: [[OPENAI_API_KEY]]}\n"
                "routes:\n  gpt-4-1: {openai: {model: openai/gpt-4.1, path: litellm}}\n"
            )
            env["POLICY_ROUTER_DEPLOYMENT"] = str(routes)
    started = time.monotonic()
    proc = _popen(command, env, tmp / f"{name}.log", cwd)
    try:
        _common.wait_http(url + health, timeout=180)
        yield Proxy(name, url, model, key, proc, time.monotonic() - started,
                    _script(tmp / f"{name}.lua", model, key, stream=False,
                            user=not name.endswith("-anon")))  # fmt: skip
    finally:
        _common.stop(proc, timeout=40)


def gc_stats_of(proxy: Proxy, tmp: Path) -> dict[str, Any] | None:
    """Stop a serve started with ``gc_stats`` and read what bench/serve_gc.py logged at exit
    (``None`` if it logged nothing)."""
    _common.stop(proxy.proc, timeout=40)
    log = (tmp / f"{proxy.name}.log").read_text(errors="replace")
    line = next((x for x in log.splitlines() if x.startswith("GCSTATS ")), None)
    return None if line is None else dict(json.loads(line.removeprefix("GCSTATS ")))


def _shape(kind: str, chunks: int, paced_chunks: int, pace_ms: float) -> tuple[str, int]:
    """A cell kind's marker (bench/fake_upstream.py) and its SSE events per response."""
    if kind == "json":
        return "", 0
    if kind == "tok":
        return "[bench chunks=1]", 5
    if kind == "paced":
        return f"[bench chunks={paced_chunks} pace_ms={pace_ms:g}]", paced_chunks + 4
    if kind == "stream":
        return f"[bench chunks={chunks}]", chunks + 4
    raise SystemExit(f"unknown cell kind {kind!r}: one of {', '.join(KINDS)}")


def measure(
    proxy: Proxy,
    upstream: str,
    concurrency: int,
    seconds: float,
    stream: bool,
    tmp: Path,
    *,
    kind: str = "",
    marker: str = "",
    events: int = 0,
) -> dict[str, Any]:
    """One cell: ``concurrency`` wrk connections on ``proxy`` for ``seconds``."""
    kind = kind or ("stream" if stream else "json")
    script = proxy.script
    proxy.script = _script(tmp / f"{proxy.name}-{kind}.lua", proxy.model, proxy.key,
                           stream=stream, user=not proxy.name.endswith("-anon"),
                           marker=marker)  # fmt: skip
    try:
        before = _common.upstream_stats(upstream)["connections"]
        cpu = proxy.cpu_s()
        result = load(proxy, concurrency, seconds, "wrk")
        cpu = proxy.cpu_s() - cpu
        opened = _common.upstream_stats(upstream)["connections"] - before
    finally:
        proxy.script = script
    per_request = cpu / max(result["ok"], 1) * 1000
    result.update(proxy=proxy.name, kind=kind, concurrency=concurrency, stream=stream,
                  events=events, cpu_s=cpu, cpu_ms_per_request=per_request,
                  cpu_us_per_event=per_request * 1000 / events if events else None,
                  new_connections=opened)  # fmt: skip
    print(f"  {kind:6} c={concurrency:<4} {proxy.name:<16} "
          f"{result['rps']:8.1f} req/s p99 {result['p99_ms']:8.1f} ms errors {result['errors']} "
          f"cpu/req {per_request:.3f} ms new conns {opened}", file=sys.stderr, flush=True)  # fmt: skip
    return result


def plan(spec: str) -> list[tuple[str, int]]:
    """``"json50,tok50"`` as [(kind, concurrency), …]."""
    out = []
    for cell in (c.strip() for c in spec.split(",") if c.strip()):
        kind = cell.rstrip("0123456789")
        if kind not in KINDS or kind == cell:
            raise SystemExit(f"cell {cell!r}: expected KIND+CONCURRENCY, KIND one of {KINDS}")
        out.append((kind, int(cell[len(kind) :])))
    return out


def cells(
    servers: list[str],
    spec: str = "json50,json200,tok50,paced50",
    *,
    duration: float = 8.0,
    stream_duration: float = 10.0,
    chunks: int = 300,
    paced_chunks: int = 20,
    pace_ms: float = 10.0,
    reps: int = 1,
    port: int = 8470,
    base: Path | None = None,
    trees: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Each cell of ``spec`` on each server, side by side in one run (the servers' order
    rotating per repetition); the result's shape is in the module's docstring."""
    names = [n for n in servers if n]
    out: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1, sse_chunks=chunks))
        proxies = [stack.enter_context(server(n, upstream, port + i, tmp, base=base,
                                                trees=trees or {}))
                   for i, n in enumerate(names)]  # fmt: skip
        for proxy in proxies:
            _check(proxy)
            load(proxy, 20, 2, "wrk")  # warm-up
        for rep in range(reps):
            for kind, concurrency in plan(spec):
                marker, events = _shape(kind, chunks, paced_chunks, pace_ms)
                seconds = duration if kind == "json" else stream_duration
                for proxy in proxies[rep % len(proxies) :] + proxies[: rep % len(proxies)]:
                    settle(proxies)
                    cell = measure(proxy, upstream, concurrency, seconds, kind != "json", tmp,
                                   kind=kind, marker=marker, events=events)  # fmt: skip
                    out.append(cell | {"rep": rep})
        peaks = {p.name: _common.peak_rss_kib(p.proc.pid) / 1024 for p in proxies}
        load_avg = Path("/proc/loadavg").read_text().split()[:3]
    return {"cells": out, "peak_rss_mib": peaks, "chunks": chunks, "paced_chunks": paced_chunks,
            "pace_ms": pace_ms, "loadavg": load_avg, "duration": duration}  # fmt: skip


def ratios(result: dict[str, Any], against: str = "reference") -> dict[str, dict[str, list[float]]]:
    """Per cell label (``tok c=50``) and server, the CPU-per-request ratios to ``against``
    measured in the same repetition (one per repetition)."""
    by: dict[tuple[str, int], dict[str, float]] = {}
    for c in result["cells"]:
        label = f"{c['kind']} c={c['concurrency']}"
        by.setdefault((label, c.get("rep", 0)), {})[c["proxy"]] = c["cpu_ms_per_request"]
    out: dict[str, dict[str, list[float]]] = {}
    for (label, _), row in by.items():
        if against not in row:
            continue
        for name, cpu in row.items():
            if name != against:
                out.setdefault(label, {}).setdefault(name, []).append(cpu / row[against])
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    return cells(
        [n for n in args.servers.split(",") if n], args.cells, duration=args.duration,
        stream_duration=args.stream_duration, chunks=args.chunks,
        paced_chunks=args.paced_chunks, pace_ms=args.pace_ms, reps=args.reps, port=args.port,
        base=args.base, trees=dict(args.tree),
    )  # fmt: skip


def profile(args: argparse.Namespace) -> str:
    """serve on the lean path under cProfile, c=50 JSON then streams; top functions by own time."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1, sse_chunks=args.chunks))
        out = tmp / "serve.prof"
        with server("serve-lean", upstream, args.port + 9, tmp, profile=out) as proxy:
            _check(proxy)
            load(proxy, 20, 2, "wrk")  # warm-up, not profiled
            pid = proxy.proc.pid
            os.kill(pid, signal.SIGUSR1)
            load(proxy, 50, args.duration, "wrk")
            os.kill(pid, signal.SIGUSR2)
            time.sleep(2)
        stats = io.StringIO()
        pstats.Stats(str(out), stream=stats).sort_stats("tottime").print_stats(25)
        pstats.Stats(str(out), stream=stats).sort_stats("tottime").print_callers(5)
        pstats.Stats(str(out), stream=stats).sort_stats("cumtime").print_stats("router/", 30)
        return stats.getvalue()


def report(result: dict[str, Any]) -> str:
    rows = ["| cell | server | req/s | p99 ms | CPU ms/req | CPU µs/event | upstream conns | vs reference CPU | vs serve-base CPU | vs serve-main CPU | vs litellm-proxy CPU |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    by_cell: dict[str, dict[str, dict[str, Any]]] = {}
    for c in result["cells"]:
        label = f"{c.get('kind', 'json')} c={c['concurrency']} #{c.get('rep', 0)}"
        by_cell.setdefault(label, {})[c["proxy"]] = c
    for label, row in by_cell.items():
        for name, c in row.items():
            cpu = c["cpu_ms_per_request"]
            per_event = f"{c['cpu_us_per_event']:.1f}" if c.get("cpu_us_per_event") else ""
            vs = [f"{cpu / row[o]['cpu_ms_per_request']:.2f}×" if o in row and o != name else ""
                  for o in ("reference", "serve-base", "serve-main", "litellm-proxy")]  # fmt: skip
            rows.append(f"| {label} | {name} | {c['rps']:.0f} | {c['p99_ms']:.1f} | {cpu:.3f} | "
                        f"{per_event} | {c.get('new_connections', '')} | {' | '.join(vs)} |")  # fmt: skip
    rows += ["", "| server | peak RSS MiB |", "|---|---|"]
    rows += [f"| {k} | {v:.0f} |" for k, v in result["peak_rss_mib"].items()]
    rows += ["", f"load average at the end: {' '.join(result['loadavg'])}"]
    return "\n".join(rows)


def add_tree_option(parser: argparse.ArgumentParser) -> None:
    """``--tree NAME=DIR`` (repeatable): the server ``serve@NAME`` runs serve from DIR."""
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        type=lambda text: tuple(text.split("=", 1)),
        help="NAME=DIR: the server serve@NAME runs serve from DIR (repeatable)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--stream-duration", type=float, default=10.0)
    parser.add_argument("--cells", default="json50,json200,stream50,tok50,paced50")
    parser.add_argument("--paced-chunks", type=int, default=20)
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=1, help="repetitions, servers' order rotating")
    parser.add_argument("--port", type=int, default=8470)
    parser.add_argument(
        "--servers",
        default="reference,serve-lean,serve-lean-anon,serve-litellm,litellm-proxy",  # serve-main: /work/main, a session's checkout
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--base", type=Path, default=None, help="the tree serve-base runs (e.g. a git archive)"
    )
    add_tree_option(parser)
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args))
        return
    result = run(args)
    _common.save("lean", result)
    print(report(result))


if __name__ == "__main__":
    main()
