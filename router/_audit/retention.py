"""Retention of the router's own records: rotated audit files older than the retention are
dropped whole, each after an ``audit.cut`` point in the checkpoint sink says where every writer's
records in it ended (``seq`` and ``head``), so that ``audit verify`` still proves the kept files
complete: each writer's first kept record must follow its cut (see ``chain.py``).

Only rotated files are dropped (siblings named ``<log>.<suffix>`` or ``<log>-<suffix>``, as
logrotate names them, ``.gz`` read too), never the file being written, never the checkpoint
file, and never a file whose first line is not a chained audit record.
"""

from __future__ import annotations

import glob
import gzip
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from router._audit import chain
from router._core.duration import Duration


def expired(path: Path, retention: Duration, *, keep: Path | None, now: float) -> list[Path]:
    """Rotated files of ``path`` last written more than ``retention`` ago, oldest first."""
    if retention.is_unlimited:
        return []
    pattern = f"{glob.escape(path.name)}[.-]*"
    found = []
    for candidate in path.parent.glob(pattern):
        if not candidate.is_file() or (keep is not None and candidate.resolve() == keep.resolve()):
            continue
        modified = candidate.stat().st_mtime
        if now - modified > retention.seconds and _is_audit_log(candidate):
            found.append((modified, candidate))
    return [p for _, p in sorted(found)]


def ends(path: Path) -> dict[str, dict[str, Any]]:
    """Each writer's last ``seq`` and ``head`` (chain value) in one file."""
    out: dict[str, dict[str, Any]] = {}
    for record in _records(path):
        writer, seq, head = record.get("writer"), record.get("seq"), record.get("chain")
        if not (isinstance(writer, str) and isinstance(seq, int) and isinstance(head, str)):
            continue
        if seq > out.get(writer, {}).get("seq", 0):
            out[writer] = {"seq": seq, "head": head}
    return out


def cut(
    path: Path,
    retention: Duration,
    record: Callable[[dict[str, Any]], None],
    *,
    keep: Path | None = None,
    now: float | None = None,
) -> list[Path]:
    """Drop the expired rotated files of ``path``, each after ``record`` took its cut point."""
    dropped = []
    for old in expired(path, retention, keep=keep, now=time.time() if now is None else now):
        point = {
            "event": chain.CUT_EVENT,
            "file": old.name,
            "retention": str(retention),
            "writers": ends(old),
        }
        record(point)
        old.unlink(missing_ok=True)  # another process may have dropped it first
        dropped.append(old)
    return dropped


def _is_audit_log(path: Path) -> bool:
    first = next(_records(path), None)
    return first is not None and {"writer", "seq", "chain"} <= set(first)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a binary file object
    return path.open("rb")


def _records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with _open(path) as stream:
            for raw in stream:
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(parsed, dict) and parsed.get("event") not in chain.SINK_EVENTS:
                    yield parsed
    except (OSError, EOFError):
        return
