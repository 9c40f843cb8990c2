"""``policy-router serve`` with every garbage collection counted and timed (``gc.callbacks``).

Only the collections once serve has frozen its start-up heap (``gc.freeze()``, just before it
serves) are counted: those of the imports are not the requests'. At exit (serve's graceful
stop on SIGTERM) it prints one line, ``GCSTATS {json}``: per generation the collections, their total and longest pause in milliseconds, and the objects
they freed; and the permanent generation's size (``gc.get_freeze_count()``, what serve froze
at start-up). bench/openloop.py runs ``serve`` under it to count the collector's pauses
inside its cells. It imports nothing from ``bench``: it also runs another tree's serve
(``serve@NAME``), by its path.

    python bench/serve_gc.py   # then the same as ``policy-router serve``
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
import time
from typing import Any

STATS: dict[int, list[float]] = {}  # generation -> [collections, total s, longest s, freed]
_STARTED: list[float] = [0.0]


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if not gc.get_freeze_count():  # start-up: serve freezes what it loaded just before serving
        return
    if phase == "start":
        _STARTED[0] = time.perf_counter()
        return
    pause = time.perf_counter() - _STARTED[0]
    entry = STATS.setdefault(info["generation"], [0, 0.0, 0.0, 0])
    entry[0] += 1
    entry[1] += pause
    entry[2] = max(entry[2], pause)
    entry[3] += info["collected"]


def summary() -> dict[str, Any]:
    """What the collector did since start: per generation, and the frozen objects."""
    return {
        "generations": {
            str(gen): {
                "collections": int(n),
                "total_ms": total * 1000,
                "max_ms": longest * 1000,
                "collected": int(freed),
            }
            for gen, (n, total, longest, freed) in sorted(STATS.items())
        },
        "frozen": gc.get_freeze_count(),
        "threshold": list(gc.get_threshold()),
    }


def _report() -> None:
    print("GCSTATS " + json.dumps(summary()), file=sys.stderr, flush=True)


def main() -> None:
    gc.callbacks.append(_on_collection)
    atexit.register(_report)
    sys.argv = ["policy-router", "serve"]
    from router.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
