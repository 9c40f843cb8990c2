"""The server's log lines: never message content, a raw user id or a provider's error text.

The audit log is the record of what happened to a request; the server's log is for the
operator, and it goes wherever stderr goes. So ``serve`` logs through ``SafeFormatter``:

- the router's own lines (``router.*``) and uvicorn's are written as they are: they are
  written to carry only request ids, route paths (``/v1/users/{user}/preferences``, never
  the user), statuses, provider slugs and failure kinds;
- any other library's line (litellm, httpx, asyncio, …) keeps its level, logger and the
  type of its exception, and withholds its message: litellm's messages quote provider
  errors, and providers echo request content;
- a traceback, from anyone, keeps its frames (file, line, function) and exception types,
  and withholds every exception's message, for the same reason.

``config()`` is uvicorn's logging configuration with this formatter everywhere, and a root
handler, so that no library's line reaches stderr through Python's last-resort handler. The
access log (``router.access``, a line per request) goes to stderr through ``TickHandler``: the
lines of one event-loop iteration are written together, in one write.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import traceback
from types import TracebackType
from typing import Any, Final

OWN: Final = ("router", "uvicorn")
WITHHELD: Final = "message withheld: it may quote a provider's error or a request"
FORMAT: Final = "%(levelname)s:  %(name)s: %(message)s"


class SafeFormatter(logging.Formatter):
    """Formats records without exception messages, and other libraries' without theirs."""

    def __init__(self, fmt: str = FORMAT, *_: Any, **__: Any) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith(OWN) and not (record.exc_info or record.stack_info):
            return super().format(record)  # nothing to withhold (the access log's every line)
        safe = copy.copy(record)
        if not record.name.startswith(OWN):
            safe.msg, safe.args = WITHHELD, None
        safe.exc_info, safe.exc_text, safe.stack_info = None, None, None
        line = super().format(safe)
        if record.exc_info and record.exc_info[1] is not None:
            line += "\n" + frames(record.exc_info[1])
        return line


def frames(exc: BaseException) -> str:
    """A traceback of ``exc`` and its causes: frames and exception types, no messages."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.insert(0, _one(current))
        current = current.__cause__ or current.__context__
    return "\n".join(out)


def _one(exc: BaseException) -> str:
    tb: TracebackType | None = exc.__traceback__
    lines = [
        f"  File {f.filename!r}, line {f.lineno}, in {f.name}" for f in traceback.extract_tb(tb)
    ]
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return "\n".join(["Traceback (exception messages withheld):", *lines, f"{kind}: [withheld]"])


def lean_records() -> None:
    """Records skip what no line of ``FORMAT`` prints (thread, process and multiprocessing
    names, and the caller's file, line and function: a walk up the stack for every record
    otherwise, ``logging._srcfile`` as logging's documentation says): ``serve`` owns its
    process's logging. A traceback keeps its frames (``frames``: from the exception)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class TickHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines of one event-loop iteration together.

    A line is formatted at once (as any handler does) and kept; the first line of an
    iteration asks the running loop to write them all in its next iteration (``call_soon``):
    one write and one flush for every request that ended in the same iteration, where a
    plain ``StreamHandler`` makes one of each per line. Lines keep their order. Outside a
    running loop (start-up, another thread) a line is written at once, with any kept before
    it; ``flush`` (logging's shutdown, at exit) writes what is kept."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._kept: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001  logging's own rule: a bad record is reported, not raised
            self.handleError(record)
            return
        self.keep(line)

    def keep(self, line: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Keep a formatted line (``emit``'s, or ``line_keeper``'s caller's) for the write.
        ``loop``: the loop running in this thread, if the caller has it (else asked: on 3.11
        ``get_running_loop`` is a getpid each time)."""
        self._kept.append(line + self.terminator)
        if self._scheduled:
            return
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()  # no loop in this thread: now
                return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock or _NO_LOCK:
            kept, self._kept, self._scheduled = self._kept, [], False
            if self.stream is None:
                return
            if kept:
                self.stream.write("".join(kept))
            if hasattr(self.stream, "flush"):
                self.stream.flush()


def line_keeper(logger: logging.Logger) -> TickHandler | None:
    """The handler that an INFO line of ``logger`` can be handed to as text (``keep``), when
    logging would do just that with its record: the logger is enabled for INFO, has no
    filters and does not propagate, and its one handler is a ``TickHandler`` at INFO or
    below, without filters, formatting with ``SafeFormatter``'s ``FORMAT`` (an own line:
    written as it is). The line is then ``f"INFO:  {logger.name}: {message}"``, built
    without a record, its handling and its formatting (the access log's line per request).
    None otherwise: log as usual."""
    if logger.propagate or logger.filters or len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    if type(handler) is not TickHandler or handler.filters or handler.level > logging.INFO:
        return None
    formatter = handler.formatter
    if type(formatter) is not SafeFormatter or formatter._fmt != FORMAT:
        return None
    return handler if logger.isEnabledFor(logging.INFO) else None


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


_NO_LOCK: Final = _NoLock()


def config() -> dict[str, Any]:
    """uvicorn's logging configuration, every handler formatting with ``SafeFormatter``."""
    from uvicorn.config import LOGGING_CONFIG

    out = copy.deepcopy(LOGGING_CONFIG)
    safe = {"()": f"{__name__}.SafeFormatter"}
    out["formatters"] = {"default": safe, "access": safe}
    out["handlers"]["lines"] = {
        "formatter": "default", "()": f"{__name__}.TickHandler", "stream": "ext://sys.stderr",
    }  # fmt: skip
    out["loggers"]["router"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    out["loggers"]["router.access"] = {
        "handlers": ["lines"], "level": "INFO", "propagate": False,
    }  # fmt: skip
    out["root"] = {"handlers": ["default"], "level": "WARNING"}
    return out
