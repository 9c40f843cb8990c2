"""``GET /metrics``: the counters and histograms after a known sequence of requests.

Offline requests (litellm's mock response) for the plain counts; respx on the providers'
wire for a failover. Labels are slugs, outcomes and reason classes: never a user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.app import create_app
from tests._support.wire import mock_provider, use_fake_credentials

API_KEY: Final = "test-api-key-0001-long"
ADMIN_KEY: Final = "test-admin-key-0001-long"
USER: Final = "alice@example.com"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "offline": True,
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
        "server": {"api_keys": [API_KEY], "admin_keys": [ADMIN_KEY]},
    }
    return Settings(**(fields | overrides))


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog([].append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            yield client


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(make_settings(tmp_path)):
        yield client


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(model: str = "GPT 4.1", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Say hello."}]} | fields


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample: (name, labels) -> value."""
    response = await http.get("/metrics", headers=auth(ADMIN_KEY))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics__counts_after_a_known_sequence(http: httpx.AsyncClient) -> None:
    for _ in range(2):
        ok = await http.post("/v1/chat/completions", json=chat(user=USER), headers=auth())
        assert ok.status_code == 200
    for _ in range(2):  # two streams: the first chunk's histogram found, then reused
        async with http.stream(
            "POST", "/v1/chat/completions", json=chat(stream=True), headers=auth()
        ) as streamed:
            assert streamed.status_code == 200
            await streamed.aread()
    unknown = await http.post("/v1/chat/completions", json=chat("No Such Model"), headers=auth())
    assert unknown.status_code == 404
    refused = chat(privacy={"deny_providers": ["OpenAI", "Microsoft Azure"]})
    assert (
        await http.post("/v1/chat/completions", json=refused, headers=auth())
    ).status_code == 403

    m = await scrape(http)
    gpt = "gpt-4-1"
    assert value(m, "policy_router_requests_total", model=gpt, outcome="ok") == 4
    assert value(m, "policy_router_requests_total", model=gpt, outcome="refused") == 1
    assert value(m, "policy_router_requests_total", model="unknown", outcome="refused") == 1
    assert value(m, "policy_router_refusals_total", model=gpt, reason="policy") == 1
    assert value(m, "policy_router_refusals_total", model="unknown", reason="unknown_model") == 1
    assert value(m, "policy_router_decisions_total", model=gpt, verdict="allowed") == 4
    assert value(m, "policy_router_decisions_total", model=gpt, verdict="refused") == 1
    attempts = {"model": gpt, "provider": "openai", "outcome": "ok"}
    assert value(m, "policy_router_attempts_total", **attempts) == 4
    assert value(m, "policy_router_upstream_seconds_count", **attempts) == 4
    first = {"model": gpt, "provider": "openai"}
    assert value(m, "policy_router_upstream_first_chunk_seconds_count", **first) == 2
    assert value(m, "policy_router_overhead_seconds_count") == 4
    assert 0 < value(m, "policy_router_overhead_seconds_sum") < 4
    assert value(m, "policy_router_store_read_seconds_count", outcome="ok") == 2
    assert value(m, "policy_router_store_errors_total") == 0
    assert value(m, "policy_router_failovers_total", **first) == 0
    info = [k for k in m if k[0] == "policy_router_catalog_info"]
    assert len(info) == 1
    assert dict(info[0][1])["version"] == "2025-11"
    assert m[info[0]] == 1


async def test_metrics__never_a_user_label(http: httpx.AsyncClient) -> None:
    await http.post("/v1/chat/completions", json=chat(user=USER), headers=auth())
    response = await http.get("/metrics", headers=auth(ADMIN_KEY))
    assert "alice" not in response.text
    names = {n for n, labels in (await scrape(http)) for n, _ in labels}
    assert names <= {"model", "provider", "outcome", "reason", "verdict", "version", "label", "le"}


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


async def test_metrics__failover_and_attempt_outcomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter
) -> None:
    use_fake_credentials(monkeypatch)
    mock_provider(wire, "openai", status=500, error="upstream exploded")
    mock_provider(wire, "azure")
    async for http in client_for(make_settings(tmp_path, offline=False)):
        response = await http.post("/v1/chat/completions", json=chat(), headers=auth())
        assert response.status_code == 200
        m = await scrape(http)
    gpt = "gpt-4-1"
    assert value(m, "policy_router_failovers_total", model=gpt, provider="openai") == 1
    assert (
        value(m, "policy_router_attempts_total", model=gpt, provider="openai", outcome="server")
        == 1
    )
    assert value(m, "policy_router_attempts_total", model=gpt, provider="azure", outcome="ok") == 1
    assert value(m, "policy_router_requests_total", model=gpt, outcome="ok") == 1


async def test_metrics__store_errors_counted(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, store_url="postgresql://nobody@127.0.0.1:1/none", store_timeout=0.5
    )
    async for http in client_for(settings):
        response = await http.post("/v1/chat/completions", json=chat(user=USER), headers=auth())
        assert response.status_code == 503
        m = await scrape(http)
    assert value(m, "policy_router_store_errors_total") == 1
    assert value(m, "policy_router_store_read_seconds_count", outcome="error") == 1
    assert (
        value(m, "policy_router_refusals_total", model="gpt-4-1", reason="store_unavailable") == 1
    )


@pytest.mark.parametrize(("key", "status"), [(None, 401), (API_KEY, 403)])
async def test_metrics__admin_key_only(
    http: httpx.AsyncClient, key: str | None, status: int
) -> None:
    response = await http.get("/metrics", headers=auth(key) if key else {})
    assert response.status_code == status
