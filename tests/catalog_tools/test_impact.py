"""``catalog diff --impact``: which stored users a new catalog would leave without a route."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from router import Catalog, Preferences, load_catalog
from router._catalog_tools.impact import impact
from router._core.pseudonym import Pseudonymizer
from router._store import open_store
from router.cli import app
from tests._support.repo import CURRENT_CATALOG

PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"
OPENAI_ENTRY = (
    "      trains_on_api_data: false\n      retention: 30d\n      notes:\n        - kind: legal"
)


@pytest.fixture(scope="module")
def old() -> Catalog:
    return load_catalog(CURRENT_CATALOG)


@pytest.fixture(scope="module")
def new(old: Catalog) -> Catalog:
    """GPT 4.1 now trains on API data; DeepInfra is gone."""
    routes = tuple(
        replace(r, policy=replace(r.policy, trains_on_api_data=True))
        if r.model.slug == "gpt-4-1"
        else r
        for r in old.routes
        if r.provider.slug != "deepinfra"
    )
    providers = tuple(p for p in old.providers if p.slug != "deepinfra")
    return replace(old, version="2025-12", routes=routes, providers=providers)


USERS = [
    ("no-training", Preferences.from_dict({"allow_training": False})),
    ("relaxed", Preferences()),
    ("deepinfra-only", Preferences.from_dict({"allow_providers": ["deepinfra"]})),
]


def test_impact__users_losing_a_model_and_those_refused_under_the_new_catalog(
    old: Catalog, new: Catalog
) -> None:
    found = impact(old, new, Preferences(), USERS)
    assert found.users_checked == 3
    assert {m: u for m, u in found.lost.items() if u} == {
        "gpt-4-1": ("no-training",),
    }
    assert found.lost_every_model == ()
    assert found.invalid_under_new == ("deepinfra-only",)
    assert found.org_lost == ()


def test_impact__models_named_and_every_model_lost(old: Catalog, new: Catalog) -> None:
    found = impact(old, new, Preferences(), USERS, models=["GPT 4.1", "Claude 4.5 Sonnet"])
    assert found.models == ("gpt-4-1", "claude-4-5-sonnet")
    assert found.lost == {"gpt-4-1": ("no-training",), "claude-4-5-sonnet": ()}
    assert found.lost_every_model == ()
    only = impact(old, new, Preferences(), USERS, models=["GPT 4.1"])
    assert only.lost_every_model == ("no-training",)


def test_impact__the_operators_policy_alone(old: Catalog, new: Catalog) -> None:
    found = impact(old, new, Preferences.from_dict({"allow_training": False}), [])
    assert found.org_lost == ("gpt-4-1",)
    assert found.to_dict(with_users=False)["lost_by_operator_policy_alone"] == ["gpt-4-1"]


def test_impact__counts_without_users_unless_asked(old: Catalog, new: Catalog) -> None:
    found = impact(old, new, Preferences(), USERS)
    assert found.to_dict(with_users=False)["lost_by_model"] == {"gpt-4-1": {"count": 1}}
    assert found.to_dict(with_users=True)["lost_by_model"] == {
        "gpt-4-1": {"count": 1, "users": ["no-training"]}
    }


# --- the command, against a SQLite store ----------------------------------------------------


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'prefs.sqlite3'}"

    async def fill() -> None:
        store = await open_store(url)
        await store.set("carol@example.com", Preferences.from_dict({"max_retention": "30d"}))
        await store.set("dave@example.com", Preferences())
        await store.aclose()

    asyncio.run(fill())
    monkeypatch.setenv("POLICY_ROUTER_STORE_URL", url)
    monkeypatch.setenv("POLICY_ROUTER_PSEUDONYM_KEY", PSEUDONYM_KEY)
    return {"COLUMNS": "200"}


@pytest.fixture
def longer_retention(tmp_path: Path) -> Path:
    """OpenAI's and Azure's GPT routes keep data 90 days instead of 30."""
    text = CURRENT_CATALOG.read_text(encoding="utf-8")
    assert text.count(OPENAI_ENTRY) == 1
    path = tmp_path / "new.yaml"
    path.write_text(
        text.replace(OPENAI_ENTRY, OPENAI_ENTRY.replace("30d", "90d")).replace(
            'version: "2025-11"', 'version: "2025-12"'
        ),
        encoding="utf-8",
    )
    return path


def _run(env: dict[str, str], *args: str | Path) -> Result:
    return CliRunner().invoke(app, ["catalog", "diff", *map(str, args)], env=env)


def test_cli_impact__json_counts_then_pseudonyms_with_users(
    store_env: dict[str, str], longer_retention: Path
) -> None:
    result = _run(store_env, CURRENT_CATALOG, longer_retention, "--impact", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["impact"]
    assert found["users_checked"] == 2
    assert found["lost_by_model"]["gpt-4-1"] == {"count": 1}
    assert "o4-mini" in found["lost_by_model"]
    assert "carol" not in result.stdout
    named = _run(store_env, CURRENT_CATALOG, longer_retention, "--impact", "--json", "--users")
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode()).for_audit("carol@example.com")
    assert json.loads(named.stdout)["impact"]["lost_by_model"]["gpt-4-1"] == {
        "count": 1,
        "users": [pseudonym],
    }
    assert "carol" not in named.stdout


def test_cli_impact__table_and_unknown_model(
    store_env: dict[str, str], longer_retention: Path
) -> None:
    result = _run(store_env, CURRENT_CATALOG, longer_retention, "--impact", "--model", "GPT 4.1")
    assert result.exit_code == 0, result.stderr
    assert "impact on 2 users with stored preferences (2025-11 → 2025-12)" in result.stdout
    assert "every allowed route of gpt-4-1" in result.stdout
    unknown = _run(store_env, CURRENT_CATALOG, longer_retention, "--impact", "--model", "GPT 9")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: unknown model (a name of 5 characters)")


def test_impact__refused_under_the_old_catalog_already_loses_nothing(
    old: Catalog, new: Catalog
) -> None:
    """Backwards: the 'old' catalog lacks DeepInfra, so its fan was refused already."""
    found = impact(new, old, Preferences(), USERS)
    assert found.invalid_under_new == ()
    assert found.lost_every_model == ()
    assert all(not users for users in found.lost.values())


def test_impact__an_operator_policy_naming_a_vanished_provider_loses_every_model(
    old: Catalog, new: Catalog
) -> None:
    org = Preferences.from_dict({"allow_providers": ["deepinfra"]})
    found = impact(old, new, org, [("relaxed", Preferences())])
    kimi = {"kimi-k2", "kimi-k2-thinking"}
    assert set(found.org_lost) == kimi
    assert {m for m, users in found.lost.items() if users} == kimi
    assert found.lost_every_model == ("relaxed",)
