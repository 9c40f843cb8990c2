"""logrotate with ``create`` against a writing process: rename, new file, SIGHUP. Nothing is
lost, and the chain continues from the old file into the new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from router._audit.verify import verify
from tests._support.repo import REPO

KEY = "rotation-test-key-0123456789abcd"
RECORDS = 400
WRITER = f"""
import sys, time
from router._audit import AuditLog
log = AuditLog(sys.argv[1], key={KEY!r}.encode(), checkpoint=sys.argv[2], checkpoint_every=50)
for n in range({RECORDS}):
    log.emit("preferences.changed", action="set", n=n)
    time.sleep(0.002)
log.close()
"""


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_rotation__rename_create_and_sighup_lose_nothing_and_the_chain_continues(
    tmp_path: Path,
) -> None:
    path, points = tmp_path / "audit.jsonl", tmp_path / "checkpoints.jsonl"
    rotated = tmp_path / "audit.jsonl.1"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(points)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while _lines(path) < 100 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.01)
        assert _lines(path) >= 100, "the writer did not start writing"
        path.rename(rotated)  # what logrotate does, then `create`, then its postrotate: SIGHUP
        path.touch(mode=0o640)
        os.kill(writer.pid, signal.SIGHUP)
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    old = [json.loads(line) for line in rotated.read_text().splitlines()]
    new = [json.loads(line) for line in path.read_text().splitlines()]
    assert old
    assert new
    assert [r["n"] for r in old + new] == list(range(RECORDS))
    assert [r["seq"] for r in old + new] == list(range(1, RECORDS + 1))
    assert new[0]["prev"] == old[-1]["chain"]
    found = verify(
        [rotated, path], key=KEY.encode(), policies=REPO / "policies", checkpoints=[points]
    )
    assert found.ok, found.to_dict()
    assert found.records == RECORDS
    assert found.checkpoints >= RECORDS // 50
