"""The pseudonym key kept in the data directory when the operator sets none.

Created once, atomically: each process writes a complete candidate to a private temporary
file and hard-links it into place, which fails if another process got there first; then every
process reads the one key that won. The file is 0600 in a directory created 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from router._errors import ConfigError

KEY_BYTES: Final = 32
MIN_KEY_BYTES: Final = 16
PRIVATE_DIR: Final = 0o700


def load_or_create_key(path: Path) -> bytes:
    """The key stored at ``path`` (hex), created (mode 0600) on first use.

    Raise ConfigError if the file holds no key of at least 16 bytes (32 hex characters)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        _create(path)
        text = path.read_text(encoding="ascii", errors="replace")
    return _checked(path, text)


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) if missing; the directory itself is made 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def _create(path: Path) -> None:
    """Write a new key unless one is there by the time ours is complete."""
    private_dir(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:  # mkstemp makes it 0600
            out.write(secrets.token_bytes(KEY_BYTES).hex())
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: read its key
            os.link(tmp, path)
    finally:
        tmp.unlink()


def _checked(path: Path, text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"the pseudonym key file {path} holds no key of at least {MIN_KEY_BYTES} bytes "
            f"(expected at least {2 * MIN_KEY_BYTES} hex characters, found {len(text.strip())} "
            "characters): restore the file from a backup, or delete it to have a new key "
            "created (every pseudonym then changes), or set POLICY_ROUTER_PSEUDONYM_KEY"
        )
    return key
