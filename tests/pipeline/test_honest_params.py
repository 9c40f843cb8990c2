"""Honest parameters: what a route drops (litellm's drop_params) or the catalog fixes is named
in the attempt's audit record and a response header; ``require_parameters`` rejects, in the
decision, every route that would drop one; a caller's value against a fixed one is refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from router._audit import AuditLog
from router._config.settings import Settings
from router._core.catalog_load import load_catalog
from router._core.decision import decide
from router._core.preferences import Preferences, combine
from router._errors import InvalidRequest, PolicyViolation
from router._router import PolicyRouter
from router._upstream.deployment import Target
from router._upstream.params import unsupported
from tests._support.proxy import Proxy, auth, chat, proxy
from tests._support.repo import CURRENT_CATALOG, REPO

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Proxy]:
    async with proxy(tmp_path) as running:
        yield running


def attempts(lines: list[str]) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, lines) if r["event"] == "route.attempt"]


# --- what a route drops -------------------------------------------------------------------


def test_unsupported__names_what_litellm_drops_for_anthropic_and_nothing_for_openai() -> None:
    asked = ["n", "logprobs", "seed", "presence_penalty", "temperature", "user", "stream_options"]
    claude = Target("anthropic/claude-sonnet-4-5-20250929")
    assert unsupported(claude, asked) == ("logprobs", "n", "presence_penalty", "seed")
    assert unsupported(Target("openai/gpt-4.1"), asked) == ()


async def test_dropped__named_in_the_attempt_record_and_the_header(served: Proxy) -> None:
    body = chat(model="Claude 4.5 Sonnet", n=2, seed=7, logprobs=True, temperature=0.2)
    response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 200
    assert response.headers["x-router-dropped-params"] == "logprobs, n, seed"
    [attempt] = attempts(served.audit_lines)
    assert attempt["dropped_params"] == ["logprobs", "n", "seed"]


async def test_dropped__nothing_dropped_no_header_no_field(served: Proxy) -> None:
    response = await served.http.post("/v1/chat/completions", json=chat(n=2), headers=auth())
    assert "x-router-dropped-params" not in response.headers
    assert "dropped_params" not in attempts(served.audit_lines)[0]


async def test_dropped__library_response_says_so_where_litellm_callers_look(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    settings = Settings(
        offline=True,
        store_url=f"sqlite:///{tmp_path / 'p.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
    )
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        response = await router.acompletion("Claude 4.5 Sonnet", HI, seed=1)
    assert response._hidden_params["policy_router"]["dropped_params"] == ["seed"]
    assert attempts(lines)[0]["dropped_params"] == ["seed"]


# --- require_parameters -------------------------------------------------------------------


def test_decide__require_parameters_rejects_the_routes_that_would_drop_with_the_reason() -> None:
    catalog = load_catalog(CURRENT_CATALOG)
    model = catalog.model("GPT 4.1")
    dropped = {"gpt-4-1/azure": ("service_tier",)}
    routes = catalog.routes_of(model)
    strict = decide(model, routes, Preferences(require_parameters=True), dropped=dropped)
    assert [r.key for r in strict.allowed] == ["gpt-4-1/openai"]
    assert strict.rejected[0].reasons == (
        "it would drop service_tier, which it does not support, and require_parameters is true",
    )
    lenient = decide(model, routes, Preferences(), dropped=dropped)
    assert len(lenient.allowed) == 2


def test_require_parameters__any_layer_requiring_it_wins() -> None:
    assert combine(Preferences(require_parameters=True), Preferences(require_parameters=False))
    assert combine(Preferences(), Preferences(require_parameters=False)).require_parameters is False


async def test_require_parameters__in_privacy_refuses_a_model_whose_every_route_drops(
    served: Proxy,
) -> None:
    body = chat(model="Claude 4.5 Sonnet", n=2, privacy={"require_parameters": True})
    response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    reasons = {r["route"]: r["reasons"] for r in error["rejected"]}
    assert reasons["claude-4-5-sonnet/anthropic"] == [
        "it would drop n, which it does not support, and require_parameters is true"
    ]
    assert attempts(served.audit_lines) == []  # nothing was sent


async def test_require_parameters__keeps_the_routes_that_honour_everything(
    served: Proxy,
) -> None:
    body = chat(model="GPT 4.1", n=2, privacy={"require_parameters": True})
    response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 200
    assert response.headers["x-router-route"] == "gpt-4-1/openai"


async def test_require_parameters__as_the_operators_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_ORG__REQUIRE_PARAMETERS", "true")
    async with proxy(tmp_path) as running:
        body = chat(model="Claude 4.5 Sonnet", seed=3)
        response = await running.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 403
    decision = next(
        r for r in map(json.loads, running.audit_lines) if r["event"] == "route.decision"
    )
    assert decision["preferences"]["require_parameters"] is True


# --- fixed parameters ---------------------------------------------------------------------


async def test_fixed__a_conflicting_value_is_refused_naming_both(served: Proxy) -> None:
    body = chat(model="Claude 4.5 Sonnet (reasoning)", reasoning_effort="high")
    response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "reasoning_effort"
    assert error["message"] == (
        "'reasoning_effort': the request's value (a string of 4 characters) conflicts with model 'Claude 4.5 Sonnet "
        "(reasoning)', which fixes reasoning_effort='medium' (its catalog params); leave "
        "'reasoning_effort' out, or ask for 'Claude 4.5 Sonnet' to choose it yourself"
    )
    assert attempts(served.audit_lines) == []


async def test_fixed__the_same_value_is_fine(served: Proxy) -> None:
    body = chat(model="Claude 4.5 Sonnet (reasoning)", reasoning_effort="medium")
    response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 200
    assert "x-router-overridden-params" not in response.headers


async def test_fixed__library_raises_invalid_request(tmp_path: Path) -> None:
    async with proxy(tmp_path) as running:
        with pytest.raises(InvalidRequest, match="fixes reasoning_effort='medium'"):
            await running.router.acompletion(
                "Claude 4.5 Sonnet (reasoning)", HI, reasoning_effort="low"
            )
        with pytest.raises(PolicyViolation):
            await running.router.acompletion(
                "Claude 4.5 Sonnet", HI, n=2, privacy={"require_parameters": True}
            )


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    """The shipped deployment, with a temperature fixed on GPT 4.1's OpenAI route."""
    shipped = (REPO / "config" / "routes.yaml").read_text()
    line = "  gpt-4-1: {openai: openai/gpt-4.1, azure: azure/gpt-4.1}"
    assert line in shipped
    fixed = "  gpt-4-1: {openai: {model: openai/gpt-4.1, params: {temperature: 0}}, azure: azure/gpt-4.1}"
    path = tmp_path / "routes.yaml"
    path.write_text(shipped.replace(line, fixed))
    return path


async def test_overridden__a_routes_own_fixed_params_are_named(
    tmp_path: Path, deployment: Path
) -> None:
    async with proxy(tmp_path, deployment=deployment) as running:
        body = chat(temperature=0.5, top_p=0.9)
        response = await running.http.post("/v1/chat/completions", json=body, headers=auth())
        same = await running.http.post(
            "/v1/chat/completions", json=chat(temperature=0), headers=auth()
        )
    assert response.headers["x-router-overridden-params"] == "temperature"
    assert attempts(running.audit_lines)[0]["overridden_params"] == ["temperature"]
    assert "x-router-overridden-params" not in same.headers
