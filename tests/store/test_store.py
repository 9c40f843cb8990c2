"""The preference store, the same tests against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router import (
    ConfigError,
    Preferences,
    StoredPreferencesInvalid,
    StoreUnavailable,
)
from router._store import PreferenceStore, open_store
from router._store.base import SCHEMA_VERSION, public_url
from router._store.sqlite import SQLiteStore
from tests._support.stores import BACKENDS, POSTGRES_URL, Backend, Outage, make_backend, with_query

STRICT = Preferences(
    max_retention="24h",
    allow_flagged_retention=False,
    allow_training=False,
    allow_providers=frozenset({"anthropic", "mistral"}),
    deny_providers=frozenset({"openai"}),
)
LOOSE = Preferences(max_retention="30d")


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with make_backend(request.param, tmp_path) as made:
        yield made


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[PreferenceStore]:
    opened = await open_store(backend.url)
    yield opened
    await opened.aclose()


async def test_get__unknown_user_is_none(store: PreferenceStore) -> None:
    assert await store.get("nobody") is None


async def test_set__round_trips_every_field(store: PreferenceStore) -> None:
    assert await store.set("alice", STRICT) is None
    assert await store.get("alice") == STRICT


async def test_set__returns_previous_value(store: PreferenceStore) -> None:
    await store.set("alice", STRICT)
    assert await store.set("alice", LOOSE) == STRICT
    assert await store.get("alice") == LOOSE


async def test_set__empty_preferences_are_stored_not_absent(store: PreferenceStore) -> None:
    await store.set("alice", Preferences())
    assert await store.get("alice") == Preferences()


async def test_delete__returns_previous_and_forgets(store: PreferenceStore) -> None:
    await store.set("alice", STRICT)
    assert await store.delete("alice") == STRICT
    assert await store.get("alice") is None


async def test_delete__unknown_user_returns_none(store: PreferenceStore) -> None:
    assert await store.delete("nobody") is None


async def test_list_users__pages_in_code_point_order(store: PreferenceStore) -> None:
    users = ["zoe", "Bob", "alice", "émile", "a", "Zed", "bob@example.com"]
    for user in users:
        await store.set(user, LOOSE)
    pages: list[list[str]] = []
    after: str | None = None
    while page := await store.list_users(limit=3, after=after):
        pages.append(page)
        after = page[-1]
    assert pages == [["Bob", "Zed", "a"], ["alice", "bob@example.com", "zoe"], ["émile"]]
    assert [u for page in pages for u in page] == sorted(users)


async def test_list_users__empty_store_is_empty(store: PreferenceStore) -> None:
    assert await store.list_users() == []


async def test_ping__reachable_store_returns(store: PreferenceStore) -> None:
    await store.ping()


async def test_read_your_writes__across_two_instances(backend: Backend) -> None:
    first, second = await open_store(backend.url), await open_store(backend.url)
    try:
        await first.set("alice", STRICT)
        assert await second.get("alice") == STRICT
        await second.delete("alice")
        assert await first.get("alice") is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_set__concurrent_writers_each_see_the_exact_previous_value(backend: Backend) -> None:
    first, second = await open_store(backend.url), await open_store(backend.url)
    values = [Preferences(max_retention=f"{days}d") for days in range(1, 21)]
    try:
        olds = await asyncio.gather(
            *((first if i % 2 else second).set("alice", v) for i, v in enumerate(values))
        )
        final = await first.get("alice")
    finally:
        await first.aclose()
        await second.aclose()
    # Writes took some order; each one's previous value is the one written just before it.
    assert sorted(map(str, [*olds, final])) == sorted(map(str, [None, *values]))


async def test_open__migrates_empty_database_and_reopen_is_idempotent(backend: Backend) -> None:
    store = await open_store(backend.url)
    await store.set("alice", STRICT)
    await store.aclose()
    versions = await backend.sql("SELECT version FROM schema_version ORDER BY version")
    store = await open_store(backend.url)
    try:
        assert await store.get("alice") == STRICT
    finally:
        await store.aclose()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert await backend.sql("SELECT version FROM schema_version ORDER BY version") == versions


async def test_open__concurrent_first_opens_migrate_once(backend: Backend) -> None:
    stores = await asyncio.gather(*(open_store(backend.url) for _ in range(4)))
    try:
        await stores[0].set("alice", STRICT)
        assert [await s.get("alice") for s in stores] == [STRICT] * 4
    finally:
        for s in stores:
            await s.aclose()
    rows = await backend.sql("SELECT version FROM schema_version ORDER BY version")
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


async def test_open__refuses_newer_schema_version(backend: Backend) -> None:
    await (await open_store(backend.url)).aclose()
    newer = SCHEMA_VERSION + 1
    await backend.sql(
        "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, 'now')",
        newer,
        "from the future",
    )
    with pytest.raises(ConfigError) as caught:
        await open_store(backend.url)
    assert str(caught.value) == (
        f"preference store at {public_url(backend.url)} has schema version {newer}, but this "
        f"policy-router knows schema versions up to {SCHEMA_VERSION}: upgrade policy-router to "
        "the release that wrote it (the store was left unchanged)"
    )


async def test_get__stored_row_that_does_not_parse_is_an_error(
    backend: Backend, store: PreferenceStore
) -> None:
    await store.set("alice", STRICT)
    await backend.sql(
        "UPDATE user_preferences SET prefs = $1 WHERE user_id = 'alice'",
        '{"max_retention": "3 weeks ago"}',
    )
    with pytest.raises(StoredPreferencesInvalid, match=r"^stored preferences do not parse \("):
        await store.get("alice")


async def test_closed_store__refuses_with_store_unavailable(backend: Backend) -> None:
    store = await open_store(backend.url)
    await store.aclose()
    with pytest.raises(StoreUnavailable) as caught:
        await store.get("alice")
    assert str(caught.value) == f"preference store at {public_url(backend.url)} is closed"


CHILD = """
import asyncio, sys
from router import Preferences
from router._store import open_store

async def main():
    store = await open_store(sys.argv[1])
    await store.set("alice", Preferences(max_retention="none", deny_providers=["openai"]))
    print("done", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_set__survives_sigkill_right_after_it_returned(backend: Backend) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, backend.url, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = await child.stdout.readline()
    finally:
        child.kill()
        await child.wait()
    assert line == b"done\n"
    assert child.returncode == -9
    store = await open_store(backend.url)
    try:
        assert await store.get("alice") == Preferences(
            max_retention="none", deny_providers=frozenset({"openai"})
        )
    finally:
        await store.aclose()


def _unreachable_message(url: str) -> re.Pattern[str]:
    return re.compile(
        rf"^preference store at {re.escape(url)} cannot be reached: .+; "
        r"requests for users are refused until it is back$"
    )


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_open__unreachable_postgres_is_store_unavailable_quickly(scheme: str) -> None:
    url = f"{scheme}://router:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"
    async with asyncio.timeout(10):
        with pytest.raises(StoreUnavailable) as caught:
            await open_store(url)
    message = str(caught.value)
    assert _unreachable_message(f"{scheme}://router@127.0.0.1:1/test?connect_timeout=2").match(
        message
    )
    assert "s3cret-pw" not in message


@pytest.fixture
async def outage() -> AsyncIterator[Outage]:
    proxy = Outage()
    await proxy.restore()
    yield proxy
    await proxy.cut()


@pytest.mark.postgres
async def test_postgres_outage__refuses_until_it_is_back(outage: Outage, tmp_path: Path) -> None:
    async with make_backend("postgres", tmp_path) as backend:
        url = outage.url(backend)
        store = await open_store(url)
        try:
            await store.set("alice", STRICT)
            await outage.cut()
            for call in (store.get("alice"), store.set("alice", LOOSE), store.ping()):
                with pytest.raises(StoreUnavailable) as caught:
                    await call
                assert _unreachable_message(public_url(url)).match(str(caught.value))
            await outage.restore()
            assert await store.get("alice") == STRICT
        finally:
            await store.aclose()


async def test_open__sqlite_path_that_cannot_be_created_is_store_unavailable(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("not a directory")
    url = f"sqlite:///{tmp_path / 'file' / 'prefs.sqlite3'}"
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(url)
    assert _unreachable_message(url).match(str(caught.value))


async def test_open__sqlite_is_wal_with_synchronous_full(tmp_path: Path) -> None:
    store = await SQLiteStore.open(f"sqlite:///{tmp_path / 'prefs.sqlite3'}")
    try:
        pragmas = [
            list(await store._db.execute_fetchall(f"PRAGMA {name}"))
            for name in ("journal_mode", "synchronous")
        ]
    finally:
        await store.aclose()
    assert pragmas == [[("wal",)], [(2,)]]  # 2 is FULL: fsync on every commit


async def test_open__sqlite_in_memory_works() -> None:
    store = await open_store("sqlite:///:memory:")
    try:
        await store.set("alice", STRICT)
        assert await store.get("alice") == STRICT
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://root@localhost/prefs", id="unknown scheme"),
        pytest.param("sqlite://prefs.sqlite3", id="sqlite with two slashes"),
        pytest.param("sqlite:///", id="sqlite without a path"),
        pytest.param("/var/lib/prefs.sqlite3", id="a bare path"),
    ],
)
async def test_open__unsupported_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    assert str(caught.value).endswith(
        ": expected 'sqlite:///<path>', 'sqlite:///:memory:' or 'postgresql://user@host/db'"
    )


async def test_open__postgres_connect_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store("postgres://u:pw@127.0.0.1:1/test?connect_timeout=soon")
    assert str(caught.value) == (
        "preference store URL 'postgres://u@127.0.0.1:1/test?connect_timeout=soon': "
        "'connect_timeout' must be a number of seconds greater than 0 (got 'soon')"
    )


@pytest.mark.parametrize(
    ("url", "public"),
    [
        pytest.param(
            "postgresql://router:pw@db:5432/prefs",
            "postgresql://router@db:5432/prefs",
            id="password in userinfo",
        ),
        pytest.param(
            "postgresql://db/prefs?user=router&password=pw&sslmode=require",
            "postgresql://db/prefs?user=router&sslmode=require",
            id="password in query",
        ),
        pytest.param(
            "postgresql://router@db/prefs?search_path=a,b",
            "postgresql://router@db/prefs?search_path=a,b",
            id="nothing secret",
        ),
        pytest.param("sqlite:////var/lib/p.sqlite3", "sqlite:////var/lib/p.sqlite3", id="sqlite"),
    ],
)
def test_public_url__removes_passwords(url: str, public: str) -> None:
    assert public_url(url) == public


def test_postgres_url_for_tests_is_configured() -> None:
    assert with_query(POSTGRES_URL, search_path="s").endswith("search_path=s")
