"""The audit log: one JSON object per line, each chained to the writer's previous one.

Events: ``route.decision``, ``route.attempt``, ``route.refused``, ``preferences.changed``,
``catalog.loaded`` (a reload: old and new label and hash), and
``audit.checkpoint`` in the checkpoint sink; router/_audit/records.py declares each one's fields. Callers pass only what may be logged: pseudonyms,
never raw user ids; never message content; never credentials. This module does not guess which
fields are safe; the router decides.

Each record ends with ``writer`` (this log's random id), ``seq``, on the first record of each
file ``prev``, and ``chain`` (see ``chain.py``). Every ``checkpoint_every`` records or
``checkpoint_seconds`` seconds, and at close, a checkpoint (count and head) goes to the
checkpoint sink, so that cutting records off the end of a file can be proved.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TextIO

import orjson

from router._audit import chain, retention
from router._audit.sink import FileSink, open_sink
from router._audit.withhold import identity_of, may_hold, withhold
from router._core.duration import Duration

if TYPE_CHECKING:
    from router._config.settings import Settings

Target = str | Path | TextIO | Callable[[str], None]
_LINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
MAX_TEXT: Final = 512  # characters of one string in a record; the rest is counted, not kept
_PLAIN: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS  # no default: raises
_LONG_RUN: Final = re.compile(b'[^"]{%d,}' % (MAX_TEXT + 1))
_BLOCK: Final = (MAX_TEXT + 1) // 2  # a run longer than MAX_TEXT holds a whole block of this
_CHAIN_OWN: Final = frozenset({"writer", "seq", "prev"})  # the writer's own: never cut
_NONE: Final[Mapping[str, Any]] = MappingProxyType({})


class AuditLog:
    """Writes chained audit records to stdout, stderr, a file path, a stream or a callable.

    ``key`` is the chain's HMAC key (``Settings.audit_key``, never the pseudonym key); without
    one a random key is used and the chain can be checked by no one (tests, embedding).
    ``checkpoint`` is where checkpoints go (``None``: nowhere); the writer announces itself
    there (``audit.writer``) before its first record, so that ``audit verify`` can tell its
    chain from a foreign one. ``retention`` (a file sink only) drops rotated files older than
    it, each after an ``audit.cut`` point (see ``retention.py``).
    """

    def __init__(
        self,
        sink: Target = "stdout",
        *,
        copy_to: Callable[[str], None] | None = None,
        key: bytes | None = None,
        checkpoint: Target | None = None,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        retention: Duration | None = None,
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self._facts: dict[str, Any] = {} if retention is None else {"retention": str(retention)}
        self._retention = retention
        self._signer = chain.Signer(self._key)
        self._sink = open_sink(sink)
        self._copy_to = copy_to
        self._checkpoints = None if checkpoint is None else open_sink(checkpoint)
        self._every = checkpoint_every
        self._seconds = checkpoint_seconds
        self._start_chain()
        self._cut()
        self._previous_hup: Any = None
        if isinstance(self._sink, FileSink):
            self._watch_hup(self._sink)
        if hasattr(os, "register_at_fork"):  # a forked child is another writer, never a twin
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _restart(ref))

    def _start_chain(self) -> None:
        self.writer = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._seq = 0
        self._head = chain.GENESIS
        self._fresh = True  # the next record starts a file: it names the value it continues from
        self._announced = False  # the writer announces itself before its first record
        self._checkpointed = (0, time.monotonic())

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sink: Target | None = None,
        *,
        copy_to: Callable[[str], None] | None = None,
        checkpoint: bool = True,
    ) -> AuditLog:
        """The log the settings describe: sink, chain key, checkpoint sink and frequency.

        ``sink`` replaces the settings' sink; ``checkpoint=False`` writes no checkpoints (for a
        sink that keeps nothing)."""
        from router._config.keyfile import audit_key

        records, checkpoints = settings.resolved_audit()
        return cls(
            records if sink is None else sink,
            copy_to=copy_to,
            key=audit_key(settings),
            checkpoint=_checkpoint_target(checkpoints) if checkpoint else None,
            checkpoint_every=settings.audit_checkpoint_every,
            checkpoint_seconds=settings.audit_checkpoint_seconds,
            retention=settings.audit_retention_duration(),
        )

    def emit(
        self,
        event: str,
        declared: Mapping[str, Any] = _NONE,
        /,
        *,
        avoid: str | None = None,
        **fields: Any,
    ) -> None:
        """Write one record: ``{"ts": …, "event": event, **declared, **fields, "writer", "seq",
        "chain"}``.

        ``declared`` holds the event's fields as router/_audit/records.py declares them (the
        router's writers build it with its classes; ``fields`` add to it); they are rendered
        once, not checked here. ``avoid`` is the request's raw user id: the record is checked
        for it (router/_audit/withhold.py), and a value that holds it is written as
        ``"[withheld]"``, its place named in ``withheld``: the log never holds the id."""
        record = {"ts": _now(), "event": event, **declared, **fields}
        identity = None if avoid is None else identity_of(avoid)
        with self._lock:
            if not self._announced:
                self._announce()
            if self._sink.prepare():
                self._fresh = True
                self._cut()
            self._seq += 1
            record["writer"] = self.writer
            record["seq"] = self._seq
            if self._fresh:
                record["prev"] = self._head
            else:
                record.pop("prev", None)
            record.pop("chain", None)
            body = _canonical_cut(record)
            if identity is not None and may_hold(body, identity):  # checked on the one render
                record = withhold(record, identity)
                body = _canonical_cut(record)
            head = self._signer.link(self._head, body)
            line = chain.seal(body, head)
            self._sink.write(line)
            self._head, self._fresh = head, False
            self._maybe_checkpoint()
        if self._copy_to is not None:
            self._copy_to(line.decode().rstrip("\n"))

    def announce(self, **facts: Any) -> None:
        """Name facts the writer runs under (the router: its operator policy and its hash) in
        its announcement; announced again at once if the writer has already written."""
        with self._lock:
            self._facts.update(facts)
            if self._announced:
                self._announce()

    def _announce(self) -> None:
        self._announced = True
        self._sink_point({"event": chain.WRITER_EVENT, "writer": self.writer, **self._facts})

    def _cut(self) -> None:
        """Drop rotated files past the retention, each after its cut point."""
        sink = self._sink
        if self._retention is None or not isinstance(sink, FileSink):
            return
        keep = self._checkpoints.path if isinstance(self._checkpoints, FileSink) else None
        retention.cut(sink.path, self._retention, self._sink_point, keep=keep)

    def _sink_point(self, fields: dict[str, Any]) -> None:
        """One MAC'd line to the checkpoint sink (if there is one)."""
        if self._checkpoints is None:
            return
        point = {"ts": _now(), **fields}
        point["mac"] = chain.checkpoint_mac(self._key, point)
        self._checkpoints.prepare()
        self._checkpoints.write(orjson.dumps(point, option=_LINE))

    def checkpoint(self) -> None:
        """Write the count and head so far to the checkpoint sink (if there is one)."""
        with self._lock:
            self._write_checkpoint()

    def _maybe_checkpoint(self) -> None:
        count, when = self._checkpointed
        if self._checkpoints is None:
            return
        if self._seq - count >= self._every or time.monotonic() - when >= self._seconds:
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        if self._checkpoints is None:
            return
        self._sink_point(
            {
                "event": chain.CHECKPOINT_EVENT,
                "writer": self.writer,
                "seq": self._seq,
                "head": self._head,
            }
        )
        self._checkpointed = (self._seq, time.monotonic())

    def _watch_hup(self, sink: FileSink) -> None:
        """SIGHUP reopens the file (after logrotate), where a signal handler can be set."""
        if threading.current_thread() is not threading.main_thread() or os.name != "posix":
            return
        previous = signal.getsignal(signal.SIGHUP)

        def on_hup(signum: int, frame: FrameType | None) -> None:
            sink.reopen()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGHUP, on_hup)
        self._previous_hup = (on_hup, previous)

    def close(self) -> None:
        with self._lock:
            if self._seq:
                self._write_checkpoint()
            self._sink.close()
            if self._checkpoints is not None:
                self._checkpoints.close()
        if self._previous_hup is not None:
            ours, previous = self._previous_hup
            main = threading.current_thread() is threading.main_thread()
            if main and signal.getsignal(signal.SIGHUP) is ours and previous is not None:
                signal.signal(signal.SIGHUP, previous)
            self._previous_hup = None


def _restart(ref: weakref.ref[AuditLog]) -> None:
    log = ref()
    if log is not None:
        log._start_chain()


def _now() -> str:
    """UTC, ISO 8601 with microseconds and ``Z``: ``2026-12-07T17:04:53.123456Z``."""
    return _timestamp(time.time_ns())


def _timestamp(ns: int) -> str:
    """``ns`` (nanoseconds since the epoch) as ``_now`` writes it: the part up to the second
    rendered once per second, the microseconds each time; the same text as
    ``datetime.isoformat`` (a test compares the two) at a fraction of its cost."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_up_to_the_second(seconds)}{rest // 1000:06d}Z"


@functools.lru_cache(maxsize=2)
def _up_to_the_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def _checkpoint_target(setting: str) -> str | None:
    return None if setting == "off" else setting


def _canonical_cut(record: dict[str, Any]) -> bytes:
    """The record's canonical bytes, every string in it cut to ``MAX_TEXT`` characters.

    Most records hold only plain data and short strings: rendered as they are, they need no
    cut. That is known from the bytes: a string over ``MAX_TEXT`` characters renders as more
    than ``MAX_TEXT`` bytes without a quote between them, unless it holds an escape (a
    backslash). Anything else (a long run, a backslash, a value orjson does not render without
    help) is cut first, value by value, and rendered again."""
    try:
        body = orjson.dumps(record, option=_PLAIN)
    except TypeError:
        pass
    else:
        # ``find``, not ``in``: on 3.11 ``in`` raises and clears a TypeError before it searches
        if body.find(b"\\") < 0 and not _long_run(body):
            return body
    return chain.canonical({k: v if k in _CHAIN_OWN else _cut(v) for k, v in record.items()})


def _long_run(body: bytes) -> bool:
    """Whether ``body`` has more than ``MAX_TEXT`` bytes in a row without a quote.

    Such a run holds a whole ``_BLOCK``-byte block of ``body`` (blocks counted from its
    start): if every block holds a quote, there is none, known from a ``find`` per block; else
    the pattern says. (The pattern alone tries every byte: about 39k instructions for a
    720-byte record, against two ``find`` calls.)"""
    for start in range(0, len(body) - _BLOCK + 1, _BLOCK):
        if body.find(b'"', start, start + _BLOCK) < 0:
            return _LONG_RUN.search(body) is not None
    return False


def _cut(value: Any) -> Any:
    """Every string cut to ``MAX_TEXT`` characters, at any depth: no caller (a 100 KB model
    name, an error message quoting it) makes a record large."""
    if isinstance(value, str):
        if len(value) <= MAX_TEXT:
            return value
        return f"{value[:MAX_TEXT]}…[{len(value) - MAX_TEXT} more characters]"
    if isinstance(value, Mapping):
        return {_cut(k): _cut(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut(v) for v in value]
    return value
