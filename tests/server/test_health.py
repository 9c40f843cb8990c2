"""Honest start-up and health: the deployment's gaps are named, never read as policy.

A request whose every route is rejected only because the deployment cannot reach it (no
credentials, no model string) is BackendsUnconfigured (503 ``backends_unconfigured``), not a
policy refusal; ``/readyz`` counts the servable routes; ``serve`` logs one line per provider.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import httpx
import pytest

from router import BackendsUnconfigured, PolicyViolation
from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.app import create_app
from router._server.startup import log_startup, provider_lines
from tests._support.wire import FAKE_CREDENTIALS

API_KEY: Final = "test-api-key-0001-long"
ADMIN_KEY: Final = "test-admin-key-0001-long"
HELLO: Final = [{"role": "user", "content": "Say hello."}]


def online(tmp_path: Path, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "offline": False,
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
        "server": {"api_keys": [API_KEY], "admin_keys": [ADMIN_KEY]},
    }
    return Settings(**(fields | overrides))


@pytest.fixture
def records() -> list[str]:
    return []


@pytest.fixture
async def router(tmp_path: Path, records: list[str]) -> AsyncIterator[PolicyRouter]:
    async with PolicyRouter.from_settings(
        online(tmp_path), audit_log=AuditLog(records.append)
    ) as built:
        yield built


@pytest.fixture
async def http(router: PolicyRouter, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(router, online(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        yield client


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the library ---------------------------------------------------------------------------


async def test_no_credentials__backends_unconfigured_also_a_policy_violation(
    router: PolicyRouter, records: list[str]
) -> None:
    with pytest.raises(BackendsUnconfigured) as caught:
        await router.acompletion("GPT 4.1", HELLO)
    assert isinstance(caught.value, PolicyViolation)  # callers' except clauses keep working
    assert str(caught.value).startswith(
        "no route of 'GPT 4.1' can be served by this deployment: OpenAI: no credentials: "
        "set OPENAI_API_KEY; Microsoft Azure: no credentials: set AZURE_API_KEY and AZURE_API_BASE"
    )
    assert '"reason":"BackendsUnconfigured"' in records[-1]


async def test_policy_and_deployment_both__stays_a_policy_violation(
    router: PolicyRouter,
) -> None:
    """OpenAI is refused by the policy: the deployment is not the only reason."""
    with pytest.raises(PolicyViolation) as caught:
        await router.acompletion("GPT 4.1", HELLO, privacy={"deny_providers": ["OpenAI"]})
    assert not isinstance(caught.value, BackendsUnconfigured)


async def test_credentials_set_but_policy_refuses__policy_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_CREDENTIALS["OPENAI_API_KEY"])
    async with PolicyRouter.from_settings(online(tmp_path), audit_log=AuditLog([].append)) as r:
        with pytest.raises(PolicyViolation) as caught:
            await r.acompletion("GPT 4.1", HELLO, privacy={"deny_providers": ["OpenAI"]})
    assert not isinstance(caught.value, BackendsUnconfigured)


def test_dropin__backends_unconfigured_is_litellms_service_unavailable(
    router: PolicyRouter,
) -> None:
    import litellm  # noqa: TID251

    from router._core.decision import decide
    from router._upstream.compat import compatible

    model = router.catalog.model("GPT 4.1")
    decision = decide(
        model,
        router.catalog.routes_of(model),
        router.loaded.org,
        unavailable=router.loaded.unavailable,
    )
    error = compatible(BackendsUnconfigured(decision, []))
    assert isinstance(error, litellm.ServiceUnavailableError)
    assert isinstance(error, BackendsUnconfigured)
    assert getattr(error, "status_code", None) == 503


# --- the proxy -----------------------------------------------------------------------------


async def test_chat__no_credentials_is_503_backends_unconfigured(http: httpx.AsyncClient) -> None:
    body = {"model": "GPT 4.1", "messages": HELLO}
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "backends_unconfigured"
    assert error["unconfigured"] == [
        {"route": "gpt-4-1/openai", "provider": "openai"},
        {"route": "gpt-4-1/azure", "provider": "azure"},
    ]
    assert "OPENAI_API_KEY" not in response.text  # what to set is in the operator's log


async def test_chat__policy_refusal_stays_403(http: httpx.AsyncClient) -> None:
    body = {"model": "GPT 4.1", "messages": HELLO, "privacy": {"deny_providers": ["OpenAI"]}}
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert (response.status_code, response.json()["error"]["code"]) == (403, "policy_violation")
    azure = next(r for r in response.json()["error"]["rejected"] if r["provider"] == "azure")
    assert azure["reasons"] == ["it is not configured on this server (the operator's log says why)"]
    assert "AZURE_API_KEY" not in response.text  # what the operator lacks is in their log


async def test_readyz__no_servable_route_is_503_with_the_count(
    http: httpx.AsyncClient, router: PolicyRouter
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "catalog_version": router.catalog.label,
        "checks": {"catalog": "ok", "preference_store": "ok", "backends": "none servable"},
        "servable_routes": 0,
    }


async def test_readyz__counts_servable_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_CREDENTIALS["OPENAI_API_KEY"])
    settings = online(tmp_path)
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog([].append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            response = await client.get("/readyz")
        openai_routes = [r for r in router.catalog.routes if r.provider.slug == "openai"]
    assert response.status_code == 200
    assert response.json()["servable_routes"] == len(openai_routes) > 0


# --- start-up lines ------------------------------------------------------------------------


async def test_provider_lines__names_variables_never_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = online(tmp_path, providers={"openai": {"api_base": "http://127.0.0.1:9/v1"}})
    secret = FAKE_CREDENTIALS["OPENAI_API_KEY"]
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog([].append)) as r:
        lines = provider_lines(r.loaded, settings, os.environ)
    by_provider = {line.split()[1]: line for line in lines}
    assert len(lines) == len(r.catalog.providers)
    assert by_provider["openai"] == (
        "provider openai (OpenAI): 12 of 12 routes servable; openai: credentials found "
        "(OPENAI_API_KEY); api_base http://127.0.0.1:9/v1"
    )
    assert by_provider["anthropic"] == (
        "provider anthropic (Anthropic): 0 of 6 routes servable; anthropic: credentials "
        "missing (set ANTHROPIC_API_KEY); api_base litellm's default"
    )
    assert all(secret not in line for line in lines)


def test_log_startup__warns_when_nothing_can_be_served(
    router: PolicyRouter, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.INFO, logger="router.startup"):
        log_startup(router.loaded, online(tmp_path), {})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "no route of the catalog can be served: every chat request will be answered 503 "
        "backends_unconfigured until the credentials above are set (or POLICY_ROUTER_OFFLINE=true)"
    ]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 + len(router.catalog.providers)


def test_provider_lines__offline_no_target_and_no_credentials_declared(
    router: PolicyRouter, tmp_path: Path
) -> None:
    loaded = router.loaded
    offline = provider_lines(loaded, online(tmp_path, offline=True), {})
    assert offline[0].endswith(
        "offline: credentials not needed, no provider is contacted; api_base litellm's default"
    )
    no_targets = replace(
        loaded, deployment=replace(loaded.deployment, targets=MappingProxyType({}))
    )
    assert (
        "; no route has a litellm model string in the deployment;"
        in (provider_lines(no_targets, online(tmp_path), {})[0])
    )
    undeclared = replace(
        loaded, deployment=replace(loaded.deployment, credentials=MappingProxyType({}))
    )
    assert (
        "; anthropic: no credentials declared;"
        in (provider_lines(undeclared, online(tmp_path), {})[0])
    )
