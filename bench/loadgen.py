"""A closed-loop HTTP load generator on httpx, for machines without wrk.

``--concurrency`` tasks each POST a chat completion, wait for the answer and POST again, until
``--duration`` seconds have passed. Prints one ``WRKJSON {…}`` line with the same fields as
bench/proxy.py's wrk script. Costs far more CPU per request than wrk: on a 2-core machine its
figures are a lower bound on the proxy's throughput. Loopback URLs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

from bench import _common


async def generate(args: argparse.Namespace) -> dict[str, float]:
    import httpx

    if urlsplit(args.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"loopback URLs only (got {args.url})")
    body = {"model": args.model, "messages": [{"role": "user", "content": "Say ok."}]}
    headers = {"Authorization": f"Bearer {args.key}"}
    latencies: list[float] = []
    counts = {"status": 0, "read": 0, "timeout": 0, "connect": 0, "write": 0}
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    started = time.perf_counter()
    deadline = started + args.duration
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def lane() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.post(args.url, json=body, headers=headers)
                except httpx.TimeoutException:
                    counts["timeout"] += 1
                    continue
                except httpx.ConnectError:
                    counts["connect"] += 1
                    continue
                except httpx.HTTPError:
                    counts["read"] += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1e6)
                if not response.is_success:
                    counts["status"] += 1

        await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    return {
        "requests": len(latencies),
        "duration_us": (time.perf_counter() - started) * 1e6,
        **counts,
        "p50_us": _common.percentile(latencies, 50),
        "p90_us": _common.percentile(latencies, 90),
        "p99_us": _common.percentile(latencies, 99),
        "max_us": max(latencies, default=0.0),
        "mean_us": sum(latencies) / len(latencies) if latencies else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    result = asyncio.run(generate(parser.parse_args(argv)))
    print("WRKJSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
