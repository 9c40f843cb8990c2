"""Proxy against proxy: ``policy-router serve`` and LiteLLM's own proxy, same upstream, same model.

Both proxies run as real processes, side by side, pinned to CPU 0; the fake upstream and the
load generator share CPU 1. Cells (concurrency × proxy) are interleaved: for each concurrency
and repetition both proxies are measured back to back, the order alternating. Each cell is a
closed loop of ``concurrency`` connections for a fixed duration. The load generator is wrk
(C, Lua script for the POST body) when it is installed, else ``bench/loadgen.py`` (httpx).

Per cell: requests/s, latency p50/p99 (of completed requests), errors (non-2xx, socket errors,
timeouts), the proxy's CPU per request (from /proc, over the load window), and at the end each
proxy's peak RSS. Before each cell, every proxy has finished the requests the previous cell
left in flight (``settle``). Two more proxies: ``policy-router-aiohttp`` is ``policy-router
serve`` with ``POLICY_ROUTER_TRANSPORT=aiohttp`` (litellm's aiohttp transport instead of the
default httpx), ``policy-router-aiohttp-uvloop`` the same on uvloop's event loop (through
bench/whatif.py, as LiteLLM's proxy runs); ``--no-whatif`` leaves both out.

    uv sync --frozen --project bench/litellm-proxy   # LiteLLM's proxy, in its own environment
    uv run --frozen --group bench python -m bench.proxy [--duration 10] [--reps 2] …
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench import _common

BIN: Final = Path(sys.executable).parent
# LiteLLM's proxy runs from its own environment (bench/litellm-proxy/pyproject.toml): its
# rich<14 cap stays out of the project's lock.
LITELLM_ENV: Final = _common.ROOT / "bench" / "litellm-proxy"
MESSAGES: Final = [{"role": "user", "content": "Say ok."}]
OUR_KEY: Final = "bench-api-key-0123456789"
LITELLM_KEY: Final = "sk-bench"
OURS: Final = ("policy-router", "policy-router-aiohttp", "policy-router-aiohttp-uvloop")
CLOCK_TICKS: Final = 100  # os.sysconf("SC_CLK_TCK") on Linux

WRK_SCRIPT: Final = """
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


@dataclass
class Proxy:
    """One proxy process and how to reach it."""

    name: str
    url: str
    model: str
    key: str
    proc: subprocess.Popen[bytes]
    startup_s: float
    script: Path
    cells: list[dict[str, Any]] = field(default_factory=list)

    def cpu_s(self) -> float:
        """User plus system CPU of the proxy process (and its children) so far."""
        total = 0.0
        for pid in [self.proc.pid, *_common._children(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return total


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = _common.bench_env({**env, "PYTHONPATH": str(_common.ROOT)})
    with log.open("wb") as out:
        return subprocess.Popen(
            [*_common.pin_prefix(0), *command], cwd=log.parent, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def serve_env(upstream: str, port: int, tmp: Path, name: str) -> dict[str, str]:
    """The environment of ``serve`` ``name`` in the benchmarks: GPT 4.1's OpenAI route sent to
    the fake ``upstream``, our key, the audit log, store and data directory in ``tmp``."""
    return {
        "OPENAI_API_KEY": "fake",
        "POLICY_ROUTER_SERVER__API_KEYS": json.dumps([OUR_KEY]),
        "POLICY_ROUTER_SERVER__PORT": str(port),
        "POLICY_ROUTER_SERVER__HOST": _common.LOOPBACK,
        "POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE": f"{upstream}/v1",
        "POLICY_ROUTER_AUDIT": str(tmp / f"audit-{name}.jsonl"),
        "POLICY_ROUTER_DATA_DIR": str(tmp / f"data-{name}"),
        "POLICY_ROUTER_STORE_URL": f"sqlite:///{tmp / f'prefs-{name}.sqlite3'}",
        "POLICY_ROUTER_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdef",
    }


@contextmanager
def ours(upstream: str, port: int, tmp: Path, variant: str = "") -> Iterator[Proxy]:
    """``policy-router serve`` as shipped (httpx); ``aiohttp``: with
    ``POLICY_ROUTER_TRANSPORT=aiohttp``; ``aiohttp-uvloop``: that, on uvloop (bench/whatif.py)."""
    name = f"policy-router-{variant}" if variant else "policy-router"
    env = serve_env(upstream, port, tmp, name)
    command = [str(BIN / "policy-router"), "serve"]
    if variant:
        env["POLICY_ROUTER_TRANSPORT"] = "aiohttp"
    if variant == "aiohttp-uvloop":
        command = [sys.executable, "-m", "bench.whatif", "serve"]
    started = time.monotonic()
    proc = _start(command, env, tmp / f"{name}.log")
    try:
        url = f"http://{_common.LOOPBACK}:{port}"
        _common.wait_http(f"{url}/healthz", timeout=120)
        yield Proxy(
            name, url, "GPT 4.1", OUR_KEY, proc, time.monotonic() - started,
            _script(tmp / "ours.lua", "GPT 4.1", OUR_KEY),
        )  # fmt: skip
    finally:
        _common.stop(proc, timeout=40)


@contextmanager
def litellm_proxy(upstream: str, port: int, tmp: Path) -> Iterator[Proxy]:
    env = {
        "BENCH_UPSTREAM_API_BASE": f"{upstream}/v1",
        "BENCH_LITELLM_MASTER_KEY": LITELLM_KEY,
    }
    config = _common.ROOT / "bench" / "litellm_config.yaml"
    executable = LITELLM_ENV / ".venv" / "bin" / "litellm"
    if not executable.exists():
        sys.exit(f"{executable} is missing: run `uv sync --frozen --project {LITELLM_ENV}` first")
    command = [
        str(executable), "--config", str(config), "--host", _common.LOOPBACK,
        "--port", str(port), "--num_workers", "1",
    ]  # fmt: skip
    started = time.monotonic()
    proc = _start(command, env, tmp / "litellm-proxy.log")
    try:
        url = f"http://{_common.LOOPBACK}:{port}"
        _common.wait_http(f"{url}/health/liveliness", timeout=180)
        yield Proxy(
            "litellm-proxy", url, "gpt-4.1", LITELLM_KEY, proc, time.monotonic() - started,
            _script(tmp / "litellm.lua", "gpt-4.1", LITELLM_KEY),
        )  # fmt: skip
    finally:
        _common.stop(proc, timeout=40)


def _script(path: Path, model: str, key: str) -> Path:
    body = json.dumps({"model": model, "messages": MESSAGES}, separators=(",", ":"))
    path.write_text(WRK_SCRIPT % {"body": body, "key": key})
    return path


def _check(proxy: Proxy) -> None:
    """One request through the proxy must come back 200 with the fake upstream's answer."""
    import httpx

    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": proxy.model, "messages": MESSAGES},
        headers={"Authorization": f"Bearer {proxy.key}"},
        timeout=60,
    )
    content = response.json()["choices"][0]["message"]["content"] if response.is_success else None
    if content != "ok":
        raise RuntimeError(f"{proxy.name} answered {response.status_code}: {response.text[:300]}")


def load(
    proxy: Proxy, concurrency: int, duration: float, tool: str, path: str = "/v1/chat/completions"
) -> dict[str, Any]:
    """One cell: ``concurrency`` connections in a closed loop for ``duration`` seconds, POSTing
    ``proxy.script``'s body to ``path`` (wrk; bench/loadgen.py sends a chat body)."""
    if tool == "wrk":
        command = [
            "wrk", "-t1", f"-c{concurrency}", f"-d{duration:.0f}s", "--timeout", "30s",
            "-s", str(proxy.script), f"{proxy.url}{path}",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "bench.loadgen", "--url", f"{proxy.url}{path}",
            "--model", proxy.model, "--key", proxy.key, "--concurrency", str(concurrency),
            "--duration", str(duration),
        ]  # fmt: skip
    done = subprocess.run(
        [*_common.pin_prefix(1), *command], cwd=_common.ROOT, env=_common.bench_env(),
        capture_output=True, text=True, timeout=duration + 120, check=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "ok": raw["requests"] - raw["status"],
        "errors": errors,
        "error_kinds": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
        "rps": (raw["requests"] - raw["status"]) / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "seconds": seconds,
    }


def cell(proxy: Proxy, upstream: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    before, cpu = _common.upstream_stats(upstream), proxy.cpu_s()
    result = load(proxy, concurrency, args.duration, args.tool)
    after, cpu = _common.upstream_stats(upstream), proxy.cpu_s() - cpu
    result.update(
        proxy=proxy.name,
        concurrency=concurrency,
        upstream_requests=after["served"] - before["served"] - 1,
        upstream_connections=after["connections"] - before["connections"] - 1,
        proxy_cpu_s=cpu,
        proxy_cpu_ms_per_request=cpu / max(result["ok"], 1) * 1000,
        rss_kib=_rss_kib(proxy.proc.pid),
    )
    print(
        f"  c={concurrency:<4} {proxy.name:<14} {result['rps']:8.1f} req/s  p50 "
        f"{result['p50_ms']:8.1f} ms  p99 {result['p99_ms']:8.1f} ms  errors {result['errors']}  "
        f"cpu/req {result['proxy_cpu_ms_per_request']:.2f} ms",
        file=sys.stderr,
        flush=True,
    )
    return result


def settle(proxies: list[Proxy], quiet_s: float = 0.05, limit_s: float = 30.0) -> None:
    """Wait until no proxy burns CPU: requests still in flight when wrk stopped are finished
    before the next cell starts (all proxies share CPU 0)."""
    deadline = time.monotonic() + limit_s
    last = sum(p.cpu_s() for p in proxies)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(p.cpu_s() for p in proxies)
        if now - last < quiet_s:
            return
        last = now


def _rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:")), 0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1))
        proxies = [
            stack.enter_context(ours(upstream, args.port, tmp)),
            stack.enter_context(litellm_proxy(upstream, args.port + 1, tmp)),
        ]
        if args.whatif:
            proxies.append(stack.enter_context(ours(upstream, args.port + 2, tmp, "aiohttp")))
            proxies.append(
                stack.enter_context(ours(upstream, args.port + 3, tmp, "aiohttp-uvloop"))
            )
        for proxy in proxies:
            _check(proxy)
            load(proxy, 20, args.warmup, args.tool)  # warm-up: clients, pools, caches
        for concurrency in args.concurrency:
            for rep in range(args.reps):
                shift = (rep + concurrency) % len(proxies)
                for proxy in proxies[shift:] + proxies[:shift]:
                    settle(proxies)
                    proxy.cells.append(cell(proxy, upstream, concurrency, args))
        peaks = {p.name: _common.peak_rss_kib(p.proc.pid) for p in proxies}
        startup = {p.name: p.startup_s for p in proxies}
        cells = [c for p in proxies for c in p.cells]
    return {
        "config": vars(args),
        "load_generator": args.tool,
        "startup_s": startup,
        "peak_rss_mib": {k: v / 1024 for k, v in peaks.items()},
        "summary": summarize(cells),
        "cells": cells,
    }


def summarize(cells: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in cells:
        out.setdefault(str(c["concurrency"]), {}).setdefault(c["proxy"], []).append(c)
    summary: dict[str, Any] = {}
    for concurrency, by_proxy in out.items():
        row = {}
        for name, runs in by_proxy.items():
            row[name] = {
                "rps": _common.median([r["rps"] for r in runs]),
                "p50_ms": _common.median([r["p50_ms"] for r in runs]),
                "p99_ms": _common.median([r["p99_ms"] for r in runs]),
                "errors": sum(r["errors"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                "proxy_cpu_ms_per_request": _common.median(
                    [r["proxy_cpu_ms_per_request"] for r in runs]
                ),
            }
        for ours_name in OURS:
            if {ours_name, "litellm-proxy"} <= row.keys():
                a, b = row[ours_name], row["litellm-proxy"]
                row[ours_name]["throughput_ratio"] = a["rps"] / b["rps"]
                row[ours_name]["p99_ratio"] = a["p99_ms"] / b["p99_ms"]
        summary[concurrency] = row
    return summary


def report(result: dict[str, Any]) -> str:
    rows = []
    for concurrency, row in result["summary"].items():
        for name in ("litellm-proxy", *OURS):
            if name in row:
                s = row[name]
                versus = (
                    f"{s['throughput_ratio']:.2f}× / {s['p99_ratio']:.2f}×"
                    if "throughput_ratio" in s
                    else ""
                )
                rows.append(
                    [
                        concurrency, name, s["requests"], s["errors"], s["rps"], s["p50_ms"],
                        s["p99_ms"], s["proxy_cpu_ms_per_request"], versus,
                    ]
                )  # fmt: skip
    headers = [
        "concurrency", "proxy", "requests", "errors", "req/s", "p50 ms", "p99 ms",
        "proxy CPU ms/req", "vs LiteLLM: req/s / p99",
    ]  # fmt: skip
    text = _common.table(headers, rows)
    memory = [
        [name, result["peak_rss_mib"][name], result["startup_s"][name]]
        for name in result["peak_rss_mib"]
    ]
    return text + "\n\n" + _common.table(["proxy", "peak RSS MiB", "ready after s"], memory)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="policy-router serve vs LiteLLM's proxy")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per proxy")
    parser.add_argument("--reps", type=int, default=2, help="repetitions of every cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--port", type=int, default=18_480, help="ours; the others port + 1, …")
    parser.add_argument("--tool", choices=["wrk", "httpx"], default=None)
    parser.add_argument(
        "--no-whatif", dest="whatif", action="store_false",
        help="leave out policy-router-aiohttp and policy-router-aiohttp-uvloop",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.tool = args.tool or ("wrk" if shutil.which("wrk") else "httpx")
    result = run(args)
    path = _common.save("proxy", result)
    print(f"load generator: {args.tool}")
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
