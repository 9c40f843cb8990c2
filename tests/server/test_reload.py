"""Reloading the catalog and the deployment without a restart: ``PolicyRouter.reload``,
``POST /admin/reload`` and SIGHUP.

The new files are validated whole and put in force at once; a request already started
finishes under the version it started with; an invalid catalog is refused with the loader's
message and the old one stays.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from router._audit import AuditLog
from router._config.settings import Settings, current_catalog_path, shipped_dir
from router._core.catalog_load import load_catalog
from router._errors import CatalogError, ConfigError
from router._router import PolicyRouter
from router._server.app import create_app
from router._server.operations import reload_on_sighup

API_KEY: Final = "test-api-key-0001-long"
ADMIN_KEY: Final = "test-admin-key-0001-long"
HELLO: Final = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    shutil.copy(current_catalog_path(), path)
    return path


@pytest.fixture
def settings(tmp_path: Path, catalog_file: Path) -> Settings:
    deployment = tmp_path / "routes.yaml"
    shutil.copy(shipped_dir("config") / "routes.yaml", deployment)
    return Settings(
        offline=True,
        catalog=catalog_file,
        deployment=deployment,
        store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
        server={"api_keys": [API_KEY], "admin_keys": [ADMIN_KEY]},
    )


@pytest.fixture
def records() -> list[str]:
    return []


@pytest.fixture
async def router(settings: Settings, records: list[str]) -> AsyncIterator[PolicyRouter]:
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(records.append)) as r:
        yield r


@pytest.fixture
async def http(router: PolicyRouter, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(router, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        yield client


def new_version(path: Path, version: str = "2025-12") -> None:
    text = path.read_text()
    path.write_text(text.replace('version: "2025-11"', f'version: "{version}"', 1))


def rewrite(path: Path, old: str | None, new: str) -> None:
    """Replace ``old`` by ``new`` in the file, or (``old`` None) its whole text by ``new``."""
    path.write_text(new if old is None else path.read_text().replace(old, new, 1))


def rename_everywhere(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def events(records: list[str], name: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, records) if r["event"] == name]


def auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the library ---------------------------------------------------------------------------


async def test_reload__puts_the_new_catalog_in_force_and_audits_it(
    router: PolicyRouter, catalog_file: Path, records: list[str]
) -> None:
    before = router.catalog
    new_version(catalog_file)
    old, new = router.reload(actor="test")
    assert (old, new.version) == (before, "2025-12")
    assert router.catalog is new
    [loaded] = events(records, "catalog.loaded")
    assert {k: loaded[k] for k in ("actor", "old_label", "old_hash", "new_label", "new_hash")} == {
        "actor": "test",
        "old_label": before.label,
        "old_hash": before.content_hash,
        "new_label": new.label,
        "new_hash": new.content_hash,
    }
    assert loaded["catalog_version"] == new.label
    await router.acompletion("GPT 4.1", HELLO)
    assert events(records, "route.decision")[-1]["catalog_version"] == new.label


async def test_reload__invalid_catalog_is_refused_and_the_old_stays(
    router: PolicyRouter, catalog_file: Path, records: list[str]
) -> None:
    before = router.catalog
    rewrite(catalog_file, "effective: 2025-11-20\n", "")
    with pytest.raises(CatalogError) as expected:
        load_catalog(catalog_file)
    with pytest.raises(CatalogError) as caught:
        router.reload()
    assert str(caught.value) == str(expected.value)
    assert router.catalog is before
    assert events(records, "catalog.loaded") == []
    await router.acompletion("GPT 4.1", HELLO)  # still serving under the old catalog


async def test_reload__invalid_deployment_is_refused_and_the_old_stays(
    router: PolicyRouter, settings: Settings
) -> None:
    before = router.loaded
    rewrite(settings.deployment, None, "routes: [not, a, mapping]\n")
    with pytest.raises(ConfigError, match=r"routes\.yaml: routes"):
        router.reload()
    assert router.loaded is before


async def test_reload__a_started_stream_finishes_under_its_version(
    router: PolicyRouter, catalog_file: Path, records: list[str]
) -> None:
    old_label = router.catalog.label
    stream = await router.acompletion("GPT 4.1", HELLO, stream=True)
    new_version(catalog_file)
    _, new = router.reload()
    chunks = [chunk async for chunk in stream]
    assert chunks
    attempts = events(records, "route.attempt")
    assert [a["catalog_version"] for a in attempts] == [old_label]
    await router.acompletion("GPT 4.1", HELLO)
    assert events(records, "route.attempt")[-1]["catalog_version"] == new.label


# --- the proxy -----------------------------------------------------------------------------


async def test_admin_reload__200_with_old_and_new(
    http: httpx.AsyncClient, router: PolicyRouter, catalog_file: Path, records: list[str]
) -> None:
    old = router.catalog
    new_version(catalog_file)
    response = await http.post("/admin/reload", headers=auth())
    assert response.status_code == 200
    new = router.catalog
    assert response.json() == {
        "status": "reloaded",
        "old": {"label": old.label, "hash": old.content_hash},
        "new": {"label": new.label, "hash": new.content_hash},
        "servable_routes": len(new.routes),
    }
    assert events(records, "catalog.loaded")[0]["actor"] == "admin-key-0"
    health = await http.get("/healthz")
    assert health.json()["catalog_version"] == new.label
    metrics = (await http.get("/metrics", headers=auth())).text
    assert f'policy_router_catalog_info{{label="{new.label}",version="2025-12"}} 1.0' in metrics
    assert f'policy_router_catalog_info{{label="{old.label}",version="2025-11"}} 0.0' in metrics


async def test_admin_reload__invalid_catalog_409_with_the_loaders_message(
    http: httpx.AsyncClient, router: PolicyRouter, catalog_file: Path
) -> None:
    before = router.catalog
    rewrite(catalog_file, None, "version: 2025-12\n")
    with pytest.raises(CatalogError) as expected:
        load_catalog(catalog_file)
    response = await http.post("/admin/reload", headers=auth())
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "reload_refused"
    assert error["message"] == f"reload refused, the catalog in force is kept: {expected.value}"
    assert router.catalog is before
    chat = {"model": "GPT 4.1", "messages": HELLO}
    ok = await http.post("/v1/chat/completions", json=chat, headers=auth(API_KEY))
    assert ok.status_code == 200


@pytest.mark.parametrize(("key", "status"), [(None, 401), (API_KEY, 403)])
async def test_admin_reload__admin_key_only(
    http: httpx.AsyncClient, router: PolicyRouter, key: str | None, status: int
) -> None:
    response = await http.post("/admin/reload", headers=auth(key) if key else {})
    assert response.status_code == status


async def test_sighup__reloads_on_the_event_loop(
    router: PolicyRouter, catalog_file: Path, records: list[str]
) -> None:
    previous = signal.getsignal(signal.SIGHUP)
    chained: list[int] = []
    signal.signal(signal.SIGHUP, lambda signum, _frame: chained.append(signum))
    try:
        reload_on_sighup(router)
        new_version(catalog_file, "2026-01")
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if router.catalog.version == "2026-01":
                break
            await asyncio.sleep(0.01)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert router.catalog.version == "2026-01"
    assert events(records, "catalog.loaded")[0]["actor"] == "sighup"
    assert chained == [signal.SIGHUP]  # the previous handler (the audit file's reopen) still runs


async def test_sighup__an_invalid_catalog_is_logged_and_the_old_stays(
    router: PolicyRouter, catalog_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = router.catalog
    rewrite(catalog_file, None, "version: 2026-02\n")
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(router)
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            if any("reload refused" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert router.catalog is before
    [refused] = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert refused.startswith(f"reload refused (sighup), {before.label} stays in force: ")


async def test_reload__a_provider_the_settings_name_is_gone(
    tmp_path: Path, catalog_file: Path, settings: Settings
) -> None:
    named = settings.model_copy(update={"provider_priority": ["deepinfra"]})
    async with PolicyRouter.from_settings(named, audit_log=AuditLog([].append)) as router:
        rename_everywhere(catalog_file, "deepinfra", "deepinfra-renamed")
        rename_everywhere(catalog_file, "DeepInfra", "DeepInfra Renamed")
        with pytest.raises(ConfigError) as caught:
            router.reload()
    assert str(caught.value).startswith("the new catalog has no provider 'deepinfra'")
