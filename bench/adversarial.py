"""The adversarial run, at length: faults, audit accounting, logs, kill -9 durability.

1. A fake provider on 127.0.0.1 (tests/_support/faults.py) answers kimi-k2's three routes (Groq,
   Together, DeepInfra) with random 500 / 429 / 503 / reset / close / mid-stream drop / slow /
   hang; ``policy-router serve`` runs in front of it. ``--requests`` chat requests go out at
   ``--concurrency``: JSON and streams, some refused by policy, some bad input.
2. The accounting: every request id has exactly one decision (or one refusal), and every
   request the fake provider received has exactly one ``route.attempt`` with an outcome.
3. The logs: serve's whole output is scanned for the sentinel in every message and user id,
   and for the provider's error text (which quotes the request).
4. ``--kill-rounds`` times: writers PUT preferences over HTTP, serve gets SIGKILL, restarts;
   every acknowledged write must be there afterwards.

    uv run --frozen python -m bench.adversarial [--requests 3000] [--concurrency 100] [--kill-rounds 5]

Prints its figures and exits 1 if anything is unaccounted for. Bounded: each request has a
60 s client timeout; the upstream's "hang" ends at the router's timeout (2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import httpx

from bench._common import ROOT, bench_env

sys.path.insert(0, str(ROOT))  # tests._support.faults: the fake provider, the accounting

from tests._support.faults import (
    SENTINEL,
    SENTINEL_ECHO,
    Accounting,
    Faults,
    FaultUpstream,
    drive,
    fault_environment,
    lost_writes,
    scan_logs,
    write_until_killed,
)

API_KEY: Final = "adversarial-api-key-0001"
ADMIN_KEY: Final = "adversarial-admin-key-0001"
CREDENTIALS: Final = {
    "GROQ_API_KEY": "fake-groq-key-00000000",
    "TOGETHERAI_API_KEY": "fake-together-key-00000000",
    "DEEPINFRA_API_KEY": "fake-deepinfra-key-00000000",
}


class Server:
    """``policy-router serve`` on a free port, its output in ``data_dir/server.log``."""

    def __init__(
        self, data_dir: Path, upstream: FaultUpstream, transport: str, read_timeout: float
    ) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        env = bench_env(
            {
                "POLICY_ROUTER_SERVER__API_KEYS": f'["{API_KEY}"]',
                "POLICY_ROUTER_SERVER__ADMIN_KEYS": f'["{ADMIN_KEY}"]',
                "POLICY_ROUTER_DATA_DIR": str(data_dir),
                "POLICY_ROUTER_AUDIT": str(data_dir / "audit.jsonl"),
                "POLICY_ROUTER_TRANSPORT": transport,
                **fault_environment(upstream, CREDENTIALS),
                "POLICY_ROUTER_SERVER__READ_TIMEOUT": str(read_timeout),
            }
        )
        env = {k: v for k, v in env.items() if not k.endswith("_API_KEY") or k in CREDENTIALS}
        data_dir.mkdir(parents=True, exist_ok=True)
        with (data_dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "serve", "--port", str(self.port)],
                env=env,
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_healthy()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"serve exited with {self.process.returncode}; see server.log")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1, trust_env=False).is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("serve did not become healthy in 120 s")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _audit(data_dir: Path) -> list[dict[str, Any]]:
    import json

    text = (data_dir / "audit.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


async def fault_run(args: argparse.Namespace, data_dir: Path) -> list[str]:
    upstream = FaultUpstream(Faults.random(seed=args.seed), slow_seconds=0.2).start()
    server = Server(data_dir, upstream, args.transport, args.read_timeout)
    try:
        started = time.perf_counter()
        ids, statuses, errors = await drive(
            server.base_url, API_KEY, args.requests, args.concurrency
        )
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)  # the last records are written as the answers end
    finally:
        server.stop()
        upstream.stop()
    accounting = Accounting.of(_audit(data_dir), ids, upstream)
    logs = (data_dir / "server.log").read_text(encoding="utf-8", errors="replace")
    leaks = scan_logs(logs, [SENTINEL, SENTINEL_ECHO, "tell me about"])
    print(f"fault run: {args.requests} requests at concurrency {args.concurrency}, "
          f"{args.transport} transport, read_timeout {args.read_timeout:g} s, {elapsed:.1f} s")  # fmt: skip
    print(
        "  client saw: "
        + ", ".join(f"{k or 'no answer'}: {v}" for k, v in sorted(statuses.items()))
    )
    for error, count in errors.most_common(5):
        print(f"  no answer, {count}x: {error}")
    print("  " + accounting.summary())
    faults = sum(accounting.outcomes.values()) - accounting.outcomes.get("ok", 0)
    print(f"  provider requests that failed (injected faults seen by the router): {faults}")
    print(f"  server log: {len(logs.splitlines())} lines, {len(leaks)} with content, "
          "a user id or provider text")  # fmt: skip
    problems = accounting.problems()
    if statuses.get(500):
        problems.append(f"{statuses[500]} answers were 500")
    return problems + [f"log leak: {line[:200]}" for line in leaks[:5]]


async def kill_rounds(args: argparse.Namespace, data_dir: Path) -> list[str]:
    upstream = FaultUpstream()  # never started: the durability rounds send no chat request
    acked: dict[str, int] = {}
    server = Server(data_dir, upstream, args.transport, args.read_timeout)
    try:
        for round_ in range(args.kill_rounds):
            acked |= await write_until_killed(
                server.base_url,
                ADMIN_KEY,
                server.process.kill,
                args.writers,
                args.kill_after,
                round_,
            )
            server.process.wait(timeout=30)
            server = Server(data_dir, upstream, args.transport, args.read_timeout)
        lost = await lost_writes(server.base_url, ADMIN_KEY, acked)
    finally:
        server.stop()
    print(f"kill -9: {args.kill_rounds} rounds, {args.writers} writers, "
          f"{sum(acked.values())} acknowledged writes, {len(lost)} lost")  # fmt: skip
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--transport", choices=["httpx", "aiohttp"], default="httpx")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--read-timeout", type=float, default=10.0, help="serve's read_timeout")
    parser.add_argument("--kill-rounds", type=int, default=5)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument(
        "--kill-after", type=float, default=2.0, help="seconds of writing per round"
    )
    parser.add_argument("--keep", type=Path, help="keep audit and server logs in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="adversarial-") as scratch:
        tmp = args.keep or Path(scratch)
        problems = asyncio.run(fault_run(args, Path(tmp) / "faults"))
        if args.kill_rounds:
            problems += asyncio.run(kill_rounds(args, Path(tmp) / "durable"))
    for problem in problems[:20]:
        print("PROBLEM:", problem)
    print("all accounted for" if not problems else f"{len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
