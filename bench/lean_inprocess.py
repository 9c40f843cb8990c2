"""In process: ``PolicyRouter.acompletion`` on the lean path against bare ``litellm.acompletion``.

Each variant runs in its own worker process pinned to CPU 0 (the fake upstream on CPU 1), on
aiohttp (litellm's default; the router's production default), rounds interleaved. Per round:
``--calls`` calls at concurrency 50 (non-streaming), then ``--calls // 10`` streamed calls of
``--chunks`` chunks; CPU time of the process over the round divided by the calls.

    uv run --frozen --group bench python -m bench.lean_inprocess [--rounds 3] [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench import _common

WORKER = r"""
import asyncio, json, os, sys, time
variant, upstream, calls, streams, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.environ["OPENAI_API_KEY"] = "fake"
MESSAGES = [{"role": "user", "content": "Say ok."}]

async def main():
    if variant == "bare":
        import litellm
        async def one(stream):
            r = await litellm.acompletion(model="openai/gpt-4.1", messages=MESSAGES,
                                          api_base=upstream + "/v1", stream=stream)
            if stream:
                async for _ in r:
                    pass
        close = None
    else:
        from router import PolicyRouter, Settings
        from router._audit import AuditLog
        settings = Settings(providers={"openai": {"api_base": upstream + "/v1"}},
                            pseudonym_key="bench-pseudonym-key-0123456789abcdef",
                            store_url=f"sqlite:///{tmp}/prefs.sqlite3", transport="aiohttp")
        router = PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda line: None))
        async def one(stream):
            r = await router.acompletion("GPT 4.1", MESSAGES, stream=stream)
            if stream:
                async for _ in r:
                    pass
        close = router.aclose
    async def batch(n, stream, width):
        sem = asyncio.Semaphore(width)
        async def run():
            async with sem:
                await one(stream)
        await asyncio.gather(*(run() for _ in range(n)))
    await batch(100, False, 50)  # warm-up: imports, clients, pools
    await batch(5, True, 5)
    out = {}
    for name, n, stream in (("json", calls, False), ("stream", streams, True)):
        cpu = time.process_time()
        await batch(n, stream, 50)
        await asyncio.sleep(0.15)
        out[name] = (time.process_time() - cpu) / n * 1000
    if close:
        await close()
    print("RESULT " + json.dumps(out))

asyncio.run(main())
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=300)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        _common.fake_upstream(cpu=1, sse_chunks=args.chunks) as upstream,
    ):
        rows = _common.worker_rounds(
            WORKER, ("bare", "router-lean"), upstream, args.calls, args.rounds, Path(tmp)
        )
    print(
        "| phase | bare litellm CPU ms/call | router (lean) CPU ms/call | ratio (median of rounds) |"
    )
    print("|---|---|---|---|")
    for phase in ("json", "stream"):
        bare = [r[phase] for r in rows["bare"]]
        lean = [r[phase] for r in rows["router-lean"]]
        ratios = [a / b for a, b in zip(lean, bare, strict=True)]
        print(f"| {phase} c=50 | {statistics.median(bare):.3f} | {statistics.median(lean):.3f} | "
              f"{statistics.median(ratios):.2f}× |")  # fmt: skip
    _common.save("lean_inprocess", {"rounds": rows, "chunks": args.chunks})


if __name__ == "__main__":
    main()
