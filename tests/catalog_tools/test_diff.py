"""The catalog diff: renames are never added + removed, routes and policies compare per route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router import load_catalog
from router._catalog_tools.diff import Change, ModelRef, Renamed, RoutesChanged, diff_catalogs
from router._core.catalog import Catalog
from router._core.catalog_load import build_catalog
from tests._support.repo import CURRENT_CATALOG, PREVIOUS_CATALOG

PROVIDERS = {"groq": {"name": "Groq"}, "nebius": {"name": "Nebius"}, "xai": {"name": "xAI"}}


def _catalog(
    models: dict[str, str],
    routes: list[dict[str, Any]],
    providers: tuple[str, ...] = ("groq", "nebius"),
) -> Catalog:
    return build_catalog(
        {
            "version": "v",
            "effective": "2025-11-20",
            "providers": {slug: PROVIDERS[slug] for slug in providers},
            "models": {slug: {"name": name} for slug, name in models.items()},
            "routes": routes,
        }
    )


def _entry(models: list[str], providers: list[str], **policy: Any) -> dict[str, Any]:
    return {
        "models": models,
        "providers": providers,
        "policy": {"trains_on_api_data": False, **policy},
    }


BASE = _catalog({"m": "Grok 3 mini"}, [_entry(["m"], ["groq"], retention="30d")])


def test_diff_catalogs__of_a_catalog_with_itself_is_empty() -> None:
    catalog = load_catalog(CURRENT_CATALOG)
    assert diff_catalogs(catalog, catalog).is_empty


RENAMES = [
    pytest.param(
        _catalog({"m": "Grok 3 Mini"}, [_entry(["m"], ["groq"], retention="30d")]),
        Renamed("m", "m", "Grok 3 mini", "Grok 3 Mini"),
        True,
        id="a case-only change of the display name is a case-only rename",
    ),
    pytest.param(
        _catalog({"m": "Grok Three Mini"}, [_entry(["m"], ["groq"], retention="30d")]),
        Renamed("m", "m", "Grok 3 mini", "Grok Three Mini"),
        False,
        id="a new display name under the same slug is a rename",
    ),
    pytest.param(
        _catalog(
            {"grok-3-mini": "GROK 3 MINI"}, [_entry(["grok-3-mini"], ["groq"], retention="30d")]
        ),
        Renamed("m", "grok-3-mini", "Grok 3 mini", "GROK 3 MINI"),
        True,
        id="a new slug under the same name in another case is a rename",
    ),
]


@pytest.mark.parametrize(("new", "renamed", "case_only"), RENAMES)
def test_diff_catalogs__reports_a_renamed_model_once(
    new: Catalog, renamed: Renamed, case_only: bool
) -> None:
    diff = diff_catalogs(BASE, new)
    assert diff.models_renamed == (renamed,)
    assert diff.models_renamed[0].case_only is case_only
    assert (diff.models_added, diff.models_removed, diff.policy_changes) == ((), (), ())


def test_diff_catalogs__reports_added_and_removed_models_with_their_providers() -> None:
    new = _catalog({"k": "Kimi K2"}, [_entry(["k"], ["groq", "nebius"])])
    diff = diff_catalogs(BASE, new)
    assert diff.models_added == (ModelRef("k", "Kimi K2", ("groq", "nebius")),)
    assert diff.models_removed == (ModelRef("m", "Grok 3 mini", ("groq",)),)


def test_diff_catalogs__reports_providers_added_and_removed_per_model_and_catalog() -> None:
    new = _catalog(
        {"m": "Grok 3 mini"}, [_entry(["m"], ["xai", "nebius"], retention="30d")], ("xai", "nebius")
    )
    diff = diff_catalogs(BASE, new)
    assert diff.routes_changed == (RoutesChanged("m", ("xai", "nebius"), ("groq",)),)
    assert (diff.providers_added, diff.providers_removed) == (("xai",), ("groq",))


POLICY_CHANGES = [
    pytest.param(
        {"retention": "none"}, Change("m/groq", "retention", "30d", "none"), id="retention"
    ),
    pytest.param(
        {"retention": "30d", "trains_on_api_data": True},
        Change("m/groq", "trains_on_api_data", False, True),
        id="training",
    ),
    pytest.param(
        {"retention": "30d", "flagged_retention": "2y"},
        Change("m/groq", "flagged_retention", None, "2y"),
        id="a flagged retention newly stated",
    ),
    pytest.param(
        {"retention": "30d", "user_identifier": "omit"},
        Change("m/groq", "user_identifier", None, "omit"),
        id="the user identifier rule",
    ),
    pytest.param(
        {"retention": "30d", "notes": [{"kind": "legal", "text": "t", "url": "https://l.example"}]},
        Change("m/groq", "notes", [], ["legal <https://l.example>"]),
        id="notes, by kind and link",
    ),
]


@pytest.mark.parametrize(("policy", "change"), POLICY_CHANGES)
def test_diff_catalogs__reports_each_changed_policy_field(
    policy: dict[str, Any], change: Change
) -> None:
    new = _catalog(
        {"m": "Grok 3 mini"},
        [
            {
                "models": ["m"],
                "providers": ["groq"],
                "policy": {"trains_on_api_data": False, **policy},
            }
        ],
    )
    assert diff_catalogs(BASE, new).policy_changes == (change,)


def test_diff_catalogs__ignores_the_wording_of_notes() -> None:
    def with_note(text: str) -> Catalog:
        note = {"kind": "legal", "text": text, "url": "https://l.example"}
        return _catalog({"m": "M"}, [_entry(["m"], ["groq"], notes=[note])])

    assert diff_catalogs(with_note("one way"), with_note("another way")).is_empty


def test_diff_catalogs__of_the_shipped_versions_names_what_the_page_changed() -> None:
    diff = diff_catalogs(load_catalog(PREVIOUS_CATALOG), load_catalog(CURRENT_CATALOG))
    assert diff.models_renamed == (
        Renamed("grok-3-mini", "grok-3-mini", "Grok 3 mini", "Grok 3 Mini"),
    )
    assert "grok-3-mini" not in {m.slug for m in (*diff.models_added, *diff.models_removed)}
    assert (diff.providers_added, diff.providers_removed) == (
        ("cerebras", "deepinfra"),
        ("amazon",),
    )
    assert RoutesChanged("o3", (), ("azure",)) in diff.routes_changed
    assert Change("o3/openai", "user_identifier", None, "omit") in diff.policy_changes
    assert diff.model_changes == ()


def test_diff_catalogs__reports_a_model_given_an_alias() -> None:
    new = build_catalog(
        {
            "version": "v",
            "effective": "2025-11-20",
            "providers": {"groq": PROVIDERS["groq"]},
            "models": {"m": {"name": "Grok 3 mini", "aliases": ["Mini"]}},
            "routes": [_entry(["m"], ["groq"], retention="30d")],
        }
    )
    assert diff_catalogs(BASE, new).model_changes == (Change("m", "aliases", [], ["Mini"]),)


def test_catalog_diff__to_dict_is_json_with_case_only_renames() -> None:
    new = _catalog({"m": "Grok 3 Mini"}, [_entry(["m"], ["groq"], retention="none")])
    data = json.loads(json.dumps(diff_catalogs(BASE, new).to_dict()))
    assert data["models_renamed"] == [
        {
            "old_slug": "m",
            "new_slug": "m",
            "old_name": "Grok 3 mini",
            "new_name": "Grok 3 Mini",
            "case_only": True,
        }
    ]
    assert data["policy_changes"] == [
        {"subject": "m/groq", "field": "retention", "old": "30d", "new": "none"}
    ]
    assert (data["old_version"], data["models_added"]) == ("v", [])
