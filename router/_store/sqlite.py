"""The SQLite preference store: one file on one host, durable once ``set`` returns.

WAL journal with ``synchronous=FULL``: a committed write survives the process being killed
(and the machine losing power). Writes run in ``BEGIN IMMEDIATE`` transactions on one writing
connection, an asyncio lock keeping them from interleaving, so two processes opening the same
file at once migrate it one after the other. Reads use a second, read-only connection: under
WAL they never queue behind a write, ours or another process's. Every wait for a lock (ours or
the file's) is bounded by ``lock_timeout``; past it the call raises ``StoreUnavailable``.

``get``, the read on every request with a user, reads one row by its primary key on the event
loop's own thread, through a third, read-only connection that never waits (busy timeout 0):
it takes microseconds, where a hop to aiosqlite's thread and back cost more CPU than the read
(bench/README.md). It reads what is committed at that moment, by this process or any other,
so a change applies to the next request as before. Should that connection ever find the file
busy (under WAL only while another connection recovers or resets the log), the read goes to
aiosqlite's reader, which waits as every other call does.

A new file is created 0600 in a directory created 0700 (SQLite gives ``-wal`` and ``-shm``
the file's mode): the rows hold raw user ids.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import aiosqlite

from router._core.preferences import Preferences
from router._errors import ConfigError, StoreUnavailable
from router._store.base import (
    ACCEPTED_URLS,
    DEFAULT_TIMEOUT_SECONDS,
    SCHEMA_VERSION_TABLE,
    SQLITE_PREFIX,
    decode,
    decode_previous,
    encode,
    pending_migrations,
    public_url,
    unavailable,
)

MEMORY: Final = ":memory:"
_DRIVER_ERRORS: Final = (sqlite3.Error, OSError)

_SELECT: Final = "SELECT prefs FROM user_preferences WHERE user_id = ?"
_UPSERT: Final = (
    "INSERT INTO user_preferences (user_id, prefs, updated_at) "
    "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) "
    "ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs, updated_at = excluded.updated_at"
)
_DELETE: Final = "DELETE FROM user_preferences WHERE user_id = ?"
_LIST: Final = "SELECT user_id FROM user_preferences WHERE user_id > ? ORDER BY user_id LIMIT ?"
_RECORD: Final = (
    "INSERT INTO schema_version (version, description, applied_at) "
    "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
)


def _daemon(db: aiosqlite.Connection) -> aiosqlite.Connection:
    """``db`` with its worker thread marked daemon, before ``await db`` starts it.

    aiosqlite runs each connection on its own thread, not a daemon: a program that never
    calls ``aclose()`` would hang at interpreter exit, waiting for it. Nothing is lost by not
    waiting: every write has committed (``synchronous=FULL``) before ``set`` returns, and a
    connection dropped at exit is what a killed process leaves, which SQLite recovers from.
    """
    thread = getattr(db, "_thread", None)
    if not isinstance(
        thread, threading.Thread
    ):  # aiosqlite moved it: tests/dropin/test_exit.py fails
        raise ConfigError("aiosqlite.Connection has no worker thread to mark daemon")
    thread.daemon = True
    return db


def sqlite_path(url: str) -> str:
    """The file ``sqlite:///<path>`` names (``:memory:`` for an in-memory database)."""
    path = url.removeprefix(SQLITE_PREFIX)
    if not url.startswith(SQLITE_PREFIX) or not path:
        raise ConfigError(
            f"preference store URL {public_url(url)!r} names no SQLite file: expected {ACCEPTED_URLS}"
        )
    return path


class SQLiteStore:
    """A ``PreferenceStore`` in one SQLite file. Build it with ``await SQLiteStore.open(url)``."""

    def __init__(
        self, url: str, db: aiosqlite.Connection, *, lock_timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self._url = url
        self._db = db
        self._reader = db  # until open() adds the read-only connection (a file's, not :memory:)
        self._quick: sqlite3.Connection | None = None  # get()'s connection on the loop's thread
        self._timeout = lock_timeout
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, lock_timeout: float = DEFAULT_TIMEOUT_SECONDS) -> SQLiteStore:
        path = sqlite_path(url)
        async with _translated(url):
            if path != MEMORY:
                _create_private(Path(path))
            db = await _daemon(aiosqlite.connect(path, isolation_level=None, timeout=lock_timeout))
        store = cls(url, db, lock_timeout=lock_timeout)
        try:
            await store._prepare_when_free()
            if path != MEMORY:
                await store._open_reader(path)
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _open_reader(self, path: str) -> None:
        async with _translated(self._url):
            self._reader = await _daemon(
                aiosqlite.connect(path, isolation_level=None, timeout=self._timeout)
            )
            await self._reader.execute("PRAGMA query_only = ON")
            quick = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
            self._quick = quick  # closed by aclose() from here on, whatever happens next
            quick.execute("PRAGMA query_only = ON")

    async def _prepare_when_free(self) -> None:
        """Prepare, retrying while another connection holds the file: SQLite answers "locked"
        at once, without waiting, while connections race to switch a new file to WAL."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                await self._prepare()
            except StoreUnavailable as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
            else:
                return

    async def get(self, user: str) -> Preferences | None:
        self._check_open()
        if self._quick is not None:
            try:
                rows = self._quick.execute(_SELECT, (user,)).fetchall()
            except _DRIVER_ERRORS as exc:
                if not _is_busy(exc):
                    raise unavailable(self._url, exc) from exc
            else:  # the primary key: one row or none
                # One turn of the event loop, as aiosqlite's hop gave: measured, serve spends
                # ~10 % more CPU per request at concurrency 50 without it (bench/README.md).
                await asyncio.sleep(0)
                return decode(str(rows[0][0]) if rows else None)
        async with self._reading():
            found = await self._prefs(user, self._reader)
        return decode(found)

    async def set(self, user: str, prefs: Preferences) -> Preferences | None:
        async with self._transaction():
            old = await self._prefs(user)
            await self._db.execute(_UPSERT, (user, encode(prefs)))
        return decode_previous(old)

    async def delete(self, user: str) -> Preferences | None:
        async with self._transaction():
            old = await self._prefs(user)
            await self._db.execute(_DELETE, (user,))
        return decode_previous(old)

    async def list_users(self, *, limit: int = 100, after: str | None = None) -> list[str]:
        async with self._reading():
            rows = await self._reader.execute_fetchall(
                _LIST, ("" if after is None else after, limit)
            )
        return [str(row[0]) for row in rows]

    async def ping(self) -> None:
        async with self._reading():
            await self._reader.execute_fetchall("SELECT 1")

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            if self._quick is not None:
                self._quick.close()
            if self._reader is not self._db:
                await self._reader.close()
            await self._db.close()

    async def _prepare(self) -> None:
        async with self._using():
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = FULL")
        async with self._transaction():
            await self._db.execute(SCHEMA_VERSION_TABLE)
            found = await self._scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for migration in pending_migrations(self._url, int(found)):
                for statement in migration.sqlite:
                    await self._db.execute(statement)
                await self._db.execute(_RECORD, (migration.version, migration.description))

    async def _prefs(self, user: str, db: aiosqlite.Connection | None = None) -> str | None:
        found = await self._scalar(_SELECT, (user,), db)
        return None if found is None else str(found)

    async def _scalar(
        self, sql: str, params: Iterable[Any] = (), db: aiosqlite.Connection | None = None
    ) -> Any:
        rows = list(await (db or self._db).execute_fetchall(sql, params))
        return rows[0][0] if rows else None

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """The read-only connection (no lock: WAL readers never wait for writers)."""
        self._check_open()
        async with _translated(self._url, self._timeout):
            yield

    @asynccontextmanager
    async def _using(self) -> AsyncIterator[None]:
        """Exclusive use of the writing connection, waiting at most ``timeout`` in all for
        our lock and the file's; driver errors translated."""
        self._check_open()
        deadline = time.monotonic() + self._timeout
        try:
            await asyncio.wait_for(self._lock.acquire(), self._timeout)
        except TimeoutError:
            raise _locked(self._url, self._timeout) from None
        try:
            async with _translated(self._url, self._timeout):
                left = max(deadline - time.monotonic(), 0.001)
                await self._db.execute(f"PRAGMA busy_timeout = {int(left * 1000) + 1}")
                yield
        finally:
            self._lock.release()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"preference store at {public_url(self._url)} is closed")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """A write transaction, committed (durably) before the block's caller continues."""
        async with self._using():
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")


def _create_private(path: Path) -> None:
    """Create the database file 0600 (its directory 0700) if it is not there yet."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


@asynccontextmanager
async def _translated(url: str, lock_timeout: float | None = None) -> AsyncIterator[None]:
    """The one boundary where sqlite3's and the file system's errors become ours."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        if lock_timeout is not None and _is_busy(exc):
            raise _locked(url, lock_timeout) from exc
        raise unavailable(url, exc) from exc


def _locked(url: str, timeout: float) -> StoreUnavailable:
    return StoreUnavailable(
        f"preference store at {public_url(url)} stayed locked for more than {timeout:g}s "
        "(POLICY_ROUTER_STORE_TIMEOUT): the request was refused, nothing was changed"
    )


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def _busy(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds the database for now."""
    return _is_busy(exc.__cause__) if exc.__cause__ is not None else False
