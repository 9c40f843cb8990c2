"""Where audit lines go: a file (reopened after rotation), a stream, or a callable.

``prepare()`` runs before each line under the writer's lock and says whether the sink has just
opened a new file (the writer then names the chain value it continues from, see ``chain.py``).

The file sink behaves like logging's ``WatchedFileHandler``: before each line it compares the
path's ``st_dev``/``st_ino`` with the open file's, and reopens the path when the file was
renamed or removed (logrotate with ``create``), or when SIGHUP asked for it. Lines are appended
with one ``os.write`` each on an ``O_APPEND`` descriptor: no buffer to lose, whole lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TextIO

STREAMS = ("stdout", "stderr")


class Sink(Protocol):
    def prepare(self) -> bool: ...
    def write(self, line: bytes) -> None: ...
    def close(self) -> None: ...


class FileSink:
    """Appends lines to a path; reopens it when it was renamed, removed, or ``reopen()`` asked."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._where = str(path)
        self._fd = -1
        self._identity: tuple[int, int] | None = None
        self._reopen_requested = False
        self._open()  # now: a bad path fails at start, not mid-request

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        info = os.fstat(fd)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._identity = fd, (info.st_dev, info.st_ino)

    def reopen(self) -> None:
        """Ask for the path to be reopened before the next line (safe in a signal handler)."""
        self._reopen_requested = True

    def prepare(self) -> bool:
        if not self._reopen_requested:
            try:
                info = os.stat(self._where)  # noqa: PTH116 (once per line: a str path is cheaper)
                if (info.st_dev, info.st_ino) == self._identity:
                    return False
            except FileNotFoundError:
                pass
        self._reopen_requested = False
        self._open()
        return True

    def write(self, line: bytes) -> None:
        written = os.write(self._fd, line)  # the whole line, but for a short write
        if written < len(line):
            view = memoryview(line)[written:]
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class StreamSink:
    """Writes lines to a text stream (stdout, stderr, an open file) and flushes each."""

    def __init__(self, stream: TextIO | Callable[[], TextIO]) -> None:
        self._stream = stream

    def prepare(self) -> bool:
        return False

    def write(self, line: bytes) -> None:
        stream = self._stream() if callable(self._stream) else self._stream
        stream.write(line.decode())
        stream.flush()

    def close(self) -> None:
        """The stream belongs to whoever passed it."""


class CallableSink:
    """Hands each line, without its newline, to a callable (tests, embedding in another logger)."""

    def __init__(self, target: Callable[[str], None]) -> None:
        self._target = target

    def prepare(self) -> bool:
        return False

    def write(self, line: bytes) -> None:
        self._target(line.decode().rstrip("\n"))

    def close(self) -> None:
        """Nothing to close."""


def open_sink(target: str | Path | TextIO | Callable[[str], None]) -> Sink:
    """``stdout``, ``stderr``, a file path, an open text stream, or a callable taking a line."""
    if isinstance(target, str | Path):
        if str(target) == "stdout":
            return StreamSink(lambda: sys.stdout)  # looked up per line: pytest swaps it
        if str(target) == "stderr":
            return StreamSink(lambda: sys.stderr)
        return FileSink(target)
    if hasattr(target, "write"):
        return StreamSink(target)  # type: ignore[arg-type]
    return CallableSink(target)
