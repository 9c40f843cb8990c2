"""``audit verify``: does the chain hold, and did every request go where its catalog allowed?

Three checks over the records of one or more files, read in the order given (oldest first):

- the chain (``chain.py``): per writer, every record's ``seq`` follows the previous one and its
  ``chain`` value is the HMAC of the previous value and its own bytes; a writer's first record
  in the files given names the value it continues from (``prev``). The first broken record is
  located by file and line.
- checkpoints (from ``--checkpoint`` files, and any found inline): each proves that its
  writer's chain reached ``seq`` records at ``head``; a log that ends earlier was truncated.
  With checkpoint files, every writer must have announced itself there (``audit.writer``): a
  chain from a writer never announced is foreign, even under the same key; and each writer's
  first record must be its #1 or follow the point where retention cut its older records
  (``audit.cut``): records missing before the files given are found too.
- the policy (``policy.py``): each decision recomputed from the inputs it records, each attempt
  and refusal against its decision and the catalog version it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from router._audit import chain
from router._audit.policy import PolicyCheck, Violation
from router._audit.records import Chained, Checkpoint, Line, read


@dataclass(frozen=True, slots=True)
class Break:
    """A place where the chain does not hold."""

    file: str
    line: int
    writer: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "writer": self.writer, "reason": self.reason}


@dataclass(slots=True)
class _Writer:
    seq: int
    head: str
    file: str
    line: int
    first: Line


@dataclass
class Sources:
    """What the checkpoint files say beyond checkpoints: the writers announced, the facts they
    announced (operator policies by hash, the retention), and the retention cuts per writer."""

    given: bool = False  # checkpoint files were given: announcements and starts are checked
    announced: set[str] = field(default_factory=set)
    operator_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    retention: str | None = None
    cuts: dict[str, tuple[int, str]] = field(default_factory=dict)  # writer -> (seq, head)

    def announce(self, point: dict[str, Any]) -> None:
        self.announced.add(str(point.get("writer")))
        policy, digest = point.get("operator_policy"), point.get("operator_policy_hash")
        if isinstance(policy, dict) and isinstance(digest, str):
            self.operator_policies[digest] = policy
        if isinstance(point.get("retention"), str):
            self.retention = point["retention"]

    def cut(self, point: dict[str, Any]) -> None:
        if isinstance(point.get("retention"), str):
            self.retention = point["retention"]
        writers = point.get("writers")
        for writer, end in (writers if isinstance(writers, dict) else {}).items():
            seq, head = (end.get("seq"), end.get("head")) if isinstance(end, dict) else (0, 0)
            if not (isinstance(seq, int) and isinstance(head, str)):
                continue
            if seq > self.cuts.get(writer, (0, ""))[0]:
                self.cuts[writer] = (seq, head)


@dataclass
class Report:
    """What verification found. ``ok``: the chain holds and no record violates its catalog."""

    files: list[str]
    records: int = 0
    writers: int = 0
    checkpoints: int = 0
    decisions: int = 0
    attempts: int = 0
    refusals: int = 0
    retention: str | None = None
    cuts: int = 0
    announcements_checked: bool = False
    stored_preferences_unseen: int = 0
    breaks: list[Break] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks and not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "records": self.records,
            "writers": self.writers,
            "checkpoints": self.checkpoints,
            "decisions_checked": self.decisions,
            "attempts_checked": self.attempts,
            "refusals_checked": self.refusals,
            "writers_announced_checked": self.announcements_checked,
            "retention": self.retention,
            "retention_cuts": self.cuts,
            "decisions_with_stored_preferences_not_in_the_files": self.stored_preferences_unseen,
            "first_break": self.breaks[0].to_dict() if self.breaks else None,
            "breaks": [b.to_dict() for b in self.breaks],
            "violations": [v.to_dict() for v in self.violations],
        }


class ChainCheck:
    """Follows each writer's chain through the records, in file order."""

    def __init__(self, key: bytes, report: Report, sources: Sources | None = None) -> None:
        self._signer = chain.Signer(key)
        self._report = report
        self._sources = sources or Sources()
        self.writers: dict[str, _Writer] = {}

    def add(self, line: Line, record: dict[str, Any]) -> None:
        """Check one record; its ``chain`` field is taken out (the rest is what was hashed)."""
        value = record.pop("chain", None)
        chained = cast(Chained, record)
        writer, seq = chained.get("writer"), chained.get("seq")
        if not isinstance(writer, str) or not isinstance(seq, int) or not isinstance(value, str):
            self._break(line, None, "record without chain fields (writer, seq, chain): inserted?")
            return
        state = self.writers.get(writer)
        if state is not None and seq == state.seq + 1 and "prev" not in chained:
            prev: str | None = state.head  # the common case, kept short
        else:
            prev = self._start(line, record, writer, seq, state)
        if prev is not None and not self._holds(line, record, prev, value):
            self._break(line, writer, "chain value does not match: the record was edited (or the key differs)")  # fmt: skip
        if state is None:
            self.writers[writer] = _Writer(seq, value, line.file, line.number, line)
        else:
            state.seq, state.head, state.file, state.line = seq, value, line.file, line.number
        record["chain"] = value

    def _holds(self, line: Line, record: dict[str, Any], prev: str, value: str) -> bool:
        """The line as read, or else as re-encoded (a shipper may have changed its spacing).

        Plain comparisons: verification is offline, no one can time it."""
        body = chain.unsealed(line.raw)
        if body is not None and self._signer.link(prev, body) == value:
            return True
        return self._signer.link(prev, chain.canonical(record)) == value

    def _start(
        self, line: Line, record: dict[str, Any], writer: str, seq: int, state: _Writer | None
    ) -> str | None:
        """The chain value this record follows; ``None`` (after reporting) when it cannot say."""
        named = cast(Chained, record).get("prev")
        if state is None:
            if not isinstance(named, str):
                self._break(
                    line, writer, f"writer's first record here is #{seq} and names no 'prev': "
                    "the records before it are missing"
                )  # fmt: skip
                return None
            if seq == 1 and named != chain.GENESIS:
                self._break(line, writer, "record #1 does not start from the genesis value")
            elif seq > 1:
                self._resumes(line, writer, seq, named)
            return named
        if seq != state.seq + 1:
            what = "missing" if seq > state.seq + 1 else "repeated or out of order"
            self._break(
                line, writer,
                f"record #{seq} follows #{state.seq} ({state.file}:{state.line}): records {what}",
            )  # fmt: skip
            return None
        if named is not None and named != state.head:
            self._break(line, writer, "'prev' is not the chain value of the writer's last record")
            return None
        return state.head

    def _resumes(self, line: Line, writer: str, seq: int, named: str) -> None:
        """With checkpoint files, a writer's first record here is #1 or follows its cut."""
        if not self._sources.given:
            return
        cut = self._sources.cuts.get(writer)
        if cut is None:
            self._break(
                line, writer, f"writer's first record here is #{seq}: records #1 to #{seq - 1} "
                "are missing, and no retention cut in the checkpoint files accounts for them",
            )  # fmt: skip
        elif cut[0] < seq - 1:
            self._break(
                line, writer, f"writer's first record here is #{seq}, but retention cut its "
                f"records after #{cut[0]}: records #{cut[0] + 1} to #{seq - 1} are missing",
            )  # fmt: skip
        elif cut[0] == seq - 1 and not chain.same(cut[1], named):
            self._break(line, writer, "'prev' is not the chain value where retention cut")

    def foreign(self) -> None:
        """With checkpoint files, a writer never announced there wrote a foreign chain."""
        if not self._sources.given:
            return
        for writer, state in self.writers.items():
            if writer not in self._sources.announced:
                self._break(
                    state.first, writer, "foreign chain: this writer never announced itself in "
                    "the checkpoint files (records added by someone else, key or not)",
                )  # fmt: skip

    def _break(self, line: Line, writer: str | None, reason: str) -> None:
        self._report.breaks.append(Break(line.file, line.number, writer, reason))


class Checkpoints:
    """Checkpoints read so far; each checked against the chain once the logs are read."""

    def __init__(self, key: bytes, report: Report, sources: Sources) -> None:
        self._key = key
        self._report = report
        self.sources = sources
        self._points: list[tuple[Line, dict[str, Any]]] = []
        self.heads: dict[tuple[str, int], str] = {}  # (writer, seq) -> head, to meet in the logs

    def add(
        self, line: Line, point: dict[str, Any], seen: dict[str, _Writer] | None = None
    ) -> None:
        """A checkpoint; ``seen``: the writers read so far (for one found inline in a log)."""
        checkpoint = cast(Checkpoint, point)
        mac = checkpoint.get("mac")
        writer, seq, head = checkpoint.get("writer"), checkpoint.get("seq"), checkpoint.get("head")
        if not isinstance(mac, str) or not chain.same(chain.checkpoint_mac(self._key, point), mac):
            self._report.breaks.append(
                Break(line.file, line.number, None, "checkpoint's mac does not match: forged or edited")
            )  # fmt: skip
            return
        if point.get("event") == chain.WRITER_EVENT:
            self.sources.announce(point)
            return
        if point.get("event") == chain.CUT_EVENT:
            self.sources.cut(point)
            self._report.cuts += 1
            return
        if isinstance(writer, str) and isinstance(seq, int) and isinstance(head, str):
            self._report.checkpoints += 1
            state = (seen or {}).get(writer)
            if state is not None and state.seq >= seq:  # inline, after the records it counts
                if state.seq == seq and not chain.same(head, state.head):
                    self._report.breaks.append(
                        Break(line.file, line.number, writer, "checkpoint's head differs from the chain")
                    )  # fmt: skip
                return
            self._points.append((line, point))
            self.heads[(writer, seq)] = head

    def meet(self, line: Line, record: dict[str, Any]) -> None:
        """A log record named by a checkpoint must carry the head the checkpoint saw."""
        if not self.heads:
            return
        chained = cast(Chained, record)
        head = self.heads.pop((chained.get("writer"), chained.get("seq")), None)
        if head is not None and not chain.same(head, chained.get("chain")):
            self._report.breaks.append(
                Break(line.file, line.number, chained.get("writer"), "record differs from the one a checkpoint saw")
            )  # fmt: skip

    def finish(self, writers: dict[str, _Writer]) -> None:
        """Checkpoints never met: the log ends before them, or lost that writer entirely."""
        for line, point in self._points:
            checkpoint = cast(Checkpoint, point)
            writer, seq = checkpoint["writer"], checkpoint["seq"]
            if (writer, seq) not in self.heads:
                continue
            last = writers.get(writer)
            where = (
                f"the files given end at #{last.seq} ({last.file}:{last.line})"
                if last
                else "the files given hold none of its records"
            )
            if last is None or last.seq < seq:
                self._report.breaks.append(
                    Break(line.file, line.number, writer,
                          f"truncated: a checkpoint at {checkpoint.get('ts')} counts {seq} records of writer {writer}; {where}")
                )  # fmt: skip


def verify(
    files: Iterable[str | Path],
    *,
    key: bytes,
    policies: Path,
    checkpoints: Iterable[str | Path] = (),
    operator_policies: Iterable[Mapping[str, Any]] = (),
) -> Report:
    """Check the chain, the checkpoints and the policy of every record in ``files``.

    ``operator_policies``: operator policies (preference fields) the verifier knows besides
    those the writers announced (``audit verify`` passes its own settings' ``org``)."""
    names = [str(f) for f in files]
    report = Report(files=names)
    sources = Sources()
    points = Checkpoints(key, report, sources)
    for line in read(checkpoints):
        sources.given = True
        if line.record is not None and line.record.get("event") in chain.SINK_EVENTS:
            points.add(line, line.record)
    chained = ChainCheck(key, report, sources)
    policy = PolicyCheck(policies, report.violations, sources.operator_policies)
    for policy_fields in operator_policies:
        policy.inputs.know_operator_policy(policy_fields)
    for line in read(names):
        record = line.record
        if record is None:
            report.breaks.append(Break(line.file, line.number, None, "not a JSON audit record"))
            continue
        if record.get("event") in chain.SINK_EVENTS:
            points.add(line, record, chained.writers)
            continue
        report.records += 1
        chained.add(line, record)
        points.meet(line, record)
        policy.add(line, record)
    points.finish(chained.writers)
    chained.foreign()
    report.writers = len(chained.writers)
    report.decisions, report.attempts = policy.decisions_checked, policy.attempts_checked
    report.refusals = policy.refusals_checked
    report.stored_preferences_unseen = policy.stored_unseen
    report.retention, report.announcements_checked = sources.retention, sources.given
    return report
