"""Names a caller gives a model (router/_core/names.py): catalog names, litellm model strings,
and the closest names when none fits."""

from __future__ import annotations

import pytest

from router import UnknownModel, load_catalog
from router._core.catalog import Catalog
from router._core.names import closest, resolve
from tests._support.repo import CURRENT_CATALOG

STRINGS = {
    "openai/gpt-4.1": ("gpt-4-1/openai",),
    "azure/my-gpt41-deployment": ("gpt-4-1/azure",),
    "anthropic/claude-sonnet-4-5-20250929": (
        "claude-4-5-sonnet/anthropic",
        "claude-4-5-sonnet-reasoning/anthropic",
    ),
}
REACHES = {
    "openai": frozenset({"openai"}),
    "azure": frozenset({"azure", "azure_ai"}),
    "groq": frozenset({"groq"}),
    "anthropic": frozenset({"anthropic"}),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CURRENT_CATALOG)


@pytest.mark.parametrize(
    ("name", "model", "providers"),
    [
        pytest.param("GPT 4.1", "gpt-4-1", None, id="a display name: no restriction"),
        pytest.param("gpt-4.1", "gpt-4-1", None, id="a provider id: no restriction"),
        pytest.param("openai/gpt-4.1", "gpt-4-1", {"openai"}, id="a deployment string names its route"),
        pytest.param("azure/my-gpt41-deployment", "gpt-4-1", {"azure"}, id="an azure deployment names its route"),
        pytest.param("openai/GPT 4.1", "gpt-4-1", {"openai"}, id="prefix and a display name"),
        pytest.param("azure/gpt-4.1", "gpt-4-1", {"azure"}, id="prefix and a provider id"),
        pytest.param("groq/Kimi K2", "kimi-k2", {"groq"}, id="prefix and a name of another model"),
        pytest.param(
            "anthropic/claude-sonnet-4-5-20250929", "claude-4-5-sonnet", {"anthropic"},
            id="a string two routes share names the base model, not its variant",
        ),
    ],
)  # fmt: skip
def test_resolve__names_the_model_and_the_providers_it_restricts_to(
    catalog: Catalog, name: str, model: str, providers: set[str] | None
) -> None:
    named = resolve(catalog, name, strings=STRINGS, reaches=REACHES)

    assert named.model.slug == model
    assert named.providers == (None if providers is None else frozenset(providers))


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        pytest.param("gpt4.1", ("GPT 4.1",), id="a missing dash"),
        pytest.param("gpt-4o", ("GPT 4.1", "GPT 5"), id="a model the catalog lacks"),
        pytest.param("openai/gpt-4o", ("GPT 4.1", "GPT 5"), id="a litellm string of an unknown model"),
        pytest.param("nowhere/gpt-4.1", ("GPT 4.1",), id="a prefix that reaches no catalog provider"),
        pytest.param("kimi", ("Kimi K2",), id="a short name"),
    ],
)  # fmt: skip
def test_resolve__unknown_names_get_the_closest_catalog_names_never_their_own_text(
    catalog: Catalog, name: str, suggested: tuple[str, ...]
) -> None:
    with pytest.raises(UnknownModel) as caught:
        resolve(catalog, name, strings=STRINGS, reaches=REACHES)

    assert caught.value.suggestions[: len(suggested)] == suggested
    assert name not in str(caught.value)
    assert "Claude" not in str(caught.value)  # not the first five models of the catalog


def test_resolve__a_prefix_whose_provider_has_no_route_of_the_model_says_so(
    catalog: Catalog,
) -> None:
    with pytest.raises(UnknownModel) as caught:
        resolve(catalog, "groq/gpt-4.1", strings=STRINGS, reaches=REACHES)

    assert str(caught.value) == (
        "unknown model (a name of 12 characters): it names 'GPT 4.1' at Groq, where it has no "
        "route; its providers "
        "are OpenAI, Microsoft Azure: name the model alone, or with one of their litellm "
        "prefixes; closest catalog names: GPT 4.1"
    )


def test_closest__returns_known_spellings_best_first() -> None:
    assert closest("TEMPRATURE", ["top_p", "temperature"]) == ["temperature"]
    assert closest("zzz", ["temperature"]) == []
