"""Start-up time of the commands that forward nothing, and what their imports cost.

Each command runs ``--runs`` times as a fresh process (pinned to CPU 0, output discarded);
the figure is the median wall time from spawn to exit. Then each runs once under
``python -X importtime``: the slowest top-level imports, the time per root package, and
whether litellm was imported at all (it must not be, per DESIGN.md).

Commands run with bytecode cached, as on any installation after its first run: the child
processes may write ``.pyc`` files even when ``PYTHONDONTWRITEBYTECODE`` is set here (the
un-timed warm-up runs write what is missing). One more row runs ``models`` with bytecode for
the standard library only: the project's modules and its dependencies compiled from source on
every run, as after ``uv sync`` without ``--compile-bytecode`` where Python may not write
``.pyc`` files (``PYTHONDONTWRITEBYTECODE``, a read-only install).

Then ``serve``'s ready time and peak RSS under load at c=200, and ``route`` on a lean route,
each beside the same from main and beside the shipped deployment (bench/serve_startup.py),
printed against their targets: serve ready <= 1.0 s and peak RSS <= 100 MiB for a deployment
whose routes all take the lean path, ``route`` on a lean route <= 1.0 s.

    uv run --frozen --group bench python -m bench.startup [--runs 15] [--serve-runs 5]
        [--rss-duration 8] [--parts commands,serve]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

from bench import _common

BIN: Final = Path(sys.executable).parent
COMMANDS: Final = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import router'": [sys.executable, "-c", "import router"],
    "policy-router --help": [str(BIN / "policy-router"), "--help"],
    "policy-router catalog validate": [str(BIN / "policy-router"), "catalog", "validate"],
    "policy-router models": [str(BIN / "policy-router"), "models"],
    'policy-router explain "Kimi K2"': [str(BIN / "policy-router"), "explain", "Kimi K2"],
}
# Bytecode for the standard library only (a cache prefix holding nothing else; none written).
UNCACHED: Final = {"policy-router models, deps not compiled": COMMANDS["policy-router models"]}
TARGETED: Final = ("policy-router models", 'policy-router explain "Kimi K2"')
TARGET_S: Final = 0.5
SERVE_READY_TARGET_S: Final = 1.0
SERVE_RSS_TARGET_MIB: Final = 100.0
ROUTE_TARGET_S: Final = 1.0
_LINE: Final = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _env(tmp: Path) -> dict[str, str]:
    env = _common.bench_env(
        {
            "POLICY_ROUTER_DATA_DIR": str(tmp),
            "POLICY_ROUTER_STORE_URL": f"sqlite:///{tmp / 'preferences.sqlite3'}",
            "POLICY_ROUTER_PSEUDONYM_KEY": "bench-pseudonym-key-0123456789abcdef",
            "POLICY_ROUTER_AUDIT": os.devnull,
            "COLUMNS": "160",
        }
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def _stdlib_bytecode_only(command: list[str], env: dict[str, str], tmp: Path) -> dict[str, str]:
    """An environment where ``command`` finds bytecode for the standard library and for
    nothing else: one run writes every module's into a cache prefix, then the venv's and the
    checkout's are deleted from it, and no more is written."""
    prefix = tmp / "pycache-stdlib-only"
    wall_times(command, 1, env | {"PYTHONPYCACHEPREFIX": str(prefix)})
    for tree in (Path(sys.prefix), _common.ROOT):
        shutil.rmtree(prefix / tree.resolve().relative_to("/"), ignore_errors=True)
    return env | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(prefix)}


def wall_times(command: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], int]:
    """Wall times of ``runs`` runs, and the last exit status (``explain`` exits 2 when the
    request would be refused, here for want of credentials: still a complete run)."""
    times, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*_common.pin_prefix(0), *command], env=env, cwd=_common.ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # wait() with a timeout polls, sleeping up to 50 ms between polls, which would round
        # every figure up to the next poll; a blocking wait() returns at exit, the timer bounds it.
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            status = proc.wait()
        finally:
            watchdog.cancel()
        times.append(time.perf_counter() - started)
    return times, status


def import_profile(command: list[str], env: dict[str, str], top: int = 12) -> dict[str, Any]:
    """Run once under ``-X importtime``; the python-level command for a console script."""
    if command[0] != sys.executable:
        command = [sys.executable, "-m", "router.cli", *command[1:]]
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], env=env, cwd=_common.ROOT,
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    rows = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((name, int(self_us), int(cumulative_us), len(indent) // 2))
    by_root: dict[str, int] = {}
    for name, self_us, _, _ in rows:
        root = name.split(".")[0]
        by_root[root] = by_root.get(root, 0) + self_us
    top_level = sorted((r for r in rows if r[3] == 0), key=lambda r: -r[2])[:top]
    return {
        "total_import_ms": sum(r[1] for r in rows) / 1000,
        "modules": len(rows),
        "litellm_imported": any(r[0] == "litellm" for r in rows),
        "top_level_ms": [(name, cumulative / 1000) for name, _, cumulative, _ in top_level],
        "by_root_package_ms": sorted(
            ((k, v / 1000) for k, v in by_root.items()), key=lambda kv: -kv[1]
        )[:top],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    parent = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    result: dict[str, Any] = {"config": vars(args) | {"parent_env": parent}, "commands": out}
    if "serve" in args.parts:
        from bench import serve_startup

        with tempfile.TemporaryDirectory() as tmp:
            result["serve"] = serve_startup.run(
                args.serve_runs, args.rss_duration, args.runs, _env(Path(tmp))
            )
    if "commands" not in args.parts:
        return result
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in (COMMANDS | UNCACHED).items():
            env = _env(Path(tmp))
            if name in UNCACHED:
                env = _stdlib_bytecode_only(command, env, Path(tmp))
            wall_times(command, 2, env)  # warm: bytecode caches and the page cache
            times, status = wall_times(command, args.runs, env)
            out[name] = {
                "runs": args.runs,
                "exit_status": status,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "p90_s": _common.percentile(times, 90),
                "imports": import_profile(command, env),
            }
            if name in TARGETED:
                out[name]["target_s"] = TARGET_S
                out[name]["met"] = out[name]["median_s"] < TARGET_S
            print(f"  {name:<34} median {out[name]['median_s']:.3f} s", file=sys.stderr)
    return result


def report(result: dict[str, Any]) -> str:
    text = serve_report(result["serve"]) if "serve" in result else ""
    if result["commands"]:
        text += ("\n\n" if text else "") + commands_report(result)
    return text


def _met(measured: float, target: float) -> str:
    return "yes" if measured <= target else "no (missed)"


def serve_report(serve: dict[str, Any]) -> str:
    """The three targets (this tree, lean-only deployment), then every cell side by side."""
    ready = {(r["tree"], r["deployment"]): r for r in serve["serve_ready"]}
    rss = {(r["tree"], r["deployment"]): r for r in serve["serve_rss"]}
    route = {(r["tree"], r["route"]): r for r in serve["route"]}
    lean_ready, lean_rss = ready[("this tree", "lean-only")], rss[("this tree", "lean-only")]
    lean_route = route[("this tree", "lean route (Kimi K2)")]
    targets = [
        ["serve ready (first 2xx /healthz), lean-only deployment", f"<= {SERVE_READY_TARGET_S} s",
         f"{lean_ready['ready_s']:.3f} s ({lean_ready['ready_cpu_s']:.2f} s of CPU)",
         _met(lean_ready["ready_s"], SERVE_READY_TARGET_S)],
        ["serve peak RSS under load at c=200, lean-only deployment",
         f"<= {SERVE_RSS_TARGET_MIB:.0f} MiB", f"{lean_rss['peak_rss_mib']:.1f} MiB",
         _met(lean_rss["peak_rss_mib"], SERVE_RSS_TARGET_MIB)],
        ['route "Kimi K2" "Hello" --user alice --max-retention none', f"<= {ROUTE_TARGET_S} s",
         f"{lean_route['median_s']:.3f} s", _met(lean_route["median_s"], ROUTE_TARGET_S)],
    ]  # fmt: skip
    text = _common.table(["target", "target", "measured", "met"], targets)
    rows = [
        [tree, name, r["ready_s"], r["ready_min_s"], r["ready_cpu_s"], r["first_answer_s"],
         rss[(tree, name)]["peak_rss_mib"], rss[(tree, name)]["rps"], rss[(tree, name)]["errors"]]
        for (tree, name), r in ready.items()
    ]  # fmt: skip
    text += "\n\nserve, side by side (median of runs; RSS: VmHWM after wrk at c=200):\n\n"
    text += _common.table(
        ["tree", "deployment", "ready s", "ready min s", "CPU s to ready", "first answer s",
         "peak RSS MiB",
         "req/s at c=200", "errors"],
        rows,
    )  # fmt: skip
    text += "\n\nroute, side by side (median wall time, spawn to exit):\n\n"
    text += _common.table(
        ["tree", "route", "median s", "min s", "exit status"],
        [[t, n, r["median_s"], r["min_s"], r["exit_status"]] for (t, n), r in route.items()],
    )
    return text


def commands_report(result: dict[str, Any]) -> str:
    rows = []
    for name, r in result["commands"].items():
        imports = r["imports"]
        target = "" if "met" not in r else ("met" if r["met"] else "missed")
        rows.append(
            [
                name, r["median_s"], r["min_s"], r["p90_s"], imports["modules"],
                imports["total_import_ms"], "yes" if imports["litellm_imported"] else "no", target,
            ]
        )  # fmt: skip
    headers = [
        "command", "median s", "min s", "p90 s", "modules imported", "import ms (self, summed)",
        "litellm imported", "target < 0.5 s",
    ]  # fmt: skip
    text = _common.table(headers, rows)
    for name in TARGETED:
        imports = result["commands"][name]["imports"]
        text += f"\n\nslowest imports of `{name}` (cumulative ms):\n\n"
        text += _common.table(["top-level import", "ms"], imports["top_level_ms"])
        text += "\n\nimport time by root package (self ms, summed):\n\n"
        text += _common.table(["package", "ms"], imports["by_root_package_ms"])
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="start-up time of the CLI")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--serve-runs", type=int, default=5, help="serve start-ups per cell")
    parser.add_argument("--rss-duration", type=float, default=8.0, help="seconds of c=200 load")
    parser.add_argument(
        "--parts", type=lambda v: v.split(","), default=["commands", "serve"],
        help="comma-separated: commands (the CLI rows), serve (serve and route vs targets)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    result = run(args)
    path = _common.save("startup", result)
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
