"""Retention of the router's own records: rotated audit files past ``audit_retention`` are
dropped whole, each after a cut point in the checkpoint file, and ``audit verify`` still proves
the kept files complete and unedited, and says which retention is in force."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from router import ConfigError
from router._audit import AuditLog
from router._audit.verify import Report, verify
from router._config.settings import Settings
from router._core.duration import Duration
from tests._support.repo import REPO

KEY = b"audit-key-for-retention-0123456789"
DAY = 86400.0

pytestmark = pytest.mark.audit_free_form  # the writer's own tests: hand-made records


def _age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def _rotated_log(tmp_path: Path) -> tuple[Path, Path, AuditLog]:
    """Three files, oldest first: audit.jsonl.1 (three days old), audit.jsonl.2 (fresh), and
    audit.jsonl being written; the retention of one day drops the first at the next rotation."""
    path, points = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.checkpoints"
    log = AuditLog(path, key=KEY, checkpoint=points, retention=Duration.parse("1d"))
    for n in range(3):
        log.emit("preferences.changed", action="set", n=n)
    path.rename(tmp_path / "audit.jsonl.1")
    log.emit("preferences.changed", action="set", n=3)
    _age(tmp_path / "audit.jsonl.1", 3)
    _age(points, 3)  # the checkpoint file is never dropped, however old
    path.rename(tmp_path / "audit.jsonl.2")
    log.emit("preferences.changed", action="set", n=4)
    log.close()
    return path, points, log


def check(files: list[Path], points: Path | None) -> Report:
    given = [] if points is None else [points]
    return verify(files, key=KEY, policies=REPO / "policies", checkpoints=given)


def test_retention__drops_the_rotated_file_past_it_and_leaves_a_cut(tmp_path: Path) -> None:
    _, points, log = _rotated_log(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit.jsonl",
        "audit.jsonl.2",
        "audit.jsonl.checkpoints",
    ]
    cuts = [json.loads(line) for line in points.read_text().splitlines()]
    cut = next(c for c in cuts if c["event"] == "audit.cut")
    assert (cut["file"], cut["retention"]) == ("audit.jsonl.1", "24h")
    assert cut["writers"][log.writer]["seq"] == 3


def test_retention__verify_proves_the_kept_files_and_reports_the_retention(
    tmp_path: Path,
) -> None:
    path, points, _ = _rotated_log(tmp_path)
    found = check([tmp_path / "audit.jsonl.2", path], points)
    assert found.ok, found.to_dict()
    assert (found.retention, found.cuts, found.records) == ("24h", 1, 2)
    assert found.to_dict()["retention"] == "24h"


def test_retention__a_kept_file_missing_after_the_cut_is_found(tmp_path: Path) -> None:
    path, points, _ = _rotated_log(tmp_path)
    found = check([path], points)
    assert [b.reason for b in found.breaks] == [
        "writer's first record here is #5, but retention cut its records after #3: records #4 "
        "to #4 are missing"
    ]


def test_retention__without_a_cut_a_log_missing_its_first_file_is_found(tmp_path: Path) -> None:
    path, points = tmp_path / "audit.jsonl", tmp_path / "cp.jsonl"
    log = AuditLog(path, key=KEY, checkpoint=points)
    log.emit("preferences.changed", action="set")
    path.rename(tmp_path / "audit.jsonl.1")
    log.emit("preferences.changed", action="set")
    log.close()
    (tmp_path / "audit.jsonl.1").unlink()  # deleted by hand: no cut point says so
    found = check([path], points)
    assert [b.reason for b in found.breaks] == [
        "writer's first record here is #2: records #1 to #1 are missing, and no retention cut "
        "in the checkpoint files accounts for them"
    ]
    assert check([path], None).ok  # a file checked alone, without the checkpoint file


def test_retention__a_forged_cut_is_refused(tmp_path: Path) -> None:
    path, points, _ = _rotated_log(tmp_path)
    lines = points.read_text().splitlines()
    forged = [
        json.dumps(json.loads(line) | {"writers": {}}) if '"audit.cut"' in line else line
        for line in lines
    ]
    points.write_text("\n".join(forged) + "\n")
    found = check([tmp_path / "audit.jsonl.2", path], points)
    assert "checkpoint's mac does not match: forged or edited" in [b.reason for b in found.breaks]


def test_retention__keeps_files_that_are_not_rotated_audit_logs(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    other = tmp_path / "audit.jsonl.notes"
    other.write_text("not an audit record\n")
    _age(other, 30)
    log = AuditLog(path, key=KEY, checkpoint=tmp_path / "cp.jsonl", retention=Duration.parse("1d"))
    log.emit("preferences.changed", action="set")
    log.close()
    assert other.exists()


def test_retention__unset_keeps_every_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY, checkpoint=tmp_path / "cp.jsonl")
    log.emit("preferences.changed", action="set")
    path.rename(tmp_path / "audit.jsonl.1")
    _age(tmp_path / "audit.jsonl.1", 3650)
    log.emit("preferences.changed", action="set")
    log.close()
    assert (tmp_path / "audit.jsonl.1").exists()


def test_settings__audit_retention_is_a_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_AUDIT_RETENTION", "90d")
    assert Settings().audit_retention_duration() == Duration.parse("90d")
    monkeypatch.setenv("POLICY_ROUTER_AUDIT_RETENTION", "0")
    with pytest.raises(ConfigError, match=r"POLICY_ROUTER_AUDIT_RETENTION .*write 'none'"):
        Settings()
