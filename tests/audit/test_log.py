"""The audit writer: chained records per writer, checkpoints, the keys, rotation of the file."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router._audit import AuditLog
from router._audit.chain import (
    CHECKPOINT_EVENT,
    GENESIS,
    Signer,
    canonical,
    checkpoint_mac,
    link,
    record_chain,
)
from router._config.keyfile import audit_key, load_or_create_key, pseudonym_key
from router._config.settings import Settings

# Hand-made records test the writer and the verifier, not the router's schema.
pytestmark = pytest.mark.audit_free_form

KEY = b"k" * 32


def parse(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def test_emit__each_record_chains_to_the_writers_previous_one() -> None:
    lines: list[str] = []
    log = AuditLog(lines.append, key=KEY)
    for n in range(3):
        log.emit("route.decision", request_id=f"r{n}", model="kimi-k2")
    records = parse(lines)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert {r["writer"] for r in records} == {log.writer}
    assert records[0]["prev"] == GENESIS
    assert all("prev" not in r for r in records[1:])
    prev = GENESIS
    for record in records:
        assert record["chain"] == record_chain(KEY, prev, record)
        prev = record["chain"]
    assert list(records[0])[:2] == ["ts", "event"]


@pytest.mark.parametrize("body", [b"{}", b'{"a":"\xc3\xa9"}', b"x" * 1000])
def test_signer__links_as_the_one_shot_hmac_does_again_and_again(body: bytes) -> None:
    """The keyed state copied per record (OpenSSL's object) gives ``link``'s value every time:
    a copy never carries one record's bytes into the next."""
    signer = Signer(KEY)
    for prev in (GENESIS, "a" * 64, GENESIS):
        assert signer.link(prev, body) == link(KEY, prev, body)


def test_emit__chain_depends_on_the_key() -> None:
    lines: list[str] = []
    AuditLog(lines.append, key=KEY).emit("route.decision", request_id="r")
    record = json.loads(lines[0])
    assert record["chain"] != record_chain(b"other", GENESIS, record)


def test_emit__two_logs_write_two_chains() -> None:
    lines: list[str] = []
    first, second = AuditLog(lines.append, key=KEY), AuditLog(lines.append, key=KEY)
    first.emit("a")
    second.emit("b")
    first.emit("c")
    records = parse(lines)
    assert records[0]["writer"] == records[2]["writer"] != records[1]["writer"]
    assert [r["seq"] for r in records] == [1, 1, 2]


def test_checkpoints__every_n_records_and_at_close() -> None:
    lines: list[str] = []
    points: list[str] = []
    log = AuditLog(lines.append, key=KEY, checkpoint=points.append, checkpoint_every=2)
    for _ in range(3):
        log.emit("route.decision")
    log.close()
    announcement, *checkpoints = parse(points)
    records = parse(lines)
    assert (announcement["event"], announcement["writer"]) == ("audit.writer", log.writer)
    assert [(c["seq"], c["head"]) for c in checkpoints] == [
        (2, records[1]["chain"]),
        (3, records[2]["chain"]),
    ]
    assert all(c["event"] == CHECKPOINT_EVENT and c["writer"] == log.writer for c in checkpoints)
    assert all(c["mac"] == checkpoint_mac(KEY, c) for c in (announcement, *checkpoints))


def test_checkpoints__after_the_interval_in_seconds() -> None:
    points: list[str] = []
    log = AuditLog(lambda _: None, key=KEY, checkpoint=points.append, checkpoint_seconds=1e-9)
    log.emit("a")
    log.emit("b")
    assert [json.loads(p).get("seq") for p in points] == [None, 1, 2]  # announced, then two


def test_from_settings__creates_a_private_audit_key_apart_from_the_pseudonym_key(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = audit_key(settings)
    path = tmp_path / "data" / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key == audit_key(settings) == bytes.fromhex(path.read_text())
    assert key != pseudonym_key(settings)
    assert {p.name for p in path.parent.iterdir()} == {"audit.key", "pseudonym.key"}
    assert audit_key(Settings(audit_key="configured-audit-key-0123456789a")) == (
        b"configured-audit-key-0123456789a"
    )


def test_load_or_create_key__keeps_the_key_another_process_created_first(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text("ab" * 32)
    assert load_or_create_key(path) == bytes.fromhex("ab" * 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key"]


def test_from_settings__file_sink_and_checkpoint_file(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        audit=str(tmp_path / "audit.jsonl"),
        audit_checkpoint=str(tmp_path / "checkpoints.jsonl"),
    )
    log = AuditLog.from_settings(settings)
    log.emit("route.decision", request_id="r1")
    log.close()
    record = json.loads((tmp_path / "audit.jsonl").read_text())
    announced, point = map(json.loads, (tmp_path / "checkpoints.jsonl").read_text().splitlines())
    key = audit_key(settings)
    assert record["chain"] == record_chain(key, GENESIS, record)
    assert announced["writer"] == record["writer"]
    assert (point["seq"], point["head"]) == (1, record["chain"])


# -- rotation -----------------------------------------------------------------------------


@pytest.mark.parametrize("create", [True, False], ids=["logrotate-create", "rename-only"])
def test_file_sink__rename_mid_stream_reopens_the_path_and_the_chain_continues(
    tmp_path: Path, create: bool
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.emit("a")
    log.emit("b")
    path.rename(tmp_path / "audit.jsonl.1")
    if create:  # logrotate's `create`: a new empty file at the path
        path.touch(mode=0o640)
    log.emit("c")
    log.emit("d")
    log.close()
    old = parse((tmp_path / "audit.jsonl.1").read_text().splitlines())
    new = parse(path.read_text().splitlines())
    assert [r["event"] for r in old] == ["a", "b"]
    assert [r["event"] for r in new] == ["c", "d"]
    assert new[0]["prev"] == old[-1]["chain"]
    assert new[0]["chain"] == record_chain(KEY, old[-1]["chain"], new[0])
    assert "prev" not in new[1]


def test_file_sink__removed_file_is_recreated(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.emit("a")
    path.unlink()
    log.emit("b")
    log.close()
    assert [r["event"] for r in parse(path.read_text().splitlines())] == ["b"]


def test_file_sink__sighup_reopens_the_path(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    before = signal.getsignal(signal.SIGHUP)
    log = AuditLog(path, key=KEY)
    try:
        assert signal.getsignal(signal.SIGHUP) is not before  # or SIGHUP would end pytest
        log.emit("a")
        # copytruncate-style tools keep the inode; SIGHUP still makes a fresh start visible
        os.kill(os.getpid(), signal.SIGHUP)
        log.emit("b")
    finally:
        log.close()
    records = parse(path.read_text().splitlines())
    assert records[1]["prev"] == records[0]["chain"]
    assert signal.getsignal(signal.SIGHUP) is before


def test_file_sink__bad_path_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"Not a directory|File exists"):
        AuditLog(tmp_path / "file" / "audit.jsonl")


def test_fork__the_child_writes_its_own_chain(tmp_path: Path) -> None:
    from router._audit.verify import verify
    from tests._support.repo import REPO

    path, points = tmp_path / "audit.jsonl", tmp_path / "checkpoints.jsonl"
    log = AuditLog(path, key=KEY, checkpoint=points)
    log.announce(operator_policy={}, operator_policy_hash="44136fa355b3678a")
    log.emit("a")
    pid = os.fork()
    if pid == 0:  # the child: one record, then out without running pytest's cleanup
        log.emit("child")
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    log.emit("b")
    log.close()
    records = parse(path.read_text().splitlines())
    child = next(r for r in records if r["event"] == "child")
    assert (child["seq"], child["prev"]) == (1, GENESIS)
    assert child["writer"] != log.writer
    assert verify([path], key=KEY, policies=REPO / "policies").ok
    announced = [json.loads(p) for p in points.read_text().splitlines()]
    child_announced = next(p for p in announced if p["writer"] == child["writer"])
    assert child_announced["operator_policy_hash"] == "44136fa355b3678a"  # the facts carry over
    assert verify([path], key=KEY, policies=REPO / "policies", checkpoints=[points]).ok


# --- strings cut to MAX_TEXT, at any depth ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Point:
    x: int


def _as_before(record: dict[str, Any]) -> bytes:
    """The record's bytes as every field was cut before it was rendered (the rule itself)."""
    from router._audit.log import _cut

    return canonical(
        {k: v if k in {"writer", "seq", "prev"} else _cut(v) for k, v in record.items()}
    )


LONG = "x" * 600
_VALUES = [
    pytest.param("short", id="a short string"),
    pytest.param(LONG, id="a long string"),
    pytest.param({"nested": [{"deeper": LONG}]}, id="a long string deep inside"),
    pytest.param({LONG: 1}, id="a long key"),
    pytest.param('"' * 600, id="a long string of quotes: escapes, no long run"),
    pytest.param("a\\" * 300, id="backslashes"),
    pytest.param("é" * 300, id="600 bytes, 300 characters: not cut"),
    pytest.param("😀" * 513, id="513 characters of 4 bytes each: cut"),
    pytest.param("x" * 512, id="exactly the limit: not cut"),
    pytest.param("x" * 513, id="one over the limit: cut"),
    pytest.param(("a", LONG), id="a tuple"),
    pytest.param(list(range(300)), id="a long run of digits that is no string"),
    pytest.param(types.MappingProxyType({"a": LONG}), id="a mapping that is no dict"),
    pytest.param(_Point(1), id="a dataclass: rendered as text"),
    pytest.param({1: "int key"}, id="a key that is no string"),
]


@pytest.mark.parametrize("value", _VALUES)
def test_emit__strings_are_cut_as_the_rule_says_whatever_the_path(value: Any) -> None:
    from router._audit.log import _canonical_cut

    record = {"ts": "2026-01-01T00:00:00.000000Z", "event": "route.decision", "field": value,
              "writer": "0123456789abcdef", "seq": 1}  # fmt: skip
    assert _canonical_cut(record) == _as_before(record)


def test_emit__a_long_string_is_cut_with_its_count() -> None:
    lines: list[str] = []
    AuditLog(lines.append, key=KEY).emit("route.refused", detail={"why": ["y" * 1000]})
    (record,) = parse(lines)
    assert record["detail"] == {"why": ["y" * 512 + "…[488 more characters]"]}


@pytest.mark.parametrize(
    "ns",
    [0, 1, 999, 1_000, 999_999_999, 1_000_000_000, 1_765_127_093_000_001_000,
     1_765_127_093_999_999_999, 4_102_444_799_999_999_000, 951_782_400_123_456_789],
    ids=["epoch", "one ns", "under a microsecond", "one microsecond", "last ns of a second",
         "next second", "a microsecond into a second", "last microsecond of a second",
         "the last second of 2099", "a leap day"],
)  # fmt: skip
def test_timestamp__is_datetimes_isoformat_with_microseconds_and_z(ns: int) -> None:
    import datetime as dt

    from router._audit.log import _timestamp

    seconds, rest = divmod(ns, 1_000_000_000)
    expected = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)
    text = expected.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert _timestamp(ns) == text
    assert _timestamp(ns) == text  # the second's part from the cache, the same


@given(
    st.lists(
        st.one_of(
            st.sampled_from([b'"', b"{", b"x", b"\\"]), st.integers(0, 700).map(lambda n: b"y" * n)
        ),
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_long_run__finds_what_the_search_from_every_byte_finds(parts: list[bytes]) -> None:
    """A run of more than MAX_TEXT bytes without a quote is found (a block without a quote,
    then the pattern) exactly when the pattern alone finds one."""
    import re

    from router._audit.log import MAX_TEXT, _long_run

    body = b"".join(parts)
    assert _long_run(body) == (re.search(b'[^"]{%d,}' % (MAX_TEXT + 1), body) is not None)
