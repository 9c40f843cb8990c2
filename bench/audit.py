"""The audit log's cost: per record written, with and without the chain, and verification speed.

1. Writing: CPU µs per record for the records a routed call writes (one decision, one attempt,
   as the router builds them), to /dev/null through the file sink:
   - ``structlog (before)``: the previous writer, structlog's processor chain with its
     ISO TimeStamper and JSONRenderer (reconstructed here as it was);
   - ``orjson, no chain``: the current writer with the HMAC replaced by a constant;
   - ``orjson + chain``: the current writer as shipped.
2. The router's own work per call (``bench/overhead.py``'s stubbed-litellm path), audit to
   /dev/null with the chain, without it, and with the audit switched off.
3. Verifying: records per second of ``audit verify``'s logic (chain, checkpoints, policy
   re-check) over a log of decision/attempt pairs, on one core.

    uv run --frozen python -m bench.audit [--records 20000] [--verify-records 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from bench import _common

KEY: Final = b"bench-audit-key-0123456789abcdef"


def _catalog_label() -> str:
    from router._config.settings import current_catalog_path
    from router._core.catalog_load import load_catalog

    return load_catalog(current_catalog_path()).label


def _records() -> list[tuple[str, dict[str, Any]]]:
    """A decision and an attempt as the router writes them for Kimi K2 (five candidates), under
    the request's ``privacy`` of ``max_retention: none`` and no operator policy."""
    from router._config.settings import current_catalog_path
    from router._core.catalog_load import load_catalog
    from router._core.decision import decide
    from router._core.preferences import Preferences, version

    catalog = load_catalog(current_catalog_path())
    model = catalog.model("kimi-k2")
    privacy = Preferences(max_retention="none")  # type: ignore[arg-type]  # parsed on build
    made = decide(model, catalog.routes_of(model), privacy)
    base = {
        "catalog_version": catalog.label,  # the shipped catalog's: audit verify checks it
        "request_id": "ce8149fc32244f879e94cd2d0e1335dc",
        "user": "user-bbaf839e92b47fbe86e3",
        "model": "kimi-k2",
    }
    decision = base | made.to_dict() | {"model": model.slug}
    decision |= {
        "operator_policy_hash": version(Preferences()),
        "stored_preferences_version": None,
        "request_privacy": privacy.to_dict(),
        "offline": False,
    }
    attempt = base | {
        "provider": made.allowed[0].provider.slug, "route": made.allowed[0].key, "attempt": 1, "outcome": "ok",
        "latency_ms": 97.723, "identifier_rule": "omit", "scrubbed_removed": ["user"],
        "scrubbed_replaced": [], "offline": False,
    }  # fmt: skip
    return [("route.decision", decision), ("route.attempt", attempt)]


def _structlog_before() -> Callable[..., None]:
    """The writer as it was before the chain: structlog, stdlib JSON, a flushed text file."""
    import structlog
    from structlog.processors import JSONRenderer, TimeStamper

    stream = open(os.devnull, "a", encoding="utf-8")  # noqa: SIM115, PTH123 (kept open for the run)

    class Writer:
        def msg(self, line: str) -> None:
            stream.write(line + "\n")
            stream.flush()

        info = msg

    def event_first(_l: Any, _n: str, event: Any) -> Any:
        head = {"ts": event.pop("ts"), "event": event.pop("event")}
        return head | dict(event)

    log = structlog.wrap_logger(
        Writer(),
        processors=[
            TimeStamper(fmt="iso", utc=True, key="ts"),
            event_first,
            JSONRenderer(sort_keys=False, default=str),
        ],
    )
    return lambda event, **fields: log.info(event, **fields)


def _no_link(_self: Any, _prev: str, _body: bytes) -> str:
    """The chain's HMAC replaced by a constant: what writing costs without it."""
    return "0" * 64


def _cpu_per_record(emit: Callable[..., None], records: int) -> float:
    pairs = _records()
    for _ in range(500):
        for event, fields in pairs:
            emit(event, **fields)
    started = time.process_time()
    for _ in range(records // 2):
        for event, fields in pairs:
            emit(event, **fields)
    return (time.process_time() - started) / records * 1e6


def writing(records: int, reps: int) -> dict[str, float]:
    from router._audit import AuditLog, chain

    real_link = chain.Signer.link
    variants: dict[str, list[float]] = {}
    for _ in range(reps):
        variants.setdefault("structlog (before)", []).append(
            _cpu_per_record(_structlog_before(), records)
        )
        chain.Signer.link = _no_link  # type: ignore[method-assign]
        try:
            writer = AuditLog(os.devnull, key=KEY)
            variants.setdefault("orjson, no chain", []).append(
                _cpu_per_record(writer.emit, records)
            )
        finally:
            chain.Signer.link = real_link  # type: ignore[method-assign]
        writer = AuditLog(os.devnull, key=KEY)
        variants.setdefault("orjson + chain", []).append(_cpu_per_record(writer.emit, records))
    return {name: _common.median(values) for name, values in variants.items()}


async def router_calls(calls: int, reps: int) -> dict[str, float]:
    """The router's own CPU per call (two records), audit on with chain / without / off;
    the variants interleaved ``reps`` times, the median of each reported."""
    from bench import overhead
    from router._audit import chain

    real_link = chain.Signer.link
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        audited = overhead._router("audit-devnull", Path(tmp))
        off = overhead._router("audit-off", Path(tmp))
        for _ in range(reps):
            runs.setdefault("audit + chain", []).append(await _cpu(overhead, audited, calls))
            chain.Signer.link = _no_link  # type: ignore[method-assign]
            try:
                runs.setdefault("audit, no chain", []).append(await _cpu(overhead, audited, calls))
            finally:
                chain.Signer.link = real_link  # type: ignore[method-assign]
            runs.setdefault("audit off", []).append(await _cpu(overhead, off, calls))
        await audited.aclose()
        await off.aclose()
    return {name: _common.median(values) for name, values in runs.items()}


async def _cpu(overhead: Any, router: Any, calls: int) -> float:
    return float((await overhead._measure(router, None, calls))["cpu_us_per_call"])


def verifying(records: int, reps: int) -> dict[str, float]:
    from router._audit import AuditLog
    from router._audit.verify import verify

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        writer = AuditLog(path, key=KEY)
        pairs = _records()
        for n in range(records // 2):
            for event, fields in pairs:
                writer.emit(event, **fields | {"request_id": f"r{n}"})
        writer.close()
        size = path.stat().st_size
        policies = _common.ROOT / "policies"
        first = Path(tmp) / "first.jsonl"  # loading the catalogs: once per run, timed apart
        first.write_text(path.read_text().split("\n", 1)[0] + "\n")
        loading = time.process_time()
        verify([first], key=KEY, policies=policies, operator_policies=[{}])
        loading = time.process_time() - loading
        runs = []
        for _ in range(reps):  # best of several: the figure least disturbed by other processes
            started, cpu = time.perf_counter(), time.process_time()
            found = verify([path], key=KEY, policies=policies, operator_policies=[{}])
            runs.append((time.perf_counter() - started, time.process_time() - cpu))
            if not found.ok:
                raise SystemExit(f"the benchmark's own log did not verify: {found.to_dict()}")
    best_cpu = min(cpu for _, cpu in runs)
    return {
        "records": found.records,
        "mib": size / 2**20,
        "runs": reps,
        "records_per_s_cpu_best": found.records / best_cpu,
        "records_per_s_cpu_median": found.records / _common.median([c for _, c in runs]),
        "records_per_s_wall_best": found.records / min(wall for wall, _ in runs),
        "catalog_loading_cpu_s": loading,
    }


def machine_state() -> dict[str, float]:
    """How busy the machine was: other processes slow every figure here alike."""
    import hmac
    import timeit

    loops = 20_000
    best = min(
        timeit.repeat(lambda: hmac.digest(KEY, b"x" * 650, "sha256"), number=loops, repeat=5)
    )
    return {"load_average_1m": os.getloadavg()[0], "hmac_650_bytes_us": best / loops * 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="audit log cost: writing and verifying")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--verify-records", type=int, default=50_000)
    parser.add_argument("--verify-reps", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ["OPENAI_API_KEY"] = "fake"
    os.environ["POLICY_ROUTER_AUDIT_CHECKPOINT"] = os.devnull  # written, as in production, unseen
    _common.pin_self(0)
    written = writing(args.records, args.reps)
    calls = asyncio.run(router_calls(args.calls, args.reps))
    verified = verifying(args.verify_records, args.verify_reps)
    state = machine_state()
    result = {
        "config": vars(args),
        "machine_state": state,
        "writing": written,
        "router": calls,
        "verify": verified,
    }
    path = _common.save("audit", result)
    print("writing, CPU µs per record (decision and attempt alternating, to /dev/null):\n")
    print(_common.table(["writer", "µs/record"], [[k, v] for k, v in written.items()]))
    chain_cost = written["orjson + chain"] - written["orjson, no chain"]
    before = written["structlog (before)"]
    print(
        f"\nthe chain: +{chain_cost:.1f} µs/record; vs before: {written['orjson + chain'] - before:+.1f} µs/record\n"
    )
    print(
        "the router's own work (bench/overhead.py's path, 2 records per call), CPU µs per call:\n"
    )
    print(_common.table(["audit", "µs/call"], [[k, v] for k, v in calls.items()]))
    per_record = (calls["audit + chain"] - calls["audit, no chain"]) / 2
    print(f"\nthe chain inside the router: {per_record:+.1f} µs/record\n")
    print(
        f"verify: {verified['records']:,} records ({verified['mib']:.1f} MiB), best of "
        f"{verified['runs']}: {verified['records_per_s_cpu_best']:,.0f} records per CPU-second "
        f"(median {verified['records_per_s_cpu_median']:,.0f}; wall, best: "
        f"{verified['records_per_s_wall_best']:,.0f}/s), one core; loading the catalogs: "
        f"{verified['catalog_loading_cpu_s']:.2f} CPU-s per run"
    )
    print(
        f"\nmachine state: load average {state['load_average_1m']:.1f} on "
        f"{os.cpu_count()} CPUs; one HMAC-SHA256 of 650 bytes: {state['hmac_650_bytes_us']:.2f} µs"
    )
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
