"""What the evidence checks cost per request.

- ``withhold``: the audit writer's identifier check (``AuditLog.emit(..., avoid=user)``) on a
  routed request's two records (its decision and one attempt): both records written with and
  without the check, µs per request; the common case, no id in the record, is one scan of
  the bytes the writer renders anyway, per form of the id.
- ``surface``: the accepted-surface check of a chat request (``check_request``), which now
  also checks every string for lone surrogates and the nesting depth in the same walk, in µs
  per request, for a short chat and a tool loop with a JSON schema.

    uv run --frozen python -m bench.evidence [--n 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from router._audit import AuditLog
from router._core.surface import check_request

USER = "alice-0001-example"
DECISION: dict[str, Any] = {
    "ts": "2026-12-07T14:00:00.000000Z", "event": "route.decision", "catalog_version": "2025-11@d4aa4cb69e12",
    "request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "api": "chat", "user": "user-2b092214876f59d1e852",
    "model": "gpt-4-1", "preferences": {"max_retention": "30d", "allow_training": False},
    "candidates": [{"route": "gpt-4-1/openai", "provider": "openai", "verdict": "allowed", "reasons": []},
                   {"route": "gpt-4-1/azure", "provider": "azure", "verdict": "allowed", "reasons": []}],
    "order": ["gpt-4-1/openai", "gpt-4-1/azure"], "offline": False,
}  # fmt: skip
ATTEMPT: dict[str, Any] = {
    "ts": "2026-12-07T14:00:00.000000Z", "event": "route.attempt", "catalog_version": "2025-11@d4aa4cb69e12",
    "request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "api": "chat", "user": "user-2b092214876f59d1e852",
    "model": "gpt-4-1", "provider": "openai", "route": "gpt-4-1/openai", "attempt": 1, "outcome": "ok",
    "latency_ms": 312.5, "identifier_rule": "omit", "scrubbed_removed": ["user"], "scrubbed_replaced": [],
    "sends": 1, "offline": False,
}  # fmt: skip
SHORT = {"messages": [{"role": "user", "content": "Say hello in one sentence."}], "user": USER}
SCHEMA = {
    "type": "object",
    "properties": {f"p{i}": {"type": "string", "description": "x" * 40} for i in range(12)},
}
TOOLS = {
    "messages": [{"role": "user", "content": "Look it up. " * 200}],
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}],
    "user": USER,
}  # fmt: skip


def _per_call(work: Callable[[], object], n: int) -> float:
    started = time.process_time_ns()
    for _ in range(n):
        work()
    return (time.process_time_ns() - started) / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    log = AuditLog(lambda _line: None)
    fields = [{k: v for k, v in r.items() if k not in ("ts", "event")} for r in (DECISION, ATTEMPT)]

    def emit(avoid: str | None) -> None:
        log.emit("route.decision", avoid=avoid, **fields[0])
        log.emit("route.attempt", avoid=avoid, **fields[1])

    plain, checked = _per_call(lambda: emit(None), n), _per_call(lambda: emit(USER), n)
    print(f"audit, decision + attempt written:   {plain:.1f} µs per request without the check")
    print(
        f"                                     {checked:.1f} µs with it (+{checked - plain:.1f} µs)"
    )
    print(
        f"surface, short chat:                 {_per_call(lambda: check_request(SHORT), n):.1f} µs"
    )
    print(
        f"surface, tool loop (2.4 KB content):  {_per_call(lambda: check_request(TOOLS), n):.1f} µs"
    )


if __name__ == "__main__":
    main()
