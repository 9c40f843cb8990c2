"""Instructions per request, counted: a server under valgrind's callgrind, a fixed number of
chat JSON requests.

Each server (the reference forwarder, ``serve`` from this tree, ``serve@NAME`` from a tree
``--tree NAME=DIR``) runs under ``valgrind --tool=callgrind --instr-atstart=no``, pinned to
CPU 0, on the fake upstream (CPU 1). After its start-up and a warm-up of ``--warmup``
requests, instrumentation is switched on (``callgrind_control -i on``), ``--requests``
requests are sent, ``--concurrency`` at a time (each body names an end user), and the count
is dumped. Instructions (``Ir``) per request are deterministic to a percent or so, busy
machine or not: the before/after of a CPU change, where wall-clock CPU is noise.

    uv run --frozen --group bench python -m bench.callgrind [--servers reference,serve] \
        [--requests 2000] [--tree main=/work/main] [--keep DIR]

``--keep DIR`` keeps each server's callgrind.out (``callgrind_annotate`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench import _common
from bench.lean import USER
from bench.proxy import OUR_KEY, serve_env


def _command(
    name: str, upstream: str, port: int, tmp: Path, trees: dict[str, Path]
) -> tuple[list[str], dict[str, str], Path]:
    if name == "reference":
        command = ["-m", "bench.reference", "--upstream", f"{upstream}/v1", "--port", str(port),
                   "--key", OUR_KEY, "--audit", str(tmp / "audit-ref.jsonl")]  # fmt: skip
        return command, {"PYTHONPATH": str(_common.ROOT)}, _common.ROOT
    env = serve_env(upstream, port, tmp, name.replace("@", "-"))
    cwd = trees[name[6:]] if name.startswith("serve@") else _common.ROOT
    env["PYTHONPATH"] = str(cwd)
    return ["-m", "router.cli", "serve"], env, cwd


async def _send(url: str, count: int, concurrency: int) -> int:
    body = {"model": "GPT 4.1", "user": USER,
            "messages": [{"role": "user", "content": "Say ok."}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {OUR_KEY}"}
    left = [count]
    ok = [0]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    ok[0] += response.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok[0]


def _switch(pid: int, url: str, state: str) -> None:
    """Instrumentation ``on`` or ``off``, applied before this returns. callgrind reads its
    commands only when the program runs (an idle server does not): each is followed by
    status requests, with health checks to wake the server, until the status shows it."""
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True,
                   capture_output=True)  # fmt: skip
    for _ in range(100):
        status = subprocess.Popen(["callgrind_control", "-s", str(pid)],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        while status.poll() is None:
            httpx.get(f"{url}/healthz", timeout=60)
            time.sleep(0.1)
        said = status.stdout.read() if status.stdout else ""
        if ("switched off" in said) == (state == "off"):
            return
    raise RuntimeError(f"callgrind did not switch instrumentation {state}")


def count(
    name: str, upstream: str, port: int, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    command, env, cwd = _command(name, upstream, port, tmp, dict(args.tree))
    out = tmp / f"callgrind.{name.replace('@', '-')}.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    proc = subprocess.Popen(
        [*_common.pin_prefix(0), *valgrind, sys.executable, *command], cwd=cwd,
        env=_common.bench_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://{_common.LOOPBACK}:{port}"
    try:
        _common.wait_http(f"{url}/healthz", timeout=900)
        _common.pin_self(1)
        chat = f"{url}/v1/chat/completions"
        asyncio.run(_send(chat, args.warmup, args.concurrency))
        _switch(proc.pid, url, "on")
        ok = asyncio.run(_send(chat, args.requests, args.concurrency))
        _switch(proc.pid, url, "off")
    finally:
        _common.stop(proc, timeout=120)
    time.sleep(1)
    text = out.read_text(errors="replace")
    found = re.search(r"^totals:\s+(\d+)", text, re.M)
    total = int(found.group(1)) if found else 0
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(args.keep) / out.name)
    return {"server": name, "ok": ok, "requests": args.requests, "ir": total,
            "ir_per_request": total / max(ok, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="reference,serve")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=8490)
    parser.add_argument("--keep", default="")
    parser.add_argument("--tree", action="append", default=[],
                        type=lambda text: (text.split("=", 1)[0], Path(text.split("=", 1)[1])))  # fmt: skip
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as name, _common.fake_upstream(cpu=1) as upstream:
        tmp = Path(name)
        for i, server in enumerate(s for s in args.servers.split(",") if s):
            row = count(server, upstream, args.port + i, tmp, args)
            rows.append(row)
            print(
                f"{server:<16} {row['ok']}/{row['requests']} ok  "
                f"{row['ir_per_request'] / 1e6:.3f} M instructions per request",
                flush=True,
            )
    base = next((r for r in rows if r["server"] == "reference"), None)
    if base:
        for r in rows:
            print(
                f"{r['server']:<16} {r['ir_per_request'] / base['ir_per_request']:.2f}x reference"
            )


if __name__ == "__main__":
    main()
