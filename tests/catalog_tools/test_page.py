"""The published page, both ways: the pages rendered from the shipped catalogs (both styles,
held under tests/catalog_tools/pages) and both seed pages import to the shipped facts,
render → import round-trips, and each reading rule holds on a small page of its own."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from router import CatalogError, load_catalog
from router._catalog_tools.dump import catalog_to_yaml
from router._catalog_tools.page import import_page, render_page
from router._catalog_tools.page_format import (
    PageStyle,
    classify,
    label_in,
    provider_slug,
    slugify,
)
from router._core.catalog import Catalog, NoteKind
from router._core.catalog_load import build_catalog, parse_catalog
from router._core.duration import Duration
from tests._support import seeds
from tests._support.catalogs import facts
from tests._support.repo import CURRENT_CATALOG, PAGES, PREVIOUS_CATALOG, REPO
from tests._support.seeds import published_page

WHEN = date(2025, 11, 20)
HEADER = "| Model | Model Provider | Trains on User Data via API | Data Retention for API | Privacy Policy / FAQ |"
RULE = "| :---- | :------------- | :-------------------------- | :--------------------- | :------------------- |"


def _seed(prefix: str) -> str:
    return published_page(prefix).read_text(encoding="utf-8")


def _page(*rows: str, footnotes: str = "") -> str:
    return "\n".join(["# LLMs & Privacy", "", HEADER, RULE, *rows, "", footnotes])


def _import(text: str) -> Catalog:
    return import_page(text, version="test", effective=WHEN)


def _row(
    models: str, providers: str, retention: str = "Not stored", links: str = "", trains: str = "No"
) -> str:
    return f"| {models} | {providers} | {trains} | {retention} | {links} |"


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(CatalogError) as caught:
        _import(text)
    return caught.value.problems


SHIPPED = [
    pytest.param(
        "000", PREVIOUS_CATALOG, id="the older page (lists, links) imports to the facts of 2025-06"
    ),
    pytest.param(
        "001",
        CURRENT_CATALOG,
        id="the newer page (bullets, footnotes) imports to the facts of 2025-11",
    ),
]


@pytest.mark.parametrize(("seed", "shipped"), SHIPPED)
def test_import_page__gives_the_shipped_facts(seed: str, shipped: Path) -> None:
    assert facts(_import(_seed(seed))) == facts(load_catalog(shipped))


def test_published_page__absent_seeds_skip_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(seeds, "SEEDS", tmp_path / "absent")
    monkeypatch.setattr(seeds, "REQUIRED", False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        published_page("001")
    assert str(skipped.value) == (
        f"the published seed pages are not beside this checkout ({tmp_path / 'absent'} is absent)"
    )


def test_published_page__absent_seeds_fail_when_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(seeds, "SEEDS", tmp_path / "absent")
    monkeypatch.setattr(seeds, "REQUIRED", True)
    with pytest.raises(pytest.fail.Exception) as failed:
        published_page("001")
    assert str(failed.value).endswith(
        "; POLICY_ROUTER_TEST_REQUIRE_SEEDS is set, so they are required"
    )


HELD_PAGES = [
    pytest.param(shipped, style, id=f"{shipped.stem} as {style.value}")
    for shipped in (PREVIOUS_CATALOG, CURRENT_CATALOG)
    for style in PageStyle
]


def _held_page(shipped: Path, style: PageStyle) -> Path:
    return PAGES / f"{shipped.stem}.{style.value}.md"


@pytest.mark.parametrize(("shipped", "style"), HELD_PAGES)
def test_held_page__is_what_render_page_writes_today(shipped: Path, style: PageStyle) -> None:
    held = _held_page(shipped, style)
    command = f"policy-router catalog render {shipped.relative_to(REPO)} --style {style.value} -o {held.relative_to(REPO)}"
    fresh = render_page(load_catalog(shipped), style)
    assert held.read_text(encoding="utf-8") == fresh, f"the held page is stale; run: {command}"


@pytest.mark.parametrize(("shipped", "style"), HELD_PAGES)
def test_import_page__of_a_held_page_gives_the_shipped_facts(
    shipped: Path, style: PageStyle
) -> None:
    page = _held_page(shipped, style).read_text(encoding="utf-8")
    assert facts(_import(page)) == facts(load_catalog(shipped))


def test_held_pages__use_each_style_and_mark_footnotes() -> None:
    lists = _held_page(CURRENT_CATALOG, PageStyle.LISTS).read_text(encoding="utf-8")
    bullets = _held_page(CURRENT_CATALOG, PageStyle.BULLETS).read_text(encoding="utf-8")
    assert "| <ul><li>" in lists
    assert "<br>• " not in lists
    assert "| • " in bullets
    assert "<br>• " in bullets
    assert "<li>" not in bullets
    assert "• OpenAI²" in bullets
    assert "<li>OpenAI²</li>" in lists
    for page in (lists, bullets):
        assert [line[:1] for line in page.splitlines() if line.startswith(tuple("¹²³⁴"))] == list(
            "¹²³⁴"
        )


@pytest.mark.parametrize("shipped", [PREVIOUS_CATALOG, CURRENT_CATALOG], ids=["2025-06", "2025-11"])
def test_render_page__reads_back_to_equal_facts(shipped: Path) -> None:
    catalog = load_catalog(shipped)
    assert facts(_import(render_page(catalog))) == facts(catalog)


@pytest.mark.parametrize("seed", ["000", "001"])
def test_render_page__of_an_imported_page_reads_back_to_equal_facts(seed: str) -> None:
    imported = _import(_seed(seed))
    assert facts(_import(render_page(imported))) == facts(imported)


@pytest.mark.parametrize("shipped", [PREVIOUS_CATALOG, CURRENT_CATALOG], ids=["2025-06", "2025-11"])
def test_catalog_to_yaml__loads_back_to_equal_facts(shipped: Path) -> None:
    catalog = load_catalog(shipped)
    dumped = parse_catalog(catalog_to_yaml(catalog, source="test"))
    assert (facts(dumped), dumped.version, dumped.effective) == (
        facts(catalog),
        catalog.version,
        catalog.effective,
    )


def test_render_page__writes_footnotes_in_its_own_words() -> None:
    lines = _seed("001").splitlines()
    seed_sentences = [
        line[2:].split("[")[0].strip() for line in lines if line[:1] in ("¹", "²", "³", "⁴")
    ]
    rendered = render_page(load_catalog(CURRENT_CATALOG))
    assert seed_sentences
    assert [s for s in seed_sentences if s in rendered] == []


def test_render_page__numbers_a_repeated_footnote_once() -> None:
    rendered = render_page(load_catalog(CURRENT_CATALOG))
    assert rendered.count("• OpenAI²") == 2
    assert [line[:1] for line in rendered.splitlines() if line[:1] == "²"] == ["²"]


def test_render_page__writes_the_newer_columns_and_the_label_beside_its_model() -> None:
    rendered = render_page(load_catalog(CURRENT_CATALOG))
    assert HEADER in rendered
    assert "• ChatGPT<br>• GPT 5 chat¹" in rendered
    assert "| No | 30 days (flagged prompts: 2 years) |" in rendered
    assert "| No | 24 hours |" in rendered


SLUGS = [
    pytest.param(
        "Claude 4.5 Sonnet (reasoning)",
        "claude-4-5-sonnet-reasoning",
        id="parentheses and dots become dashes",
    ),
    pytest.param("GLM-4.5", "glm-4-5", id="a dash in the name stays one dash"),
    pytest.param(
        "Qwen 3 235B with Thinking", "qwen-3-235b-with-thinking", id="letters are lowered"
    ),
    pytest.param(
        "  Gemini 3 Pro (Preview) ", "gemini-3-pro-preview", id="dashes at either end are stripped"
    ),
]


@pytest.mark.parametrize(("name", "slug"), SLUGS)
def test_slugify__is_naive(name: str, slug: str) -> None:
    assert slugify(name) == slug


PROVIDER_SLUGS = [
    pytest.param("Amazon Bedrock", "bedrock", id="Amazon Bedrock is bedrock"),
    pytest.param("Microsoft Azure", "azure", id="Microsoft Azure is azure"),
    pytest.param("Mistral AI", "mistral", id="Mistral AI is mistral"),
    pytest.param("Fireworks.ai", "fireworks", id="Fireworks.ai is fireworks"),
    pytest.param("Together.ai", "together", id="Together.ai is together"),
    pytest.param("amazon", "amazon", id="the table is read in any case"),
    pytest.param("Hyperbolic Labs", "hyperbolic-labs", id="an unknown provider is slugified"),
]


@pytest.mark.parametrize(("name", "slug"), PROVIDER_SLUGS)
def test_provider_slug__uses_the_fixed_table(name: str, slug: str) -> None:
    assert provider_slug(name) == slug


KINDS = [
    pytest.param(
        "The Assistant does not send a user identifier.", NoteKind.IDENTIFIER, id="identifier"
    ),
    pytest.param(
        "GPT 5 chat is labeled as ChatGPT in the Assistant.", NoteKind.LABEL, id="labeled as"
    ),
    pytest.param("X is shown as “Y” in the list.", NoteKind.LABEL, id="shown as"),
    pytest.param("o3 is not yet available via Azure.", NoteKind.AVAILABILITY, id="available"),
    pytest.param("OpenAI no longer has to retain chat logs.", NoteKind.LEGAL, id="retain"),
    pytest.param("A court ordered it.", NoteKind.LEGAL, id="court"),
    pytest.param("Prices vary.", NoteKind.OTHER, id="anything else is other"),
    pytest.param(
        "Note: a court case is pending.",
        NoteKind.OTHER,
        id="a leading kind tag wins over the words",
    ),
]


@pytest.mark.parametrize(("text", "kind"), KINDS)
def test_classify__tells_the_kind_from_the_words(text: str, kind: NoteKind) -> None:
    assert classify(text)[0] is kind


LABELS = [
    pytest.param(
        "GPT 5 chat is labeled as ChatGPT in the Assistant.", "ChatGPT", id="labeled as X in"
    ),
    pytest.param("Users see this model under the label ChatGPT.", "ChatGPT", id="the label X"),
    pytest.param(
        "GPT 5 chat is shown as “GPT 4.1 Pro” in the list.", "GPT 4.1 Pro", id="quoted with a dot"
    ),
    pytest.param("Nothing to see here.", None, id="no label"),
]


@pytest.mark.parametrize(("text", "label"), LABELS)
def test_label_in__finds_the_label(text: str, label: str | None) -> None:
    assert label_in(text) == label


def test_import_page__reads_reasoning_variants_and_their_base() -> None:
    catalog = _import(
        _page(
            _row(
                "• Grok 4<br>• Grok 4 with Thinking<br>• Kimi K2 Thinking<br>• Solo (reasoning)",
                "• xAI",
            )
        )
    )
    variant, kimi, solo = (
        catalog.model(n) for n in ("grok-4-with-thinking", "kimi-k2-thinking", "solo-reasoning")
    )
    assert (variant.variant_of, dict(variant.params)) == ("grok-4", {"reasoning_effort": "medium"})
    assert (kimi.variant_of, dict(kimi.params)) == (None, {})
    assert (solo.variant_of, dict(solo.params)) == (None, {"reasoning_effort": "medium"})


RETENTION = [
    pytest.param(
        "30 days (flagged prompts: 2 years)",
        ("30d", "2y"),
        id="a longer retention for flagged prompts",
    ),
    pytest.param("Not stored", ("none", None), id="not stored is none"),
    pytest.param("24 hours", (str(Duration.parse("24h")), None), id="24 hours"),
    pytest.param("30 days²", ("30d", None), id="a footnote marker is not part of the duration"),
    pytest.param("", (None, None), id="an empty cell is unstated"),
]


@pytest.mark.parametrize(("cell", "expected"), RETENTION)
def test_import_page__reads_the_retention_cell(
    cell: str, expected: tuple[str | None, str | None]
) -> None:
    footnotes = "² A note." if "²" in cell else ""
    policy = (
        _import(_page(_row("• M", "• Groq", retention=cell), footnotes=footnotes)).routes[0].policy
    )
    shown = (policy.retention, policy.flagged_retention)
    assert tuple(None if d is None else str(d) for d in shown) == expected


@pytest.mark.parametrize(
    ("cell", "trains"), [("No", False), ("Yes", True), ("", None)], ids=["no", "yes", "empty"]
)
def test_import_page__reads_the_trains_cell(cell: str, trains: bool | None) -> None:
    assert (
        _import(_page(_row("• M", "• Groq", trains=cell))).routes[0].policy.trains_on_api_data
        is trains
    )


def test_import_page__puts_each_footnote_where_its_marker_stands() -> None:
    text = _page(
        _row(
            "• ChatGPT<br>• GPT 5 chat⁴<br>• o3",
            "• OpenAI¹ ³<br>• Microsoft Azure",
            retention="30 days²",
        ),
        footnotes=(
            "¹ No [user identifier](https://example.com/id) is sent.\n\n"
            "² Logs need no longer be [retained](https://example.com/legal).\n\n"
            "³ o3 is not yet available on Azure.\n\n"
            "⁴ GPT 5 chat is labeled as ChatGPT in the Assistant."
        ),
    )
    catalog = _import(text)
    openai, azure = catalog.routes_of("gpt-5-chat")
    assert [(n.kind, n.url) for n in openai.policy.notes] == [
        (NoteKind.LEGAL, "https://example.com/legal"),
        (NoteKind.IDENTIFIER, "https://example.com/id"),
        (NoteKind.AVAILABILITY, None),
    ]
    assert openai.policy.user_identifier == "omit"
    assert [(n.kind, n.url) for n in azure.policy.notes] == [
        (NoteKind.LEGAL, "https://example.com/legal")
    ]
    assert azure.policy.user_identifier is None
    assert catalog.model("ChatGPT").slug == "gpt-5-chat"
    assert [n.kind for n in catalog.model("gpt-5-chat").notes] == [NoteKind.LABEL]
    assert [m.slug for m in catalog.models] == ["gpt-5-chat", "o3"]


def test_import_page__gives_each_link_to_its_provider_once() -> None:
    text = _page(
        _row(
            "• A",
            "• Nebius<br>• Groq",
            links="• Custom privacy agreement with Nebius<br>• [Groq Privacy Policy](https://groq.example)",
        ),
        _row("• B", "• Groq", links="• [Other Groq page](https://other.example)"),
        _row("• C", "• Google", links="• [Privacy Policy](https://google.example)"),
    )
    catalog = _import(text)
    links = {p.slug: [(k.title, k.url) for k in p.links] for p in catalog.providers}
    assert links == {
        "nebius": [("Custom privacy agreement with Nebius", None)],
        "groq": [("Groq Privacy Policy", "https://groq.example")],
        "google": [("Privacy Policy", "https://google.example")],
    }


def test_import_page__reads_a_model_on_two_rows_as_one_model() -> None:
    catalog = _import(_page(_row("• M", "• Groq"), _row("• M", "• Nebius", retention="30 days")))
    assert [(r.key, str(r.policy.retention)) for r in catalog.routes] == [
        ("m/groq", "none"),
        ("m/nebius", "30d"),
    ]


PROBLEMS = [
    pytest.param(
        "no table here",
        "<page>: no markdown table found; expected columns Model | Model Provider | Trains on User Data via API | Data Retention for API | Privacy Policy / FAQ",
        id="a page without a table is refused",
    ),
    pytest.param(
        _page("| • M | • Groq | No |"),
        "<page>: table row 1: expected 5 cells, found 3",
        id="a short row is refused",
    ),
    pytest.param(
        _page(_row("• M⁷", "• Groq")),
        "<page>: table row 1: footnote marker ⁷ on 'M' has no footnote below the table",
        id="a marker without its footnote is refused",
    ),
    pytest.param(
        _page(_row("• M", "• Groq", trains="Maybe")),
        "<page>: table row 1: 'Trains on User Data via API' must be Yes, No or empty (got 'Maybe')",
        id="a trains cell other than yes or no is refused",
    ),
    pytest.param(
        _page(_row("• M", "• Groq", retention="a while")),
        "<page>: table row 1: 'Data Retention for API' must be 'none', a duration like '24h', '30d', '90d' or '2y', or 'unlimited' (got 'a while')",
        id="a retention that does not parse is refused",
    ),
    pytest.param(
        _page(_row("• M", "• Groq<br>• Nebius", links="• [Privacy Policy](https://x.example)")),
        "<page>: table row 1: link 'Privacy Policy' names none of the row's providers (Groq, Nebius); put the provider's name in its title",
        id="a link of a row with several providers must name one",
    ),
    pytest.param(
        _page(_row("• GPT 4.1", "• Groq"), _row("• GPT-4.1", "• Nebius")),
        "<page>: table row 2: models 'GPT 4.1' and 'GPT-4.1' have the same slug 'gpt-4-1'; rename one of them",
        id="two names with one slug are refused",
    ),
    pytest.param(
        _page(_row("• M", "• Groq"), _row("• M", "• Groq")),
        "<page>: table row 2 (routes[1]): route m/groq is already declared in table row 1 (routes[0]); declare each route once",
        id="the loader's problems name table rows",
    ),
]


@pytest.mark.parametrize(("text", "problem"), PROBLEMS)
def test_import_page__refuses_a_bad_page(text: str, problem: str) -> None:
    assert _problems(text) == (problem,)


def test_import_page__names_every_missing_column() -> None:
    assert _problems(
        "| Model | Model Provider | Trains |\n| --- | --- | --- |\n| • M | • Groq | No |"
    ) == (
        "<page>: the table has no column 'Data Retention for API' (found: Model | Model Provider | Trains)",
        "<page>: the table has no column 'Privacy Policy / FAQ' (found: Model | Model Provider | Trains)",
    )


PROVIDERS = {
    "openai": {
        "name": "OpenAI",
        "links": [{"title": "Privacy Policy", "url": "https://o.example"}],
    },
    "azure": {"name": "Microsoft Azure", "links": [{"title": "Azure terms"}]},
}


def _catalog(routes: list[dict[str, Any]], **models: dict[str, Any]) -> Catalog:
    """A small catalog of the routes given, over the providers they use (a page shows no others)."""
    used = {slug for entry in routes for slug in entry["providers"]}
    return build_catalog(
        {
            "version": "t",
            "effective": WHEN,
            "providers": {slug: doc for slug, doc in PROVIDERS.items() if slug in used},
            "models": models or {"m": {"name": "M"}},
            "routes": routes,
        }
    )


def test_render_page__splits_a_row_where_providers_keep_data_for_different_times() -> None:
    catalog = _catalog(
        [
            {
                "models": ["m"],
                "providers": ["openai", "azure"],
                "policy": {"retention": "30d"},
                "overrides": {"azure": {"retention": "none"}},
            }
        ]
    )
    rendered = render_page(catalog)
    assert "| • M | • OpenAI | Not stated | 30 days |" in rendered
    assert "| • M | • Microsoft Azure | Not stated | Not stored |" in rendered
    assert facts(_import(rendered)) == facts(catalog)


def test_render_page__prefixes_a_link_title_that_names_no_provider_of_its_row() -> None:
    catalog = _catalog([{"models": ["m"], "providers": ["openai", "azure"], "policy": {}}])
    rendered = render_page(catalog)
    assert "[OpenAI: Privacy Policy](https://o.example)" in rendered
    assert "• Microsoft Azure: Azure terms" in rendered
    assert facts(_import(rendered)) == facts(catalog)


def test_render_page__tags_a_note_whose_words_tell_another_kind() -> None:
    note = {"kind": "other", "text": "A court case is pending.", "url": "https://c.example"}
    catalog = _catalog([{"models": ["m"], "providers": ["openai"], "policy": {"notes": [note]}}])
    rendered = render_page(catalog)
    assert "¹ Note: A court case is pending. ([source](https://c.example))" in rendered
    assert facts(_import(rendered)) == facts(catalog)


def test_render_page__states_an_omitted_identifier_that_has_no_note() -> None:
    catalog = _catalog(
        [
            {
                "models": ["m"],
                "providers": ["openai", "azure"],
                "policy": {},
                "overrides": {"openai": {"user_identifier": "omit"}},
            }
        ]
    )
    rendered = render_page(catalog)
    assert "• OpenAI¹<br>• Microsoft Azure" in rendered
    route = _import(rendered).routes_of("m")[0]
    assert (route.provider.slug, route.policy.user_identifier) == ("openai", "omit")


def test_render_page__writes_a_label_for_an_alias_in_its_own_words() -> None:
    catalog = _catalog(
        [{"models": ["m"], "providers": ["openai"], "policy": {}}],
        m={"name": "M", "aliases": ["Emm"]},
    )
    rendered = render_page(catalog)
    assert "¹ M is shown as “Emm” in the Assistant's model list." in rendered
    assert _import(rendered).model("Emm").slug == "m"
