"""The audit chain: how a record's ``chain`` value and a checkpoint's ``mac`` are computed.

Pure: bytes in, hex out. The writer (``log.py``) and the verifier (``verify.py``) share it, so
what is written is exactly what is checked.

- A record's canonical bytes are its JSON with sorted keys and no spaces (orjson), without
  its ``chain`` field.
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
  ``HMAC-SHA256(key, "checkpoint\\n" + canonical bytes without mac)``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

import orjson

GENESIS: Final = "0" * 64
CHECKPOINT_EVENT: Final = "audit.checkpoint"
CHAIN_FIELDS: Final = frozenset({"writer", "seq", "prev", "chain"})
_CANONICAL: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical(record: Mapping[str, Any]) -> bytes:
    """A record's bytes as hashed: sorted keys, no spaces, UTF-8 (``chain`` must be absent)."""
    return orjson.dumps(record, option=_CANONICAL, default=str)


def link(key: bytes, prev: str, body: bytes) -> str:
    """The chain value of a record whose canonical bytes are ``body``, after ``prev``."""
    return hmac.digest(key, prev.encode() + b"\n" + body, "sha256").hex()


def record_chain(key: bytes, prev: str, record: Mapping[str, Any]) -> str:
    """The chain value a parsed record should carry (its own ``chain`` field left out)."""
    body = {k: v for k, v in record.items() if k != "chain"}
    return link(key, prev, canonical(body))


def checkpoint_mac(key: bytes, checkpoint: Mapping[str, Any]) -> str:
    body = {k: v for k, v in checkpoint.items() if k != "mac"}
    return hmac.digest(key, b"checkpoint\n" + canonical(body), "sha256").hex()


def same(a: str, b: object) -> bool:
    """Constant-time comparison of two hex values."""
    return isinstance(b, str) and hmac.compare_digest(a.encode(), b.encode())
