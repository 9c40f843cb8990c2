"""The PostgreSQL preference store: one database shared by every replica.

An asyncpg pool; ``synchronous_commit`` is forced on, so a write has reached the server's
disk when ``set`` returns. The schema is migrated under an advisory lock, so replicas starting
together migrate one after the other. Every write for one user takes a per-user advisory lock,
so the previous value each write returns (and the audit log records) is exact. The URL may
carry ``connect_timeout`` (seconds, as in libpq) and server settings such as ``search_path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from router._core.preferences import Preferences
from router._errors import ConfigError, StoreUnavailable
from router._store.base import (
    SCHEMA_VERSION_TABLE,
    decode,
    decode_previous,
    encode,
    pending_migrations,
    public_url,
    redacted,
    unavailable,
)

CONNECT_TIMEOUT_SECONDS: Final = 10.0
COMMAND_TIMEOUT_SECONDS: Final = 15.0
POOL_MAX_SIZE: Final = 10
# Advisory lock classes (any fixed int4): 'prsv' for schema migration, 'prpf' for a user's row.
_MIGRATION_LOCK: Final = 0x70727376
_USER_LOCK: Final = 0x70727066

# OSError covers refused connections, unknown hosts and TimeoutError (connect and command).
_DRIVER_ERRORS: Final = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)

_LOCK_SCHEMA: Final = "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))"
_LOCK_USER: Final = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
_SELECT: Final = "SELECT prefs::text FROM user_preferences WHERE user_id = $1"
_UPSERT: Final = (
    "INSERT INTO user_preferences (user_id, prefs, updated_at) VALUES ($1, $2::jsonb, now()) "
    "ON CONFLICT (user_id) DO UPDATE SET prefs = EXCLUDED.prefs, updated_at = EXCLUDED.updated_at"
)
_DELETE: Final = "DELETE FROM user_preferences WHERE user_id = $1 RETURNING prefs::text"
_LIST: Final = "SELECT user_id FROM user_preferences WHERE user_id > $1 ORDER BY user_id LIMIT $2"
_RECORD: Final = (
    "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, now()::text)"
)


class PostgresStore:
    """A ``PreferenceStore`` in a PostgreSQL database. Build it with ``await PostgresStore.open(url)``."""

    def __init__(self, url: str, pool: Any) -> None:
        self._url = url
        self._pool = pool
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        dsn, timeout = connect_options(url)
        async with _translated(url), _config_checked(url):
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=POOL_MAX_SIZE,
                timeout=timeout,
                command_timeout=COMMAND_TIMEOUT_SECONDS,
                server_settings={"synchronous_commit": "on"},
            )
        store = cls(url, pool)
        try:
            await store._migrate()
        except BaseException:
            await store.aclose()
            raise
        return store

    async def get(self, user: str) -> Preferences | None:
        async with self._connection() as conn:
            found = await conn.fetchval(_SELECT, user)
        return decode(found)

    async def set(self, user: str, prefs: Preferences) -> Preferences | None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(_LOCK_USER, _USER_LOCK, user)
            old = await conn.fetchval(_SELECT, user)
            await conn.execute(_UPSERT, user, encode(prefs))
        return decode_previous(old)

    async def delete(self, user: str) -> Preferences | None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(_LOCK_USER, _USER_LOCK, user)
            old = await conn.fetchval(_DELETE, user)
        return decode_previous(old)

    async def list_users(self, *, limit: int = 100, after: str | None = None) -> list[str]:
        async with self._connection() as conn:
            rows = await conn.fetch(_LIST, "" if after is None else after, limit)
        return [str(row[0]) for row in rows]

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._pool.close()

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(_LOCK_SCHEMA, _MIGRATION_LOCK)
            await conn.execute(SCHEMA_VERSION_TABLE)
            found = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for migration in pending_migrations(self._url, int(found)):
                for statement in migration.postgres:
                    await conn.execute(statement)
                await conn.execute(_RECORD, migration.version, migration.description)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection, driver errors translated."""
        if self._closed:
            raise StoreUnavailable(f"preference store at {public_url(self._url)} is closed")
        async with _translated(self._url), self._pool.acquire() as conn:
            yield conn


def connect_options(url: str) -> tuple[str, float]:
    """The DSN for asyncpg and the connect timeout, taken out of the URL's ``connect_timeout``."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _invalid(url, exc) from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = [v for k, v in query if k == "connect_timeout"]
    dsn = urlunsplit(
        parts._replace(query=urlencode([(k, v) for k, v in query if k != "connect_timeout"]))
    )
    return dsn, _timeout(url, given[-1]) if given else CONNECT_TIMEOUT_SECONDS


def _timeout(url: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ConfigError(
            f"preference store URL {public_url(url)!r}: 'connect_timeout' must be a number of "
            f"seconds greater than 0 (got {text!r})"
        )
    return seconds


@asynccontextmanager
async def _config_checked(url: str) -> AsyncIterator[None]:
    """asyncpg reads the URL when it first connects: a malformed one (a port of 99999, a
    port that is not a number) raises ValueError or OverflowError there, before any I/O."""
    try:
        yield
    except (ValueError, OverflowError) as exc:
        raise _invalid(url, exc) from None


def _invalid(url: str, exc: BaseException) -> ConfigError:
    detail = redacted(url, str(exc).rstrip(".") or type(exc).__name__)
    return ConfigError(
        f"preference store URL {public_url(url)!r} is invalid ({detail}): expected "
        "'postgresql://user@host:port/db' with a port from 1 to 65535"
    )


@asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """The one boundary where asyncpg's and the network's errors become ours."""
    try:
        yield
    except asyncpg.exceptions.ClientConfigurationError as exc:
        raise ConfigError(f"preference store URL {public_url(url)!r} is invalid: {exc}") from exc
    except _DRIVER_ERRORS as exc:
        raise unavailable(url, exc) from exc
