"""Instructions per request, deterministically: a server under callgrind, a fixed number of
requests, and the instructions executed while they ran, divided by their count.

Wall-clock CPU figures on a shared 2-core machine move by 10-30 % from one run to the next;
an instruction count does not (it moves by well under 1 % between runs of the same tree). The
server starts under ``valgrind --tool=callgrind --instr-atstart=no``, pinned to CPU 0 (start-up
and the warm-up are not counted), instrumentation is switched on (``callgrind_control -i on``)
for ``--requests`` requests, then off, and the counts are dumped. Requests go one after the
other on one keep-alive connection (``--concurrency 1``, the default: no loop pass ever holds
two requests, so the count does not depend on the timing) or ``--concurrency N`` at a time,
each on its own keep-alive connection (opened in the warm-up): the loaded path, where a loop
pass serves several. Cells: ``json`` (chat JSON), ``tok`` (a 1-token stream, 5 events),
``paced`` (``--paced-chunks`` deltas one event every ``--pace-ms`` ms: one upstream read and
one send per event), each a request body of bench/lean.py's (a user named, audit to a file);
``responses-json`` and ``responses``: the ``json`` and ``tok`` cells as a plain Responses
request (``input`` the same text) to ``/v1/responses``, translated to chat and back.
Servers: ``reference``, ``serve`` (this tree), ``serve@NAME`` (serve from the tree
``--tree NAME=DIR`` names).

    uv run --frozen --group bench python -m bench.instructions \\
        --servers reference,serve,serve@main --tree main=/work/main --cells json,tok,paced

Prints instructions per request (and per event for streams) per server and cell, and the
ratio to the first server; ``--annotate N`` prints each dump's top N functions (inclusive,
``callgrind_annotate``); ``--keep DIR`` keeps each dump (``SERVER.CELL.out``). The fake
upstream and the client run outside valgrind, on CPU 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from bench import _common
from bench.lean import USER, add_tree_option
from bench.proxy import OUR_KEY, serve_env

MODEL: Final = "GPT 4.1"
TOTALS: Final = re.compile(rb"^totals:\s*(\d+)", re.MULTILINE)
READS: Final = re.compile(r"< \S*httptools_\w*HttpParser_\d+feed_data \((\d+)x\)")


CHAT: Final = "/v1/chat/completions"
RESPONSES: Final = "/v1/responses"


def _body(kind: str, paced_chunks: int, pace_ms: float) -> tuple[str, bytes, int]:
    """The path and request body of a cell and the SSE events of its answer (0: JSON)."""
    path, marker, events = {
        "json": (CHAT, "", 0),
        "tok": (CHAT, "[bench chunks=1]", 5),
        "paced": (CHAT, f"[bench chunks={paced_chunks} pace_ms={pace_ms:g}]", paced_chunks + 4),
        # The same as a plain Responses request (translated to chat and back): its 1-token
        # stream is 9 Responses events (created ... completed) of the chat stream's 5.
        "responses-json": (RESPONSES, "", 0),
        "responses": (RESPONSES, "[bench chunks=1]", 9),
    }[kind]
    text = f"Say ok. {marker}".strip()
    body: dict[str, Any] = {"model": MODEL, "user": USER}
    if path == CHAT:
        body["messages"] = [{"role": "user", "content": text}]
    else:
        body["input"] = text
    if events:
        body["stream"] = True
    return path, json.dumps(body, separators=(",", ":")).encode(), events


def _slug(name: str) -> str:
    return re.sub(r"\W", "-", name)


@contextmanager
def _server(name: str, tree: Path, upstream: str, port: int, tmp: Path) -> Iterator[int]:
    """A server under callgrind, instrumentation off; yields its pid once it answers."""
    out = tmp / f"callgrind.{_slug(name)}.out"
    valgrind = [
        *_common.pin_prefix(0), "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={out}", "--dump-instr=no",
    ]  # fmt: skip
    if name == "reference":
        command = [sys.executable, "-m", "bench.reference", "--upstream", f"{upstream}/v1",
                   "--port", str(port), "--key", OUR_KEY, "--audit", str(tmp / "audit-ref.jsonl")]  # fmt: skip
        env = {"PYTHONPATH": str(tree)}
    else:
        command = [sys.executable, "-m", "router.cli", "serve"]
        env = serve_env(upstream, port, tmp, _slug(name)) | {"PYTHONPATH": str(tree)}
    log = (tmp / f"{_slug(name)}.log").open("wb")
    proc = subprocess.Popen([*valgrind, *command], cwd=tree, env=_common.bench_env(env),
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _common.wait_http(f"http://{_common.LOOPBACK}:{port}/healthz", timeout=600)
        yield proc.pid
    finally:
        _common.stop(proc, timeout=120)
        log.close()


def _send(conn: http.client.HTTPConnection, path: str, body: bytes) -> None:
    conn.request("POST", path, body,
                 {"Content-Type": "application/json", "Authorization": f"Bearer {OUR_KEY}"})  # fmt: skip
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"answered {response.status}: {data[:300]!r}")


def _control(*args: str) -> str:
    return subprocess.run(["callgrind_control", *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout  # fmt: skip


def _round(conns: list[http.client.HTTPConnection], path: str, body: bytes, requests: int) -> None:
    """``requests`` requests of ``body``, each connection sending one at a time (a thread
    each when there are several), the next taken by whichever is free."""
    left: queue.SimpleQueue[None] = queue.SimpleQueue()
    for _ in range(requests):
        left.put(None)

    def worker(conn: http.client.HTTPConnection) -> None:
        while True:
            try:
                left.get_nowait()
            except queue.Empty:
                return
            _send(conn, path, body)

    if len(conns) == 1:
        worker(conns[0])
        return
    with ThreadPoolExecutor(len(conns)) as pool:
        list(pool.map(worker, conns))  # raises what a worker raised


def measure(
    pid: int,
    port: int,
    path: str,
    body: bytes,
    requests: int,
    warm: int,
    out: Path,
    concurrency: int = 1,
) -> int:
    """Instructions executed by ``pid`` (writing its dumps to ``out``.N) over ``requests``
    requests of ``body`` to ``path``, ``concurrency`` at a time on as many keep-alive connections.

    callgrind takes its commands when it next runs, and on a busy machine one may come late:
    a window is kept only if the server read exactly ``requests`` requests in it (httptools'
    ``feed_data`` calls, one per request on a kept-alive connection), else it is taken again.
    (Confirming each switch instead, with status requests and health checks to wake the
    server until it shows, puts those health checks in the window; this check sees any late
    switch and counts nothing but the requests.)"""
    conns = [http.client.HTTPConnection(_common.LOOPBACK, port, timeout=300)
             for _ in range(max(concurrency, 1))]  # fmt: skip
    try:
        for conn in conns:  # every connection opened before the window
            for _ in range(max(warm // len(conns), 1)):
                _send(conn, path, body)
        for _ in range(5):
            _control("-z", str(pid))  # zero what came before (instrumentation is off)
            _control("-i", "on", str(pid))
            _round(conns, path, body, requests)
            time.sleep(0.5)  # the work a response left behind (its audit record, the watcher)
            _control("-i", "off", str(pid))
            _control("-d", str(pid))
            dump = _last_dump(out)
            reads = _reads(dump)
            if reads == requests:
                found = TOTALS.search(dump.read_bytes())
                if found is None:
                    raise RuntimeError(f"no totals in {dump}")
                return int(found.group(1))
            print(f"  (the window held {reads} reads, not {requests}: again)", file=sys.stderr)
    finally:
        for conn in conns:
            conn.close()
    raise RuntimeError("no window held exactly the requests sent")


def _reads(dump: Path) -> int:
    """Requests the server read in a dump: calls of httptools' ``HttpParser.feed_data``."""
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", str(dump)], check=True,
                          capture_output=True, text=True, timeout=300).stdout  # fmt: skip
    found = READS.search(tree)
    return int(found.group(1)) if found else 0


def _last_dump(out: Path) -> Path:
    """The newest of ``out``'s dumps (callgrind numbers them ``out.1``, ``out.2``, …)."""
    dumps = list(out.parent.glob(f"{out.name}.*"))
    return max(dumps, key=lambda p: int(p.name.rsplit(".", 1)[1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="reference,serve",
                        help="reference, serve (this tree), serve@NAME (the tree --tree NAME=DIR)")  # fmt: skip
    parser.add_argument("--cells", default="json,tok,paced")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1,
                        help="requests at a time, each on its own keep-alive connection")  # fmt: skip
    parser.add_argument("--paced-chunks", type=int, default=20)
    parser.add_argument("--pace-ms", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8530)
    parser.add_argument("--annotate", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="copy each dump to this directory")
    add_tree_option(parser)
    args = parser.parse_args(argv)
    trees = {name: Path(path).resolve() for name, path in args.tree}
    for name in args.servers.split(","):
        if name.startswith("serve@") and name.removeprefix("serve@") not in trees:
            parser.error(f"{name}: name its tree with --tree {name.removeprefix('serve@')}=DIR")
    rows: list[tuple[str, str, float, float | None]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream = stack.enter_context(_common.fake_upstream(cpu=1))
        for index, name in enumerate(s for s in args.servers.split(",") if s):
            root = trees[name.removeprefix("serve@")] if name.startswith("serve@") else _common.ROOT
            port = args.port + index
            with _server(name, root, upstream, port, tmp) as pid:
                for cell in (c for c in args.cells.split(",") if c):
                    path, body, events = _body(cell, args.paced_chunks, args.pace_ms)
                    out = tmp / f"callgrind.{_slug(name)}.out"
                    total = measure(pid, port, path, body, args.requests, args.warm, out,
                                    args.concurrency)  # fmt: skip
                    per = total / args.requests
                    rows.append((name, cell, per, per / events if events else None))
                    print(f"  {name:<14} {cell:<6} {per:14,.0f} instr/request", file=sys.stderr,
                          flush=True)  # fmt: skip
                    if args.keep is not None:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(_last_dump(out), args.keep / f"{_slug(name)}.{cell}.out")
                    if args.annotate:
                        print(subprocess.run(
                            ["callgrind_annotate", "--inclusive=yes", str(_last_dump(out))],
                            capture_output=True, text=True, check=False,
                        ).stdout[: 200 * args.annotate])  # fmt: skip
    first = rows[0][0] if rows else ""
    base = {cell: per for name, cell, per, _ in rows if name == first}
    print(f"{args.requests} requests per cell, {args.concurrency} at a time")
    print("| server | cell | instructions/request | per event | vs " + first + " |")
    print("|---|---|---|---|---|")
    for name, cell, per, event in rows:
        ev = f"{event:,.0f}" if event else ""
        print(f"| {name} | {cell} | {per:,.0f} | {ev} | {per / base[cell]:.2f}× |")


if __name__ == "__main__":
    main()
