"""AuditLog: one JSON object per line, ``ts`` and ``event`` first, to each kind of sink."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router._audit import AuditLog
from router._core.duration import Duration

# Hand-made records test the writer and the verifier, not the router's schema.
pytestmark = pytest.mark.audit_free_form

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")


def test_emit__one_line_with_ts_and_event_first_then_the_fields_in_order() -> None:
    lines: list[str] = []
    AuditLog(lines.append).emit("route.attempt", request_id="r1", provider="groq", attempt=1)
    (line,) = lines
    record = json.loads(line)
    assert list(record)[:5] == ["ts", "event", "request_id", "provider", "attempt"]
    assert list(record)[5:] == ["writer", "seq", "prev", "chain"]  # the chain's, last
    assert (record["event"], record["request_id"], record["attempt"]) == ("route.attempt", "r1", 1)
    assert TIMESTAMP.match(record["ts"])
    stamped = datetime.fromisoformat(record["ts"])
    assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=1)


def test_emit__values_json_cannot_hold_are_written_as_text() -> None:
    lines: list[str] = []
    AuditLog(lines.append).emit("x", retention=Duration.parse("24h"), path=Path("/a/b"))
    record = json.loads(lines[0])
    assert (record["retention"], record["path"]) == ("24h", "/a/b")


def test_file_sink__creates_its_directory_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    first = AuditLog(path)
    first.emit("one")
    first.close()
    second = AuditLog(str(path))
    second.emit("two")
    second.close()
    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == ["one", "two"]


def test_file_sink__each_record_is_on_disk_before_emit_returns(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.emit("flushed")
    assert json.loads(path.read_text())["event"] == "flushed"
    log.close()
    log.close()  # closing twice is harmless


def test_file_sink__a_path_that_cannot_be_opened_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(OSError, match="not-a-directory"):
        AuditLog(blocker / "audit.jsonl")


def test_stream_sink__whole_lines_to_the_stream() -> None:
    stream = io.StringIO()
    log = AuditLog(stream)
    log.emit("a", n=1)
    log.emit("b", n=2)
    lines = stream.getvalue().splitlines(keepends=True)
    assert [json.loads(line)["event"] for line in lines] == ["a", "b"]
    assert all(line.endswith("}\n") for line in lines)


@pytest.mark.parametrize("name", ["stdout", "stderr"])
def test_named_streams(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    AuditLog(name).emit("to.stream")
    captured = capsys.readouterr()
    written, other = (
        (captured.out, captured.err) if name == "stdout" else (captured.err, captured.out)
    )
    assert json.loads(written)["event"] == "to.stream"
    assert other == ""


def test_copy_to__gets_every_line_the_sink_gets() -> None:
    stream = io.StringIO()
    copies: list[str] = []
    log = AuditLog(stream, copy_to=copies.append)
    log.emit("a")
    log.emit("b")
    assert copies == stream.getvalue().splitlines()


def test_emit__from_many_threads_never_interleaves_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def write(worker: int) -> None:
        for n in range(200):
            log.emit("route.attempt", worker=worker, n=n, padding="x" * 200)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 8 * 200
    assert {(r["worker"], r["n"]) for r in records} == {
        (w, n) for w in range(8) for n in range(200)
    }


def test_file_sink__a_short_write_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.write may write part of a line (a signal, a full disk freeing up): the rest follows,
    so the line is whole."""
    import os

    from router._audit import sink

    path = tmp_path / "audit.jsonl"
    out = sink.FileSink(path)
    real = os.write
    monkeypatch.setattr(sink.os, "write", lambda fd, data: real(fd, bytes(data)[:3]))
    out.write(b'{"event":"x"}\n')
    monkeypatch.setattr(sink.os, "write", real)
    out.write(b'{"event":"y"}\n')
    out.close()
    assert path.read_bytes() == b'{"event":"x"}\n{"event":"y"}\n'
