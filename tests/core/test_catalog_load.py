"""Loading the catalog: every validation error with its exact message, look-ups, and the
most restrictive reading of whatever the catalog leaves unstated."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import CatalogError, DataPolicy, UnknownModel, UnknownProvider, load_catalog
from router._core.catalog import Catalog, UserIdentifier
from router._core.catalog_load import parse_catalog
from router._core.duration import UNLIMITED
from tests._support.repo import CURRENT_CATALOG, PREVIOUS_CATALOG

SMALL = """\
version: "t"
effective: 2025-11-20
providers:
  groq: {name: Groq}
  nebius: {name: Nebius}
models:
  m: {name: M}
  n: {name: N, aliases: [Enn]}
routes:
  - models: [m, n]
    providers: [groq, nebius]
    policy: {trains_on_api_data: false, retention: none}
"""
POLICY = "    policy: {trains_on_api_data: false, retention: none}\n"
DURATIONS = "'none', a duration like '24h', '30d', '90d' or '2y', or 'unlimited'"


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    return caught.value.problems


def test_parse_catalog__accepts_the_small_catalog() -> None:
    catalog = parse_catalog(SMALL)
    assert [r.key for r in catalog.routes] == ["m/groq", "m/nebius", "n/groq", "n/nebius"]


@pytest.mark.parametrize("path", [PREVIOUS_CATALOG, CURRENT_CATALOG], ids=["2025-06", "2025-11"])
def test_load_catalog__accepts_the_shipped_catalogs(path: Path) -> None:
    catalog = load_catalog(path)
    assert (catalog.version, catalog.source) == (path.stem, str(path))


REJECTIONS = [
    pytest.param(
        SMALL.replace("m: {name: M}", "m: {name: M, colour: red}"),
        ("<catalog>: models.m.colour: unknown field 'colour'; remove it or check its spelling",),
        id="a model with an unknown field is rejected",
    ),
    pytest.param(
        SMALL + "owner: me\n",
        ("<catalog>: owner: unknown field 'owner'; remove it or check its spelling",),
        id="an unknown top-level field is rejected",
    ),
    pytest.param(
        SMALL.replace("models: [m, n]", "models: [m, n, o]"),
        ("<catalog>: routes[0].models[2]: unknown model 'o'; declare it under 'models'",),
        id="a route of an unknown model is rejected",
    ),
    pytest.param(
        SMALL.replace("n: {name: N,", "n: {name: m,"),
        (
            "<catalog>: models.n.name: 'm' is already a name, alias or slug of model 'm' (names are compared case-insensitively)",
        ),
        id="a display name that is another model's slug is rejected",
    ),
    pytest.param(
        SMALL.replace("m: {name: M}", "m: {name: enn}"),
        (
            "<catalog>: models.n.aliases[0]: 'Enn' is already a name, alias or slug of model 'm' (names are compared case-insensitively)",
        ),
        id="an alias that is another model's name in another case is rejected",
    ),
    pytest.param(
        SMALL.replace("m: {name: M}", "m: {name: M, aliases: [ENN]}"),
        (
            "<catalog>: models.n.aliases[0]: 'Enn' is already a name, alias or slug of model 'm' (names are compared case-insensitively)",
        ),
        id="an alias defined for two models is rejected",
    ),
    pytest.param(
        SMALL.replace("m: {name: M}", "m: {name: M, aliases: [m]}"),
        ("<catalog>: models.m.aliases[0]: 'm' repeats a name of the same model",),
        id="an alias repeating the model's own slug is rejected",
    ),
    pytest.param(
        SMALL.replace("  n: {name: N", "  m: {name: N"),
        (
            "<catalog>: line 8, column 3 is not valid YAML (key 'm' is given twice (first on line 7); keep one)",
        ),
        id="a model slug defined twice is rejected",
    ),
    pytest.param(
        SMALL.replace("nebius: {name: Nebius}", "nebius: {name: GROQ}"),
        (
            "<catalog>: providers.nebius: 'groq' is already a name or slug of provider 'groq' (names are compared case-insensitively)",
        ),
        id="a provider named like another in another case is rejected",
    ),
    pytest.param(
        SMALL.replace("retention: none", "retention: 3 weeks-ish"),
        (f"<catalog>: routes[0].policy.retention: expected {DURATIONS} (got '3 weeks-ish')",),
        id="a retention that does not parse is rejected",
    ),
    pytest.param(
        SMALL.replace("retention: none", "retention: none, flagged_retention: ages"),
        (f"<catalog>: routes[0].policy.flagged_retention: expected {DURATIONS} (got 'ages')",),
        id="a flagged retention that does not parse is rejected",
    ),
    pytest.param(
        SMALL.replace(POLICY, ""),
        ("<catalog>: routes[0].policy: required field is missing",),
        id="a route entry without a policy is rejected",
    ),
    pytest.param(
        SMALL + "  - {models: [m], providers: [groq], policy: {}}\n",
        (
            "<catalog>: routes[1]: route m/groq is already declared in routes[0]; declare each route once",
        ),
        id="a route declared twice is rejected",
    ),
    pytest.param(
        SMALL.replace("models: [m, n]", "models: [m]"),
        (
            "<catalog>: models.n: no route serves this model; add it to an entry of 'routes' or remove it",
        ),
        id="a model served by no route is rejected",
    ),
    pytest.param(
        SMALL.replace("providers: [groq, nebius]", "providers: [groq, nebius"),
        ("<catalog>: line 12, column 11 is not valid YAML (did not find expected ',' or ']')",),
        id="invalid YAML is rejected with its line",
    ),
    pytest.param(
        "- a list\n",
        ("<catalog>: expected a mapping with version, providers, models and routes (got list)",),
        id="a document that is not a mapping is rejected",
    ),
    pytest.param(
        SMALL.replace("m: {name: M}", "Big M: {name: M}").replace("[m, n]", "[Big M, n]"),
        (
            "<catalog>: models.Big M: 'Big M' is not a slug; use lowercase letters, digits and dashes (like 'gpt-4-1')",
        ),
        id="a model key that is not a slug is rejected",
    ),
    pytest.param(
        SMALL.replace("m: {name: M}", "m: {name: M, variant_of: x}"),
        (
            "<catalog>: models.m.variant_of: unknown model 'x'; name the slug of a model under 'models'",
        ),
        id="a variant of an unknown model is rejected",
    ),
    pytest.param(
        SMALL.replace(POLICY, "    policy: {}\n    overrides: {xai: {retention: none}}\n"),
        (
            "<catalog>: routes[0].overrides.xai: provider 'xai' is not among this entry's providers (groq, nebius)",
        ),
        id="an override of a provider outside its entry is rejected",
    ),
    pytest.param(
        SMALL.replace("retention: none}", "retention: none, user_identifier: hashed}"),
        (
            "<catalog>: routes[0].policy.user_identifier: Input should be 'omit', 'pseudonymous' or 'allowed' (got 'hashed')",
        ),
        id="an unknown user identifier rule is rejected",
    ),
    pytest.param(
        SMALL.split("routes:")[0] + "routes: []\n",
        ("<catalog>: routes: list at least one item (got [])",),
        id="a catalog without routes is rejected",
    ),
    pytest.param(
        SMALL.replace('version: "t"\n', ""),
        ("<catalog>: version: required field is missing",),
        id="a catalog without a version is rejected",
    ),
]


@pytest.mark.parametrize(("text", "problems"), REJECTIONS)
def test_load__rejects_an_invalid_catalog(text: str, problems: tuple[str, ...]) -> None:
    assert _problems(text) == problems


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        pytest.param('"no"', "'no'", id="the string no is not a boolean"),
        pytest.param("no", "'no'", id="YAML 1.1's bare no is not a boolean"),
        pytest.param("off", "'off'", id="off is not a boolean"),
        pytest.param("yes", "'yes'", id="yes is not a boolean"),
        pytest.param("0", "0", id="0 is not a boolean"),
        pytest.param('"false"', "'false'", id="a quoted false is a string, not a boolean"),
    ],
)
def test_load__a_catalog_boolean_is_true_or_false_only(written: str, shown: str) -> None:
    text = SMALL.replace("trains_on_api_data: false", f"trains_on_api_data: {written}")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, source="c.yaml")
    assert caught.value.problems == (
        f"c.yaml: routes[0].policy.trains_on_api_data: write true or false (got {shown})",
    )


@pytest.mark.parametrize("written", ["true", "True", "false", "FALSE"])
def test_load__a_catalog_boolean_written_true_or_false_is_read(written: str) -> None:
    catalog = parse_catalog(
        SMALL.replace("trains_on_api_data: false", f"trains_on_api_data: {written}")
    )
    assert catalog.routes[0].policy.trains_on_api_data is (written.lower() == "true")


def test_load__rejects_unknown_provider_in_route() -> None:
    text = SMALL.replace("providers: [groq, nebius]", "providers: [groq, cerebras]")
    assert _problems(text) == (
        "<catalog>: routes[0].providers[1]: unknown provider 'cerebras'; expected one of: groq, nebius",
    )


def test_load__reports_every_problem_at_once() -> None:
    text = SMALL.replace("models: [m, n]", "models: [m, o]").replace("[groq, nebius]", "[groq, x]")
    assert _problems(text) == (
        "<catalog>: routes[0].models[1]: unknown model 'o'; declare it under 'models'",
        "<catalog>: routes[0].providers[1]: unknown provider 'x'; expected one of: groq, nebius",
        "<catalog>: models.n: no route serves this model; add it to an entry of 'routes' or remove it",
    )


def test_load__names_the_file_in_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace("models: [m, n]", "models: [m]"), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.problems == (
        f"{path}: models.n: no route serves this model; add it to an entry of 'routes' or remove it",
    )
    assert str(caught.value) == f"the catalog is invalid:\n  - {caught.value.problems[0]}"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("missing.yaml", "No such file or directory"), (".", "Is a directory")],
    ids=["a file that is not there", "a directory"],
)
def test_load__rejects_an_unreadable_file(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.problems == (f"{path}: cannot be read ({reason})",)


def test_load__hash_ignores_formatting_but_not_content() -> None:
    reformatted = SMALL.replace("m: {name: M}", "m:\n    name: M")
    changed = SMALL.replace("retention: none", "retention: 24h")
    hashes = [parse_catalog(text).content_hash for text in (SMALL, reformatted, changed)]
    assert hashes[0] == hashes[1] != hashes[2]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CURRENT_CATALOG)


@pytest.mark.parametrize(
    "name",
    ["Claude 4.5 Sonnet", "claude 4.5 SONNET", "  Claude   4.5 Sonnet ", "claude-4-5-sonnet"],
    ids=["display name", "any case", "any spacing", "slug"],
)
def test_catalog_model__finds_a_model_by_name_or_slug(catalog: Catalog, name: str) -> None:
    assert catalog.model(name).slug == "claude-4-5-sonnet"


@pytest.mark.parametrize("name", ["ChatGPT", "chatgpt"], ids=["alias", "alias in any case"])
def test_catalog_model__finds_a_model_by_alias(catalog: Catalog, name: str) -> None:
    assert catalog.model(name).name == "GPT 5 chat"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Amazon Bedrock", "bedrock"), ("microsoft azure", "azure"), ("fireworks", "fireworks")],
    ids=["display name", "display name in any case", "slug"],
)
def test_catalog_provider__finds_a_provider_by_name_or_slug(
    catalog: Catalog, name: str, slug: str
) -> None:
    assert catalog.provider(name).slug == slug


def test_catalog_model__raises_unknown_model_with_a_hint(catalog: Catalog) -> None:
    with pytest.raises(UnknownModel) as caught:
        catalog.model("GPT 9")
    assert caught.value.name == "GPT 9"
    assert str(caught.value) == (
        "unknown model (a name of 5 characters): name a model of the catalog by display name, "
        "alias, slug, a provider's model id, or a litellm model string such as "
        "'openai/gpt-4.1' (see 'policy-router models'); closest catalog names: GPT 5, GPT 4.1"
    )
    assert isinstance(caught.value, LookupError)


def test_catalog_provider__raises_unknown_provider_listing_the_known(catalog: Catalog) -> None:
    with pytest.raises(UnknownProvider) as caught:
        catalog.provider("Hyperbolic")
    assert str(caught.value) == (
        "unknown provider (a name of 10 characters): name a provider by display name or slug (known: anthropic, "
        "bedrock, openai, azure, mistral, nebius, google, fireworks, together, groq, cerebras, xai, deepinfra)"
    )


def test_catalog_routes_of__gives_the_routes_in_catalog_order(catalog: Catalog) -> None:
    assert [r.provider.slug for r in catalog.routes_of("Kimi K2")] == [
        "groq",
        "nebius",
        "deepinfra",
        "fireworks",
        "together",
    ]


def test_data_policy__reads_every_unstated_field_as_most_restrictive() -> None:
    policy = DataPolicy()
    assert policy.trains is True
    assert policy.effective_retention == UNLIMITED
    assert policy.effective_flagged_retention == UNLIMITED
    assert policy.effective_user_identifier is UserIdentifier.OMIT


def test_load__keeps_unstated_fields_unstated() -> None:
    policy = parse_catalog(SMALL.replace(POLICY, "    policy: {}\n")).routes[0].policy
    assert (policy.trains_on_api_data, policy.retention, policy.user_identifier) == (
        None,
        None,
        None,
    )
    assert (policy.trains, policy.effective_retention) == (True, UNLIMITED)


def test_load__applies_an_override_to_its_provider_only(catalog: Catalog) -> None:
    openai, azure = catalog.routes_of("GPT 4.1")
    assert (openai.provider.slug, openai.policy.user_identifier) == ("openai", UserIdentifier.OMIT)
    assert (azure.provider.slug, azure.policy.user_identifier) == ("azure", None)
    assert [n.kind for n in openai.policy.notes] == ["legal", "identifier"]
