"""Keys kept in the data directory when the operator sets none: the pseudonym key and the
audit chain's key (two keys: whoever may check the log need not be able to name users)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router._settings import Settings


def load_or_create_key(path: Path) -> bytes:
    """The key stored at ``path``, created (mode 0600, atomically) on first use.

    The new key is written to a private temporary file and linked into place; when another
    process linked its key first, that one is used, so concurrent first starts agree."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_bytes(32).hex())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


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
