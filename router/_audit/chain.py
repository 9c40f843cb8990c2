"""The audit chain: how a record's ``chain`` value and a checkpoint's ``mac`` are computed.

Pure: bytes in, hex out. The writer (``log.py``) and the verifier (``verify.py``) share it, so
what is written is exactly what is checked.

- A record's canonical bytes are its compact JSON (orjson: no spaces, keys in the order the
  record has them, ``ts`` and ``event`` first), without its ``chain`` field. The line written
  is exactly those bytes with ``"chain"`` added as the last field, so the verifier hashes the
  line as read, and re-encodes the parsed record only when the line was re-formatted (spaces,
  escapes) on the way; a record whose fields were reordered no longer verifies.
- ``chain = HMAC-SHA256(key, prev + "\\n" + canonical bytes)``, hex, where ``prev`` is the
  chain value of the same writer's previous record (ASCII hex); for a writer's first record
  it is ``GENESIS``.
- Each writer (one ``AuditLog``: one process or replica) has its own chain, named by the
  record's ``writer`` field, and numbers its records in ``seq`` (1, 2, …).
- The first record a writer puts into a file (at start, and after rotation or SIGHUP) also
  carries ``prev``: the chain value it starts from, i.e. the last one of the writer's
  previous file. A file can so be checked alone, and joins its predecessor when both are given.
- A checkpoint, ``{"event": "audit.checkpoint", "writer", "seq", "head"}``, says the writer
  had written ``seq`` records ending at chain value ``head``; its ``mac`` is
  ``HMAC-SHA256(key, "checkpoint\\n" + its JSON with sorted keys, without mac)``.
- The checkpoint sink also receives, under the same ``mac``: ``audit.writer`` (a writer
  announcing itself before its first record, with the facts it runs under: the operator
  policy and its hash, the retention), and ``audit.cut`` (a rotated file dropped under the
  retention, with each writer's last ``seq`` and ``head`` in it: where the kept records resume).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

import orjson

GENESIS: Final = "0" * 64
CHECKPOINT_EVENT: Final = "audit.checkpoint"
WRITER_EVENT: Final = "audit.writer"  # a writer announcing itself (and what it runs under)
CUT_EVENT: Final = "audit.cut"  # a rotated file dropped under the retention: where it ended
SINK_EVENTS: Final = frozenset({CHECKPOINT_EVENT, WRITER_EVENT, CUT_EVENT})
CHAIN_FIELDS: Final = frozenset({"writer", "seq", "prev", "chain"})
_digest: Final = hmac.digest
_FIELD: Final = b',"chain":"'
_SEALED_TAIL: Final = len(_FIELD) + 64 + len(b'"}')


def canonical(record: Mapping[str, Any]) -> bytes:
    """A record's bytes as hashed: compact JSON in its own key order (``chain`` absent)."""
    return orjson.dumps(
        record, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS, default=str
    )


def seal(body: bytes, value: str) -> bytes:
    """The line to write: the canonical bytes with ``chain`` as the last field, and a newline."""
    return body[:-1] + _FIELD + value.encode() + b'"}\n'


def unsealed(line: bytes) -> bytes | None:
    """The canonical bytes of a line as written (``seal`` undone); ``None`` if it is not."""
    line = line.rstrip(b"\r\n")
    if len(line) <= _SEALED_TAIL or not line.startswith(_FIELD, len(line) - _SEALED_TAIL):
        return None
    return line[:-_SEALED_TAIL] + b"}"


def link(key: bytes, prev: str, body: bytes) -> str:
    """The chain value of a record whose canonical bytes are ``body``, after ``prev``."""
    return _digest(key, prev.encode() + b"\n" + body, "sha256").hex()


def record_chain(key: bytes, prev: str, record: Mapping[str, Any]) -> str:
    """The chain value a parsed record should carry (its own ``chain`` field left out)."""
    body = {k: v for k, v in record.items() if k != "chain"}
    return link(key, prev, canonical(body))


class Signer:
    """``link`` under one key, keyed once: each record copies the keyed state (cheaper), the
    OpenSSL object itself where ``hmac`` has one (its Python wrapper's ``copy`` costs more than
    the copy: tests/audit/test_log.py compares the two)."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        keyed = hmac.new(key, digestmod="sha256")
        self._base: hmac.HMAC = getattr(keyed, "_hmac", None) or keyed  # OpenSSL's, if any

    def __repr__(self) -> str:
        return "Signer(key=<hidden>)"

    def link(self, prev: str, body: bytes) -> str:
        mac = self._base.copy()
        mac.update(prev.encode() + b"\n" + body)
        return mac.hexdigest()


def checkpoint_mac(key: bytes, checkpoint: Mapping[str, Any]) -> str:
    body = {k: v for k, v in checkpoint.items() if k != "mac"}
    sorted_body = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return _digest(key, b"checkpoint\n" + sorted_body, "sha256").hex()


def same(a: str, b: object) -> bool:
    """Constant-time comparison of two hex values."""
    return isinstance(b, str) and hmac.compare_digest(a.encode(), b.encode())
