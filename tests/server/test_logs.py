"""The server's log lines (router/_server/logs.py): the router's own as they are, every other
library's message and every exception's message withheld."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from router._server.envelope import _Exchange
from router._server.logs import (
    FORMAT,
    WITHHELD,
    SafeFormatter,
    TickHandler,
    config,
    lean_records,
    line_keeper,
)


def _record(
    name: str, message: str, *args: object, exc: BaseException | None = None
) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, info)


def _raised(text: str) -> BaseException:
    try:
        raise ValueError(text)
    except ValueError as exc:
        return exc


@pytest.mark.parametrize("name", ["router.access", "router.server", "uvicorn.error"])
def test_format__own_lines_are_written_as_they_are(name: str) -> None:
    record = _record(name, "%s %s %s", "POST", "/v1/chat/completions", 200)
    line = SafeFormatter().format(record)
    assert line == f"INFO:  {name}: POST /v1/chat/completions 200"
    assert line == logging.Formatter(FORMAT).format(
        _record(name, "%s %s %s", "POST", "/v1/chat/completions", 200)
    )


def test_format__another_librarys_message_is_withheld() -> None:
    line = SafeFormatter().format(_record("litellm", "provider said: %s", "secret content"))
    assert line == f"INFO:  litellm: {WITHHELD}"


@pytest.mark.parametrize("name", ["router.server", "litellm"])
def test_format__a_traceback_keeps_frames_and_withholds_the_message(name: str) -> None:
    record = _record(name, "request failed", exc=_raised("secret content"))
    line = SafeFormatter().format(record)
    assert "secret content" not in line
    assert "builtins.ValueError: [withheld]" in line
    assert "in _raised" in line
    assert record.exc_info is not None  # the record itself is left as it was


def test_lean_records__skip_thread_and_process_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, flag, True)  # restored after the test
    monkeypatch.setattr(logging, "_srcfile", logging._srcfile)
    lean_records()
    record = _record("router.access", "line")
    assert (record.thread, record.process, record.processName) == (None, None, None)
    logger = logging.getLogger("router.test_lean_records")
    seen: list[logging.LogRecord] = []
    monkeypatch.setattr(logger, "handle", seen.append)
    logger.warning("where")
    assert (seen[0].funcName, seen[0].lineno) == ("(unknown function)", 0)  # no stack walk
    assert SafeFormatter().format(record) == "INFO:  router.access: line"
    assert sys.modules["logging"].logThreads is False


class _Stream:
    """A stream that counts its writes and flushes."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        self.flushes += 1


def _tick_logger(stream: _Stream) -> tuple[logging.Logger, TickHandler]:
    handler = TickHandler(stream)
    handler.setFormatter(SafeFormatter())
    logger = logging.getLogger("router.access.test_tick")
    logger.handlers, logger.propagate, logger.filters = [handler], False, []
    logger.setLevel(logging.INFO)
    return logger, handler


def test_tick_handler__lines_of_one_loop_iteration_are_written_together_in_order() -> None:
    stream = _Stream()
    logger, _ = _tick_logger(stream)

    async def requests() -> list[str]:
        logger.info("%s %s", "POST", 1)
        logger.info("%s %s", "POST", 2)
        before = list(stream.writes)  # nothing written within the iteration
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        logger.info("POST 3")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(requests()) == []
    assert stream.writes == [
        "INFO:  router.access.test_tick: POST 1\nINFO:  router.access.test_tick: POST 2\n",
        "INFO:  router.access.test_tick: POST 3\n",
    ]
    assert stream.flushes == 2


def test_tick_handler__a_line_kept_with_the_callers_loop_waits_for_its_next_iteration() -> None:
    stream = _Stream()
    _, handler = _tick_logger(stream)

    async def request() -> list[str]:
        handler.keep("GET 1", asyncio.get_running_loop())  # the envelope's: its loop given
        handler.keep("GET 2", asyncio.get_running_loop())
        before = list(stream.writes)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before

    assert asyncio.run(request()) == []
    assert stream.writes == ["GET 1\nGET 2\n"]
    assert stream.flushes == 1


def test_tick_handler__outside_a_loop_a_line_is_written_at_once() -> None:
    stream = _Stream()
    logger, _ = _tick_logger(stream)
    logger.info("start-up")
    assert stream.writes == ["INFO:  router.access.test_tick: start-up\n"]


def test_tick_handler__flush_writes_what_is_kept() -> None:
    stream = _Stream()
    logger, handler = _tick_logger(stream)

    async def one() -> list[str]:
        logger.info("kept")
        before = list(stream.writes)
        handler.flush()  # what logging's shutdown does at exit
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the iteration's own write finds nothing left
        return before

    assert asyncio.run(one()) == []
    assert stream.writes == ["INFO:  router.access.test_tick: kept\n"]


def test_tick_handler__the_server_config_sends_access_lines_through_it() -> None:
    out = config()
    handler = out["handlers"][out["loggers"]["router.access"]["handlers"][0]]
    assert handler["()"].endswith(".TickHandler")
    assert out["formatters"][handler["formatter"]] == {"()": "router._server.logs.SafeFormatter"}
    assert handler["stream"] == "ext://sys.stderr"
    assert out["loggers"]["router.access"]["propagate"] is False


def _unlike(change: str, logger: logging.Logger, handler: TickHandler) -> None:
    """``logger`` made, one way, into one whose record logging would not hand on as is."""
    if change == "propagates":
        logger.propagate = True
    elif change == "a logger filter":
        logger.addFilter(lambda _record: True)
    elif change == "a second handler":
        logger.addHandler(logging.NullHandler())
    elif change == "a plain stream handler":
        logger.handlers = [logging.StreamHandler(_Stream())]  # type: ignore[arg-type]
    elif change == "a handler filter":
        handler.addFilter(lambda _record: True)
    elif change == "a handler level above INFO":
        handler.setLevel(logging.WARNING)
    elif change == "another formatter":
        handler.setFormatter(logging.Formatter(FORMAT))
    elif change == "another format":
        handler.setFormatter(SafeFormatter("%(message)s"))
        handler.formatter._fmt = "%(message)s"  # type: ignore[union-attr]
    elif change == "a logger level above INFO":
        logger.setLevel(logging.WARNING)


UNLIKE = (
    "propagates", "a logger filter", "a second handler", "a plain stream handler",
    "a handler filter", "a handler level above INFO", "another formatter", "another format",
    "a logger level above INFO",
)  # fmt: skip


@pytest.mark.parametrize("change", UNLIKE)
def test_line_keeper__only_where_logging_would_hand_the_line_on_as_is(change: str) -> None:
    logger, handler = _tick_logger(_Stream())
    assert line_keeper(logger) is handler
    _unlike(change, logger, handler)
    assert line_keeper(logger) is None


@pytest.mark.parametrize("change", ["", *UNLIKE[:1]])
def test_access_line__kept_as_text_is_the_line_logging_writes(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _Stream()
    handler = TickHandler(stream)
    handler.setFormatter(SafeFormatter())
    access = logging.getLogger("router.access")
    for name, value in (("handlers", [handler]), ("propagate", False), ("filters", [])):
        monkeypatch.setattr(access, name, value)
    level = access.level
    access.setLevel(logging.INFO)
    _unlike(change, access, handler)
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions",
             "headers": [(b"x-request-id", b"req-1")]}  # fmt: skip
    exchange = _Exchange(scope, None)  # type: ignore[arg-type]
    exchange.status = 200
    monkeypatch.setattr(exchange, "started", exchange.started + 1)  # a negative, fixed 1000 ms

    try:
        exchange.log()
        handler.flush()
    finally:
        access.setLevel(level)

    assert stream.writes == ["INFO:  router.access: POST <no route> 200 -1000ms request_id=req-1\n"]
