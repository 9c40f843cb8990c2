"""``serve``'s start-up and memory, and ``route`` on a lean route, side by side (bench/startup.py
prints them with the targets).

- **serve ready**: from spawning ``policy-router serve`` to its first 2xx ``/healthz``
  (``ready_s``) and to its first answered chat request, sent right after (``first_answer_s``);
  the server pinned to CPU 0, the fake upstream and this process on CPU 1; polled every 5 ms.
  Beside the wall time, the server's own CPU time by then (``ready_cpu_s``): what the start-up
  costs, whatever else the machine runs (on a shared machine the wall time is longer).
  Deployments: ``lean-only`` (the shipped deployment's routes that the lean path serves, and
  nothing else) and ``shipped`` (config/routes.yaml as it is: with OPENAI_API_KEY set, o3 pro
  and GPT 5 Codex are servable routes that litellm serves, so it is imported at start-up).
- **serve peak RSS under load**: the process's VmHWM after ``--rss-duration`` s of wrk at
  c=200 on chat JSON (GPT 4.1, an end user: a store read; two audit records per request).
- **route**: the README's command, ``route "Kimi K2" "Hello" --user alice --max-retention
  none`` (offline: no keys), wall time from spawn to exit; beside it ``route`` on a Claude model,
  whose routes litellm serves.

Each figure is also taken, in the same run, from ``serve`` / ``route`` as on main (``/work/main``'s
checkout and environment) when it exists: the before.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import yaml

from bench import _common
from bench.lean import _script
from bench.proxy import CLOCK_TICKS, OUR_KEY, Proxy, load, serve_env

MAIN: Final = Path("/work/main")
TREES: Final = {"this tree": _common.ROOT, "main": MAIN}
SHIPPED: Final = _common.ROOT / "config" / "routes.yaml"
ROUTE_LEAN: Final = ["route", "Kimi K2", "Hello", "--user", "alice", "--max-retention", "none"]
ROUTE_LITELLM: Final = ["route", "Claude 4.5 Sonnet", "Hello", "--offline"]
CHAT: Final = {"model": "GPT 4.1", "messages": [{"role": "user", "content": "Say ok."}]}
POLL_S: Final = 0.005


def lean_only_deployment(path: Path) -> Path:
    """The shipped deployment with only the routes the lean path serves."""
    from router._upstream.deployment import Target
    from router._upstream.providers import serves

    doc = yaml.safe_load(SHIPPED.read_text())
    routes: dict[str, dict[str, Any]] = {}
    for model, by_provider in doc["routes"].items():
        for provider, entry in by_provider.items():
            target = (
                Target(entry)
                if isinstance(entry, str)
                else Target(entry["model"], entry.get("params"), entry.get("path"))
            )
            if serves(target):
                routes.setdefault(model, {})[provider] = entry
    path.write_text(yaml.safe_dump(doc | {"routes": routes}, sort_keys=False))
    return path


def _trees() -> dict[str, Path]:
    return {name: root for name, root in TREES.items() if (root / ".venv" / "bin").exists()}


def _serve_env(tmp: Path, upstream: str, port: int, deployment: Path | None) -> dict[str, str]:
    env = serve_env(upstream, port, tmp, f"startup-{port}")
    if deployment is not None:
        env["POLICY_ROUTER_DEPLOYMENT"] = str(deployment)
    return _common.bench_env(env)


@contextmanager
def _serving(
    root: Path, env: dict[str, str], tmp: Path, port: int
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """``serve`` from the checkout ``root``; yields the process and its spawn time."""
    command = [*_common.pin_prefix(0), str(root / ".venv" / "bin" / "policy-router"), "serve"]
    with (tmp / f"serve-{port}.log").open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc, started
    finally:
        _common.stop(proc, timeout=40)


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _ready(url: str, proc: subprocess.Popen[bytes], started: float) -> tuple[float, float, float]:
    """Seconds from spawn to the first 2xx /healthz, the server's CPU seconds by then, and
    seconds to the first answered chat request."""
    import httpx

    with httpx.Client(timeout=30, trust_env=False) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited with {proc.returncode} before it was ready")
            try:
                if client.get(f"{url}/healthz").is_success:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 120:
                raise TimeoutError("serve was not ready in 120 s")
            time.sleep(POLL_S)
        ready, cpu = time.perf_counter() - started, _cpu_s(proc.pid)
        headers = {"Authorization": f"Bearer {OUR_KEY}"}
        answer = client.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)
        answered = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"the first request was answered {answer.status_code}: {answer.text}")
    return ready, cpu, answered


def serve_ready(upstream: str, tmp: Path, runs: int, port: int) -> list[dict[str, Any]]:
    """Ready and first-answer times per (tree, deployment), the runs interleaved."""
    deployments = {"lean-only": lean_only_deployment(tmp / "routes-lean.yaml"), "shipped": None}
    cells = [(t, r, d, p) for t, r in _trees().items() for d, p in deployments.items()]
    times: dict[tuple[str, str], list[tuple[float, float, float]]] = {
        (t, d): [] for t, _, d, _ in cells
    }
    for _ in range(runs + 1):  # the first round warms bytecode and the page cache: not counted
        for tree, root, name, deployment in cells:
            env = _serve_env(tmp, upstream, port, deployment)
            with _serving(root, env, tmp, port) as (proc, started):
                times[(tree, name)].append(
                    _ready(f"http://{_common.LOOPBACK}:{port}", proc, started)
                )
    out = []
    for (tree, name), measured in times.items():
        ready, cpu, answered = zip(*measured[1:], strict=True)
        out.append({"tree": tree, "deployment": name, "runs": runs,
                    "ready_s": statistics.median(ready), "ready_min_s": min(ready),
                    "ready_cpu_s": statistics.median(cpu),
                    "first_answer_s": statistics.median(answered)})  # fmt: skip
        print(f"  serve ready {tree:<9} {name:<9} {out[-1]['ready_s']:.3f} s", file=sys.stderr)
    return out


def serve_rss(upstream: str, tmp: Path, seconds: float, port: int) -> list[dict[str, Any]]:
    """Peak RSS per (tree, deployment) after ``seconds`` of wrk at c=200 on chat JSON."""
    deployments = {"lean-only": lean_only_deployment(tmp / "routes-lean.yaml"), "shipped": None}
    out = []
    for tree, root in _trees().items():
        for name, deployment in deployments.items():
            env = _serve_env(tmp, upstream, port, deployment)
            with _serving(root, env, tmp, port) as (proc, started):
                url = f"http://{_common.LOOPBACK}:{port}"
                _ready(url, proc, started)
                script = _script(tmp / "rss.lua", "GPT 4.1", OUR_KEY, stream=False)
                proxy = Proxy(f"{tree}/{name}", url, "GPT 4.1", OUR_KEY, proc, 0.0, script)
                load(proxy, 50, 2, "wrk")  # warm-up
                cell = load(proxy, 200, seconds, "wrk")
                peak = _common.peak_rss_kib(proc.pid) / 1024
            out.append({"tree": tree, "deployment": name, "concurrency": 200,
                        "seconds": seconds, "rps": cell["rps"], "errors": cell["errors"],
                        "peak_rss_mib": peak})  # fmt: skip
            print(f"  serve RSS {tree:<9} {name:<9} {peak:.1f} MiB", file=sys.stderr)
    return out


def route_times(runs: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """Wall time of ``route`` on a lean route and on a litellm route, per tree."""
    from bench.startup import wall_times

    out = []
    for tree, root in _trees().items():
        for label, args in (("lean route (Kimi K2)", ROUTE_LEAN), ("litellm route (Claude)",
                                                                    ROUTE_LITELLM)):  # fmt: skip
            command = [str(root / ".venv" / "bin" / "policy-router"), *args]
            wall_times(command, 2, env)  # warm
            times, status = wall_times(command, runs, env)
            out.append({"tree": tree, "route": label, "runs": runs, "exit_status": status,
                        "median_s": statistics.median(times), "min_s": min(times)})  # fmt: skip
            print(f"  route {tree:<9} {label:<24} {out[-1]['median_s']:.3f} s", file=sys.stderr)
    return out


def run(runs: int, rss_seconds: float, route_runs: int, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name, _common.fake_upstream(cpu=1) as upstream:
        tmp = Path(name)
        _common.pin_self(1)
        return {
            "serve_ready": serve_ready(upstream, tmp, runs, port=18531),
            "serve_rss": serve_rss(upstream, tmp, rss_seconds, port=18532),
            "route": route_times(route_runs, env),
        }
