"""Keys kept in the data directory when the operator sets none: the pseudonym key and the
audit chain's key (two keys: whoever may check the log need not be able to name users).

Each is created once, atomically: each process writes a complete candidate to a private
temporary file and hard-links it into place, which fails if another process got there first;
then every process reads the one key that won. The file is 0600 in a directory created 0700.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from router._errors import ConfigError

if TYPE_CHECKING:
    from router._config.settings import Settings

KEY_BYTES: Final = 32
MIN_KEY_BYTES: Final = 16
MIN_DISTINCT: Final = 8  # different characters a configured key needs
MIN_SECRET_BITS: Final = 96  # the pseudonym and audit keys (32 characters, 8 different)
MIN_API_KEY_BITS: Final = 48  # API and admin keys (16 characters, 8 different)
PRIVATE_DIR: Final = 0o700
_ROLES: Final = {  # file name: what the key is for, its variable, what a new key changes
    "pseudonym.key": ("pseudonym", "POLICY_ROUTER_PSEUDONYM_KEY", "every pseudonym then changes"),
    "audit.key": ("audit", "POLICY_ROUTER_AUDIT_KEY", "older records then fail verification"),
}


def estimated_bits(text: str) -> int:
    """A key's strength as the key rule measures it: the length of its shortest repeating unit
    times log2 of the number of different characters in it, rounded down.

    ``'a' * 32``: 0 bits; ``'abcdefgh' * 4``: 8 x 3 = 24; ``'0123456789abcdef' * 2``: 16 x 4 =
    64; the output of ``openssl rand -hex 32`` (64 characters, ~16 different): ~250."""
    distinct = len(set(text))
    if distinct < 2:
        return 0
    return int(_period(text) * math.log2(distinct))


def _period(text: str) -> int:
    """The length of the shortest unit that ``text`` repeats (``abcabcab``: 3), else its length.

    A repeat counts when it is at least 4 characters long: a random key often ends as it began."""
    border = [0] * len(text)  # the prefix function: longest proper prefix that is also a suffix
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + (text[i] == text[k])
    repeated = border[-1] if text else 0
    return len(text) - repeated if repeated >= 4 else len(text)


def weak_key(text: str, *, chars: int, bits: int) -> bool:
    """Whether a configured key breaks the rule: fewer than ``chars`` characters, fewer than
    ``MIN_DISTINCT`` different ones, or fewer than ``bits`` estimated bits."""
    return len(text) < chars or len(set(text)) < MIN_DISTINCT or estimated_bits(text) < bits


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
        what, variable, effect = _ROLES.get(path.name, _ROLES["pseudonym.key"])
        raise ConfigError(
            f"the {what} key file {path} holds no key of at least {MIN_KEY_BYTES} bytes "
            f"(expected at least {2 * MIN_KEY_BYTES} hex characters, found {len(text.strip())} "
            "characters): restore the file from a backup, or delete it to have a new key "
            f"created ({effect}), or set {variable}"
        )
    return key


def pseudonym_key(settings: Settings, *, create: bool = True) -> bytes:
    """``POLICY_ROUTER_PSEUDONYM_KEY``, else ``pseudonym.key`` in the data directory."""
    if settings.pseudonym_key:
        return settings.pseudonym_key.get_secret_value().encode()
    return _stored(settings, "pseudonym.key", "POLICY_ROUTER_PSEUDONYM_KEY", create)


def audit_key(settings: Settings, *, create: bool = True) -> bytes:
    """``POLICY_ROUTER_AUDIT_KEY``, else ``audit.key`` in the data directory."""
    if settings.audit_key:
        return settings.audit_key.get_secret_value().encode()
    return _stored(settings, "audit.key", "POLICY_ROUTER_AUDIT_KEY", create)


def _stored(settings: Settings, name: str, variable: str, create: bool) -> bytes:
    """The key file's key; with ``create=False`` (reading a log) a missing one is an error:
    a new key could only make every record look forged, or every user unknown."""
    path = settings.resolved_data_dir() / name
    if not create and not path.exists():
        raise ValueError(
            f"no key to read the audit log with: {variable} is not set and {path} does not "
            f"exist; set {variable} (or POLICY_ROUTER_DATA_DIR) as for the router that wrote it"
        )
    return load_or_create_key(path)
