"""The databases the store tests run against: a SQLite file, and a fresh PostgreSQL schema.

Each PostgreSQL test gets its own schema (named at random, dropped afterwards), reached through
the store URL's ``search_path``, so tests and concurrent runs never see each other's rows. If
PostgreSQL cannot be reached the postgres-parametrized tests error: CI has it, so they never skip.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

# Read at import: the autouse settings fixture removes every POLICY_ROUTER_* variable per test.
POSTGRES_URL: Final = os.environ.get(
    "POLICY_ROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS: Final = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


@dataclass(frozen=True)
class Backend:
    """One test database: the store URL, and raw SQL for tests that look behind the store."""

    name: str
    url: str
    schema: str = ""

    async def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.name == "sqlite":
            with closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
                rows = db.execute(statement.replace("$1", "?").replace("$2", "?"), args).fetchall()
                db.commit()
                return rows
        conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": self.schema})
        try:
            return [tuple(r) for r in await conn.fetch(statement, *args)]
        finally:
            await conn.close()


@asynccontextmanager
async def make_backend(name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    if name == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'data' / 'nested' / 'prefs.sqlite3'}")
        return
    schema = f"pr_test_{uuid.uuid4().hex[:16]}"
    admin = await _connect_admin()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield Backend("postgres", with_query(POSTGRES_URL, search_path=schema), schema)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def _connect_admin() -> Any:
    try:
        return await asyncpg.connect(POSTGRES_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL for the store tests cannot be reached at {POSTGRES_URL} ({exc}): "
            "start it, or point POLICY_ROUTER_TEST_POSTGRES_URL at one"
        )


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


class Outage:
    """A TCP proxy in front of PostgreSQL: ``cut()`` drops every connection and refuses new
    ones, as a database restart or a network partition does; ``restore()`` brings it back."""

    def __init__(self) -> None:
        parts = urlsplit(POSTGRES_URL)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    def url(self, backend: Backend) -> str:
        """``backend``'s URL, pointed at this proxy."""
        parts = urlsplit(backend.url)
        userinfo = parts.netloc.rpartition("@")[0]
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host))

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the other side was cut: the outage this proxy simulates
    finally:
        writer.transport.abort()
