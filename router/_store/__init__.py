"""The preference store: where each user's preferences persist, shared by every replica.

``open_store(url)`` picks the backend by the URL's scheme. The backends (``sqlite``,
``postgres``) and the lazy wrapper import only ``base``, which holds the protocol, the
migrations and the row encoding; only this module knows every backend.
"""

from __future__ import annotations

from router._errors import ConfigError, require_extra
from router._store.base import (
    ACCEPTED_URLS,
    DEFAULT_TIMEOUT_SECONDS,
    POSTGRES_SCHEMES,
    SQLITE_PREFIX,
    PreferenceStore,
    public_url,
)

__all__ = ["PreferenceStore", "open_store"]


async def open_store(url: str, *, lock_timeout: float = DEFAULT_TIMEOUT_SECONDS) -> PreferenceStore:
    """Open (creating and migrating the schema as needed) the store that ``url`` names.

    ``lock_timeout``: the longest a SQLite call waits for a lock before ``StoreUnavailable``."""
    scheme = url.partition(":")[0].lower()
    if url.startswith(SQLITE_PREFIX):
        from router._store.sqlite import SQLiteStore

        return await SQLiteStore.open(url, lock_timeout=lock_timeout)
    if scheme in POSTGRES_SCHEMES:
        require_extra("postgres", "a PostgreSQL preference store", "asyncpg")
        from router._store.postgres import PostgresStore

        return await PostgresStore.open(url)
    raise ConfigError(
        f"preference store URL {public_url(url)!r} is not supported: expected {ACCEPTED_URLS}"
    )
