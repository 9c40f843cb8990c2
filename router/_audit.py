"""The audit log: one JSON object per line, written with structlog.

Events: ``route.decision``, ``route.attempt``, ``route.refused``, ``preferences.changed``.
Callers pass only what may be logged: pseudonyms, never raw user ids; never message content;
never credentials. This module does not guess which fields are safe; the router decides.
It does bound their size: a string longer than ``MAX_TEXT`` characters (a caller's 100 KB
model name, an error message quoting it) is cut there, so no caller makes a record large.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Final, TextIO, cast

MAX_TEXT: Final = 512  # characters of one string in a record; the rest is counted, not kept


class _LineWriter:
    """A structlog logger that writes whole lines and flushes each, safe across threads."""

    def __init__(self, stream: TextIO, copy_to: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self._copy_to = copy_to
        self._lock = threading.Lock()

    def msg(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
        if self._copy_to is not None:
            self._copy_to(line)

    info = msg


class AuditLog:
    """Writes audit events to stdout, stderr, a file path, or a callable (tests, embedding)."""

    def __init__(
        self,
        sink: str | Path | TextIO | Callable[[str], None] = "stdout",
        *,
        copy_to: Callable[[str], None] | None = None,
    ) -> None:
        self._owned: TextIO | None = None
        self._copy_to = copy_to
        self._sink = self._writer(sink)  # opened now: a bad path fails at start, not mid-request
        self._log: Any = None

    def _logger(self) -> Any:
        """structlog, imported on the first record: commands that write none start faster."""
        if self._log is None:
            import structlog
            from structlog.processors import JSONRenderer, TimeStamper

            self._log = structlog.wrap_logger(
                self._sink,
                processors=[
                    TimeStamper(fmt="iso", utc=True, key="ts"),
                    _event_first,
                    _bounded,
                    JSONRenderer(sort_keys=False, default=str),
                ],
            )
        return self._log

    def _writer(self, sink: str | Path | TextIO | Callable[[str], None]) -> _LineWriter:
        if isinstance(sink, str | Path):
            if str(sink) in _STREAMS:
                return _LineWriter(_STREAMS[str(sink)](), self._copy_to)
            path = Path(sink)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._owned = path.open("a", encoding="utf-8")
            return _LineWriter(self._owned, self._copy_to)
        if isinstance(sink, TextIO) or hasattr(sink, "write"):
            return _LineWriter(cast(TextIO, sink), self._copy_to)
        return _LineWriter(_CallableStream(sink), self._copy_to)

    def emit(self, event: str, **fields: Any) -> None:
        """Write one record: ``{"ts": …, "event": event, **fields}``."""
        self._logger().info(event, **fields)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None


class _CallableStream(io.StringIO):
    """Hands each written line to a callable (tests, embedding in another logger)."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self._sink = sink

    def write(self, text: str) -> int:
        line = text.rstrip("\n")
        if line:
            self._sink(line)
        return len(text)


def _event_first(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """``ts`` and ``event`` lead each line, so the log reads and greps well."""
    head = {"ts": event.pop("ts"), "event": event.pop("event")}
    return head | dict(event)


def _bounded(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Every string of the record cut to ``MAX_TEXT`` characters, at any depth."""
    return {key: _cut(value) for key, value in event.items()}


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= MAX_TEXT:
            return value
        return f"{value[:MAX_TEXT]}…[{len(value) - MAX_TEXT} more characters]"
    if isinstance(value, Mapping):
        return {_cut(k): _cut(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v) for v in value]
    return value


_STREAMS: dict[str, Callable[[], TextIO]] = {
    "stdout": lambda: sys.stdout,
    "stderr": lambda: sys.stderr,
}
