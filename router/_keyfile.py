"""The pseudonym key kept in the data directory when the operator sets none."""

from __future__ import annotations

import secrets
from pathlib import Path


def load_or_create_key(path: Path) -> bytes:
    """The key stored at ``path``, created (mode 0600) on first use."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key.hex())
    tmp.chmod(0o600)
    tmp.replace(path)
    return bytes.fromhex(path.read_text().strip())
