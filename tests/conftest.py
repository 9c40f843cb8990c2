"""Test-wide setup: litellm offline and on httpx (so respx sees its traffic), settings isolated."""

from __future__ import annotations

import os

# Before anything imports litellm: no network fetch of price maps, httpx transport (respx-visible).
os.environ["LITELLM_OFFLINE_MODE"] = "true"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "True"

from pathlib import Path
from typing import Any

import pytest
import yaml

from router._core.catalog import Catalog, Note

REPO = Path(__file__).resolve().parent.parent
CURRENT_CATALOG = REPO / "policies" / "2025-11.yaml"
PREVIOUS_CATALOG = REPO / "policies" / "2025-06.yaml"
SEEDS = REPO.parent / "shared" / "seeds"
# Every variable config/routes.yaml names as a provider credential: a developer's real keys
# must never decide a test's outcome (or reach a mocked request).
PROVIDER_CREDENTIALS = frozenset(
    name
    for options in yaml.safe_load((REPO / "config" / "routes.yaml").read_text())[
        "credentials"
    ].values()
    for option in options
    for name in option
)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's POLICY_ROUTER_* settings, provider keys or .env file."""
    for name in list(os.environ):
        if name.startswith("POLICY_ROUTER_") or name in PROVIDER_CREDENTIALS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLICY_ROUTER_DATA_DIR", str(tmp_path / "data"))
    # Provider calls on httpx, where respx sees them (production's default is aiohttp).
    monkeypatch.setenv("POLICY_ROUTER_TRANSPORT", "httpx")


def facts(catalog: Catalog) -> dict[str, Any]:
    """A catalog's facts as plain data, to compare: everything but wording and version."""

    def notes(items: tuple[Note, ...]) -> list[list[str]]:
        return sorted([n.kind.value, n.url or ""] for n in items)

    return {
        "providers": {
            p.slug: {"name": p.name, "links": [k.to_dict() for k in p.links]}
            for p in catalog.providers
        },
        "models": {
            m.slug: {
                "name": m.name,
                "aliases": sorted(m.aliases),
                "params": dict(m.params),
                "variant_of": m.variant_of,
                "notes": notes(m.notes),
            }
            for m in catalog.models
        },
        "routes": {
            r.key: r.policy.to_dict() | {"notes": notes(r.policy.notes)} for r in catalog.routes
        },
    }
