"""``policy-router catalog …``: validate, import, render, diff; errors are lines, never tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from router import load_catalog
from router._catalog_tools.page import import_page
from router._core.catalog_load import parse_catalog
from router.cli import app
from tests._support.catalogs import facts
from tests._support.repo import CURRENT_CATALOG, PAGES, PREVIOUS_CATALOG

NEWER_PAGE = PAGES / "2025-11.bullets.md"  # the shipped catalog, rendered as the newer page


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["catalog", *map(str, args)], env={"COLUMNS": "200"})


def _summary(path: Path) -> str:
    catalog = load_catalog(path)
    ids = sum(len(r.provider_ids) for r in catalog.routes)
    counts = f"{len(catalog.providers)} providers, {len(catalog.models)} models, {len(catalog.routes)} routes, {ids} provider ids"
    return f"ok: {catalog.label}, {counts}\n"


def test_validate__checks_the_shipped_catalog_by_default() -> None:
    result = _run("validate")
    assert (result.exit_code, result.stdout) == (0, _summary(CURRENT_CATALOG))
    assert result.stdout.startswith("ok: 2025-11@")
    assert ", 13 providers, 48 models, 86 routes" in result.stdout


def test_validate__lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = CURRENT_CATALOG.read_text(encoding="utf-8")
    text = text.replace("providers: [google]", "providers: [gogle]")
    bad.write_text(text.replace("models: [glm-4-5]", "models: [glm-4-6]"), encoding="utf-8")
    result = _run("validate", bad)
    assert (result.exit_code, result.stdout) == (1, "")
    known = "anthropic, bedrock, openai, azure, mistral, nebius, google, fireworks, together, groq, cerebras, xai, deepinfra"
    assert result.stderr.splitlines() == [
        "error: the catalog is invalid (3 problems):",
        f"  - {bad}: routes[5].providers[0]: unknown provider 'gogle'; expected one of: {known}",
        f"  - {bad}: routes[14].models[0]: unknown model 'glm-4-6'; declare it under 'models'",
        f"  - {bad}: models.glm-4-5: no route serves this model; add it to an entry of 'routes' or remove it",
    ]


def test_validate__names_a_missing_file_in_one_line(tmp_path: Path) -> None:
    result = _run("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: cannot read the catalog '{tmp_path / 'nope.yaml'}' (No such file or directory); check the path\n"
    )


def test_import__writes_yaml_that_loads_to_the_page_facts(tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    result = _run(
        "import", NEWER_PAGE, "--version", "2025-11", "--effective", "2025-11-20", "-o", out
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    imported = load_catalog(out)
    assert facts(imported) == facts(load_catalog(CURRENT_CATALOG))
    assert (imported.version, imported.effective.isoformat()) == ("2025-11", "2025-11-20")
    assert out.read_text(encoding="utf-8").startswith(f"# Imported from {NEWER_PAGE.name}")


def test_import__labels_the_version_by_the_effective_month_and_prints_to_stdout() -> None:
    result = _run("import", NEWER_PAGE, "--effective", "2026-01-05")
    assert result.exit_code == 0
    assert parse_catalog(result.stdout).version == "2026-01"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            (NEWER_PAGE, "--effective", "2025-13-01"),
            "error: --effective must be a date like 2025-11-20 (got '2025-13-01')\n",
            id="a date that does not parse",
        ),
        pytest.param(
            ("/nonexistent/page.md",),
            "error: cannot read the page '/nonexistent/page.md' (No such file or directory); check the path\n",
            id="a page that is not there",
        ),
        pytest.param(
            (NEWER_PAGE, "-o", "/nonexistent/out.yaml"),
            "error: cannot write '/nonexistent/out.yaml' (No such file or directory); check the directory\n",
            id="an output in a directory that is not there",
        ),
    ],
)
def test_import__refuses_bad_arguments_in_one_line(
    args: tuple[str | Path, ...], message: str
) -> None:
    result = _run("import", *args)
    assert (result.exit_code, result.stderr) == (1, message)


def test_import__lists_the_problems_of_a_bad_page(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        NEWER_PAGE.read_text(encoding="utf-8").replace(
            "| No | 24 hours |", "| Perhaps | 24 hours |"
        ),
        encoding="utf-8",
    )
    result = _run("import", page)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the catalog is invalid:\n"
        f"  - {page}: table row 6: 'Trains on User Data via API' must be Yes, No or empty (got 'Perhaps')\n"
    )


def test_render__writes_a_page_that_imports_to_the_same_facts(tmp_path: Path) -> None:
    out = tmp_path / "page.md"
    result = _run("render", PREVIOUS_CATALOG, "-o", out)
    assert (result.exit_code, result.stdout) == (0, "")
    text = out.read_text(encoding="utf-8")
    reread = import_page(text, version="x", effective=load_catalog(PREVIOUS_CATALOG).effective)
    assert facts(reread) == facts(load_catalog(PREVIOUS_CATALOG))


def test_render__style_lists_writes_html_list_cells(tmp_path: Path) -> None:
    out = tmp_path / "page.md"
    result = _run("render", CURRENT_CATALOG, "--style", "lists", "-o", out)
    assert (result.exit_code, result.stdout) == (0, "")
    text = out.read_text(encoding="utf-8")
    assert text == (PAGES / "2025-11.lists.md").read_text(encoding="utf-8")
    reread = import_page(text, version="x", effective=load_catalog(CURRENT_CATALOG).effective)
    assert facts(reread) == facts(load_catalog(CURRENT_CATALOG))


def test_render__unknown_style_is_refused() -> None:
    result = _run("render", "--style", "table")
    assert result.exit_code == 2
    assert "'table' is not one of 'bullets', 'lists'" in result.stderr


def test_render__prints_the_shipped_catalog_by_default() -> None:
    result = _run("render")
    assert result.exit_code == 0
    assert "| Model | Model Provider | Trains on User Data via API |" in result.stdout


def test_diff__shows_a_case_only_rename_as_one_row() -> None:
    result = _run("diff", PREVIOUS_CATALOG, CURRENT_CATALOG)
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if "grok-3-mini " in line]
    assert len(lines) == 1
    assert "model renamed (case only)" in lines[0]
    assert "'Grok 3 mini' → 'Grok 3 Mini'" in lines[0]


def test_diff__prints_json_with_json() -> None:
    result = _run("diff", PREVIOUS_CATALOG, CURRENT_CATALOG, "--json")
    data = json.loads(result.stdout)
    assert (data["old_version"], data["new_version"]) == ("2025-06", "2025-11")
    assert data["providers_removed"] == ["amazon"]


def test_diff__says_so_when_nothing_changed() -> None:
    result = _run("diff", CURRENT_CATALOG, CURRENT_CATALOG)
    assert (result.exit_code, result.stdout) == (0, "no changes between 2025-11 and 2025-11\n")


@pytest.mark.slow
def test_catalog_validate__fails_as_a_process_without_a_traceback(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "router.cli",
        "catalog",
        "validate",
        str(tmp_path / "nope.yaml"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: cannot read the catalog ")
    assert "Traceback" not in done.stderr
