"""What every benchmark shares: the fake upstream process, CPU pinning, statistics, results."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = ROOT / "bench" / "results"
LOOPBACK: Final = "127.0.0.1"

# litellm fetches its model cost map from the internet at import unless told not to; these
# benchmarks never leave the machine.
QUIET_ENV: Final = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "NO_PROXY": "*",
}


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every child process: ours, without proxies, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(QUIET_ENV)
    env.update(extra or {})
    return env


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pin_prefix(cpu: int) -> list[str]:
    """``taskset -c cpu`` when there are at least two CPUs and taskset exists, else nothing."""
    if cpu_count() < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def pin_self(cpu: int) -> bool:
    """Pin this process to one CPU; False when the machine has fewer than two."""
    if cpu_count() < 2:
        return False
    os.sched_setaffinity(0, {cpu})
    return True


@contextmanager
def fake_upstream(latency_ms: float = 0.0, cpu: int = 1, sse_chunks: int = 1) -> Iterator[str]:
    """Run bench/fake_upstream.py in its own process (pinned to ``cpu``); yield its base URL."""
    command = [
        *pin_prefix(cpu), sys.executable, "-m", "bench.fake_upstream",
        "--port", "0", "--latency-ms", str(latency_ms), "--sse-chunks", str(sse_chunks),
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=bench_env(), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"fake upstream did not start (said {line!r})")
        yield f"http://{LOOPBACK}:{int(line.split()[1])}"
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate a child we started, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def wait_http(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> float:
    """Poll ``url`` until it answers 2xx; return how long that took. Loopback only."""
    import httpx

    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=dict(headers or {}), timeout=2.0).is_success:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # fine enough to time a server's start-up (bench/targets.py)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def upstream_stats(base: str) -> dict[str, int]:
    """Requests answered and connections accepted by the fake upstream so far."""
    import httpx

    return dict(httpx.get(f"{base}/stats", timeout=5.0).json())


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a process and its children, in KiB; 0 if it is gone."""
    total = 0
    for one in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(c) for c in found]
    for child in list(out):
        out += _children(child)
    return out


def machine() -> dict[str, Any]:
    """What the figures came from; ``git_commit`` is HEAD when the benchmark started."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for dist in ("litellm", "httpx", "aiohttp", "uvicorn", "fastapi", "pydantic", "uvloop"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": versions,
        "git_commit": STARTED_AT,
    }


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


STARTED_AT: Final = _git_commit()


def save(name: str, data: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>-<UTC time>.json`` and ``<name>-latest.json``; return the first."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"benchmark": name, "at": stamp, "machine": machine(), **data}
    text = json.dumps(record, indent=2, default=str)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, so printed figures paste into bench/README.md as they are."""
    cells = [[_cell(v) for v in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def worker_rounds(
    worker: str, variants: Sequence[str], upstream: str, calls: int, rounds: int, tmp: Path
) -> dict[str, list[dict[str, float]]]:
    """Each variant's results over ``rounds`` interleaved rounds (the order rotating each
    round): ``worker`` (a program for ``python -c``, given the variant, the upstream, ``calls``,
    ``calls // 10`` streams and ``tmp``) in a process of its own pinned to CPU 0, printing
    ``RESULT <json>`` last."""
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for i in range(rounds):
        for variant in [*variants[i % 2 :], *variants[: i % 2]]:
            args = [variant, upstream, str(calls), str(calls // 10), str(tmp)]
            done = subprocess.run(
                [*pin_prefix(0), sys.executable, "-c", worker, *args],
                capture_output=True, text=True, timeout=600, check=True,
                env=bench_env({"PYTHONPATH": str(ROOT)}),
            )  # fmt: skip
            line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
            rows[variant].append(json.loads(line.removeprefix("RESULT ")))
            print(variant, rows[variant][-1], file=sys.stderr, flush=True)
    return rows
