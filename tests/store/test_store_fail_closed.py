"""The preference store under faults: private files, stale and undecodable rows, malformed
URLs, and a SQLite file another connection holds locked. Every fault refuses the request
(and says why); none is read as "no preferences"."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from router import (
    ConfigError,
    Preferences,
    StoredPreferencesInvalid,
    StoreUnavailable,
)
from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.app import create_app
from router._store import open_store
from router._store.sqlite import SQLiteStore

API_KEY: Final = "store-test-api-key-0001"
ADMIN_KEY: Final = "store-test-admin-key-0001"
USER: Final = "alice@example.com"
STALE: Final = (
    "stored preferences name provider 'acme', which the catalog does not have: requests for "
    "this user are refused until their preferences are set again (PUT "
    "/v1/users/{user}/preferences, or 'policy-router prefs set') or deleted"
)


def _write_row(path: Path, user: str, prefs: str) -> None:
    """Put a row in place behind the store's back (an older release, a hand edit, a bug)."""
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO user_preferences (user_id, prefs, updated_at) VALUES (?, ?, 'now') "
            "ON CONFLICT (user_id) DO UPDATE SET prefs = excluded.prefs",
            (user, prefs),
        )
        db.commit()


# --- permissions ------------------------------------------------------------------------------


async def test_sqlite_store__file_wal_and_shm_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "prefs.sqlite3"
    store = await open_store(f"sqlite:///{path}")
    try:
        await store.set(USER, Preferences(allow_training=False))
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    finally:
        await store.aclose()
    assert files == {
        "prefs.sqlite3": 0o600,
        "prefs.sqlite3-wal": 0o600,
        "prefs.sqlite3-shm": 0o600,
    }
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# --- malformed PostgreSQL URLs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        pytest.param(
            "postgresql://router:pw-s3cret@127.0.0.1:99999/test",
            "connect(): port must be 0-65535",
            id="port 99999",
        ),
        pytest.param(
            "postgresql://router@127.0.0.1:abc/test",
            "invalid literal for int() with base 10: 'abc'",
            id="a port that is not a number",
        ),
    ],
)
async def test_open__malformed_postgres_url_is_one_line_config_error(url: str, detail: str) -> None:
    async with asyncio.timeout(10):
        with pytest.raises(ConfigError) as caught:
            await open_store(url)
    shown = url.replace(":pw-s3cret", "")
    assert str(caught.value) == (
        f"preference store URL {shown!r} is invalid ({detail}): expected "
        "'postgresql://user@host:port/db' with a port from 1 to 65535"
    )


def test_cli__malformed_postgres_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from router.cli import app

    monkeypatch.setenv("POLICY_ROUTER_STORE_URL", "postgresql://router@127.0.0.1:99999/test")
    result = CliRunner().invoke(app, ["prefs", "get", "alice"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: preference store URL ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


# --- a SQLite file held locked by another connection ------------------------------------------


@contextmanager
def _held_for_writing(path: Path) -> Iterator[None]:
    """Another connection (as another process would) holding the file's write lock."""
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


async def test_sqlite__reads_answer_while_a_write_waits_on_a_locked_file(tmp_path: Path) -> None:
    path = tmp_path / "prefs.sqlite3"
    store = await SQLiteStore.open(f"sqlite:///{path}", lock_timeout=1.0)
    try:
        await store.set(USER, Preferences(allow_training=False))
        with _held_for_writing(path):
            started = time.monotonic()
            blocked = asyncio.create_task(store.set(USER, Preferences(allow_training=True)))
            await asyncio.sleep(0.1)  # the write is now waiting for the file's lock
            async with asyncio.timeout(0.5):  # well inside the write's wait
                assert await store.get(USER) == Preferences(allow_training=False)
                assert await store.list_users() == [USER]
                await store.ping()
            assert not blocked.done()
            with pytest.raises(StoreUnavailable) as caught:
                await blocked
            waited = time.monotonic() - started
        assert 0.9 < waited < 5, waited  # it waited for the bound, and not much longer
        assert str(caught.value) == (
            f"preference store at sqlite:///{path} stayed locked for more than 1s "
            "(POLICY_ROUTER_STORE_TIMEOUT): the request was refused, nothing was changed"
        )
        assert await store.get(USER) == Preferences(allow_training=False)
        await store.set(USER, Preferences(allow_training=True))  # free again: it works
        assert await store.get(USER) == Preferences(allow_training=True)
    finally:
        await store.aclose()


async def test_sqlite__writes_queued_behind_a_stuck_write_fail_within_the_bound(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prefs.sqlite3"
    store = await SQLiteStore.open(f"sqlite:///{path}", lock_timeout=0.5)
    try:
        with _held_for_writing(path):
            started = time.monotonic()
            results = await asyncio.gather(
                *(store.set(f"user-{n}", Preferences()) for n in range(5)),
                return_exceptions=True,
            )
            waited = time.monotonic() - started
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        assert waited < 3, waited  # each waited at most the bound, not 5 x 10 s in a queue
        assert await store.list_users() == []
    finally:
        await store.aclose()


class _Refusing:
    """A connection whose every statement fails with ``error`` (get()'s quick connection)."""

    def __init__(self, error: sqlite3.Error) -> None:
        self.error = error

    def execute(self, *_: Any) -> Any:
        raise self.error

    def close(self) -> None:
        """Nothing to close."""


async def test_sqlite__a_busy_quick_read_waits_on_the_reader_instead(tmp_path: Path) -> None:
    path = tmp_path / "prefs.sqlite3"
    store = await SQLiteStore.open(f"sqlite:///{path}", lock_timeout=1.0)
    try:
        await store.set(USER, Preferences(allow_training=False))
        quick = store._quick
        store._quick = _Refusing(sqlite3.OperationalError("database is locked"))  # type: ignore[assignment]
        assert await store.get(USER) == Preferences(allow_training=False)
        store._quick = quick
    finally:
        await store.aclose()


async def test_sqlite__a_failing_quick_read_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "prefs.sqlite3"
    store = await SQLiteStore.open(f"sqlite:///{path}", lock_timeout=1.0)
    quick = store._quick
    try:
        store._quick = _Refusing(sqlite3.DatabaseError("file is not a database"))  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable) as caught:
            await store.get(USER)
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    finally:
        store._quick = quick
        await store.aclose()


async def test_sqlite__a_write_by_another_connection_is_read_by_the_next_get(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prefs.sqlite3"
    store = await SQLiteStore.open(f"sqlite:///{path}")
    try:
        assert await store.get(USER) is None
        _write_row(path, USER, json.dumps({"allow_training": False}))  # another process
        assert await store.get(USER) == Preferences(allow_training=False)
        _write_row(path, USER, json.dumps({"allow_training": True}))
        assert await store.get(USER) == Preferences(allow_training=True)
    finally:
        await store.aclose()


# --- stale and undecodable rows: the library --------------------------------------------------


@pytest.fixture
def lines() -> list[str]:
    return []


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "offline": True,
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "store-test-pseudonym-key-0123456789abcdef",
        "server": {"api_keys": [API_KEY], "admin_keys": [ADMIN_KEY]},
    }
    return Settings(**fields | overrides)


@pytest.fixture
async def router(tmp_path: Path, lines: list[str]) -> AsyncIterator[PolicyRouter]:
    async with PolicyRouter.from_settings(
        _settings(tmp_path), audit_log=AuditLog(lines.append)
    ) as built:
        await built.preferences.set("someone-else", Preferences())  # creates the file
        yield built


def _events(lines: list[str], event: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, lines) if r["event"] == event]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param('{"deny_providers": ["acme"]}', STALE, id="a deny of a provider now gone"),
        pytest.param(
            '{"allow_providers": ["acme", "openai"]}', STALE, id="an allow of a provider now gone"
        ),
        pytest.param(
            '{"max_retention": 30}',
            "stored preferences do not parse ('max_retention' must be 'none', a duration like "
            "'24h', '30d', '90d' or '2y', or 'unlimited' (got an integer, a number with no unit: write "
            "the unit, like '30d' or '24h')): requests for this user are refused until their "
            "preferences are set again or deleted",
            id="a row that does not decode",
        ),
    ],
)
async def test_acompletion__unusable_stored_row_is_refused_and_audited(
    router: PolicyRouter, tmp_path: Path, lines: list[str], row: str, message: str
) -> None:
    _write_row(tmp_path / "prefs.sqlite3", USER, row)
    with pytest.raises(StoredPreferencesInvalid) as caught:
        await router.preferences.get(USER)
    assert str(caught.value) == message
    assert USER not in str(caught.value)
    lines.clear()
    with pytest.raises(StoredPreferencesInvalid):
        await router.acompletion(
            model="GPT 4.1", messages=[{"role": "user", "content": "hi"}], user=USER
        )
    refused = _events(lines, "route.refused")
    assert [r["reason"] for r in refused] == ["StoredPreferencesInvalid"]
    assert _events(lines, "route.decision") == _events(lines, "route.attempt") == []
    assert USER not in "".join(lines)


async def test_set__repairs_a_row_that_does_not_decode(
    router: PolicyRouter, tmp_path: Path, lines: list[str]
) -> None:
    _write_row(tmp_path / "prefs.sqlite3", USER, "{not json")
    lines.clear()
    await router.preferences.set(USER, {"allow_training": False})
    assert await router.preferences.get(USER) == Preferences(allow_training=False)
    (changed,) = _events(lines, "preferences.changed")
    assert (changed["old"], changed["new"]) == (None, {"allow_training": False})


# --- stale and undecodable rows: over HTTP ----------------------------------------------------


@pytest.fixture
async def http(router: PolicyRouter, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(router, _settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        yield client


@pytest.mark.parametrize(
    "row", ['{"deny_providers": ["acme"]}', '{"max_retention": "3 weeks ago"}', "{not json"]
)
async def test_http__unusable_stored_row_is_a_server_fault_not_the_callers(
    http: httpx.AsyncClient, tmp_path: Path, lines: list[str], row: str
) -> None:
    _write_row(tmp_path / "prefs.sqlite3", USER, row)
    lines.clear()
    reply = await http.post(
        "/v1/chat/completions",
        json={"model": "GPT 4.1", "messages": [{"role": "user", "content": "hi"}], "user": USER},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert reply.status_code == 500
    error = reply.json()["error"]
    assert error["code"] == "stored_preferences_invalid"
    assert error["type"] == "server_error"
    assert error.get("param") is None
    assert [r["reason"] for r in _events(lines, "route.refused")] == ["StoredPreferencesInvalid"]
    assert _events(lines, "route.attempt") == []

    put = await http.put(
        f"/v1/users/{USER}/preferences",
        json={"allow_training": False},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert put.status_code == 200


async def test_http__locked_store_write_is_503_and_reads_still_answer(
    tmp_path: Path, lines: list[str]
) -> None:
    settings = _settings(tmp_path, store_timeout=0.3)
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        await router.preferences.set(USER, Preferences(allow_training=False))
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
            with _held_for_writing(tmp_path / "prefs.sqlite3"):
                started = time.monotonic()
                put = await http.put(
                    f"/v1/users/{USER}/preferences",
                    json={"allow_training": True},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                )
                waited = time.monotonic() - started
                chat = await http.post(
                    "/v1/chat/completions",
                    json={"model": "GPT 4.1", "messages": [{"role": "user", "content": "hi"}],
                          "user": USER},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )  # fmt: skip
    assert (put.status_code, put.json()["error"]["code"]) == (503, "preference_store_unavailable")
    assert waited < 3, waited  # bounded by POLICY_ROUTER_STORE_TIMEOUT=0.3, not SQLite's 10 s
    assert chat.status_code == 200  # reading needs no write lock
