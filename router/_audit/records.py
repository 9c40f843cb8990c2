"""Reading audit logs back: each line of each file (or standard input, ``-``), parsed."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson


class Line(NamedTuple):
    """One line of an audit log: where it is, and its record (``None``: not a JSON object)."""

    file: str
    number: int
    record: dict[str, Any] | None
    raw: bytes


def read(sources: Iterable[str | Path]) -> Iterator[Line]:
    """Every non-blank line of the sources, in order; ``-`` is standard input."""
    for source in sources:
        if str(source) == "-":
            yield from _lines("<stdin>", sys.stdin.buffer)
            continue
        with Path(source).open("rb") as stream:
            yield from _lines(str(source), stream)


def _lines(name: str, stream: IO[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        if raw.isspace():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            record = None
        yield Line(name, number, record if isinstance(record, dict) else None, raw)
