"""``audit query --report --html FILE``: one self-contained page for a privacy officer, with
the routes that received a user's requests, the refusals and why, and a chart per day; no
content, no raw id, no external asset. Rendered in headless Chromium (slow)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from router import PolicyRouter, PolicyViolation, UnknownModel, load_catalog
from router._audit import log as audit_log_module
from router._config.settings import Settings
from router.cli import app
from tests._support.png import colours
from tests._support.repo import CURRENT_CATALOG

CHROMIUM = "/usr/bin/chromium"
CONTENT = "secret content of alice"
# (model, privacy) per request of alice, on three days; bob has one request
REQUESTS: list[tuple[str, dict[str, Any] | None]] = [
    ("Kimi K2", None),
    ("GPT 4.1", None),
    ("Claude 4.5 Sonnet", {"max_retention": "none"}),  # refused by the policy
    ("Kimi K2", None),
    ("GPT 4.1", {"deny_providers": ["OpenAI", "Microsoft Azure"]}),  # refused by the policy
    ("gpt-17-ultra", None),  # refused: unknown model
]
DAYS = ("2026-03-02", "2026-03-02", "2026-03-03", "2026-03-05", "2026-03-05", "2026-03-05")


class Page(HTMLParser):
    """Every tag, attribute and text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The audit log's clock, set per request: each record carries the day the test says."""
    day = ["2026-03-01"]
    monkeypatch.setattr(audit_log_module, "_now", lambda: f"{day[0]}T10:00:00.000000Z")
    return day


@pytest.fixture
async def audit_file(tmp_path: Path, clock: list[str]) -> Path:
    path = tmp_path / "audit.jsonl"
    settings = Settings(offline=True, audit=str(path), audit_checkpoint="off")
    messages = [{"role": "user", "content": CONTENT}]
    async with PolicyRouter.from_settings(settings) as router:
        for index, ((model, privacy), day) in enumerate(zip(REQUESTS, DAYS, strict=True)):
            clock[0] = day
            with contextlib.suppress(PolicyViolation, UnknownModel):
                await router.acompletion(
                    model, messages, "alice", privacy=privacy, request_id=f"alice-req-{index}"
                )
        clock[0] = "2026-03-04"
        await router.acompletion("Kimi K2", messages, "bob", request_id="bob-req-0")
    return path


def write_page(audit_file: Path, *flags: str) -> str:
    page = audit_file.parent / "report.html"
    result = CliRunner().invoke(
        app, ["audit", "query", str(audit_file), "--report", "--html", str(page), *flags]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == f"wrote {page}\n"
    return page.read_text()


def test_html_report__one_users_routes_refusals_and_days(audit_file: Path) -> None:
    text = write_page(audit_file, "--user", "alice")
    page = Page(text)
    words = " ".join(" ".join(page.text).split())
    assert page.tags.count("table") == 2  # routes, refusals
    assert page.tags.count("svg") == 1
    # routes: Groq served Kimi K2 twice, OpenAI GPT 4.1 once; under the catalog's version
    label = load_catalog(CURRENT_CATALOG).label
    assert f"Groq Kimi K2 {label} 2 (2 offline) not stored not stored no omit" in words
    assert f"OpenAI GPT 4.1 {label} 1 (1 offline) 30 days 30 days no omit" in words
    # refusals, with the decision's reasons for the policy's refusals
    assert "refused by the privacy policy 2" in words
    assert "it keeps API data for 30 days, but max_retention allows no storage" in words
    assert "provider OpenAI is listed in deny_providers (1)" in words
    assert "unknown model 1" in words
    # the chart: alice's 6 requests on 3 days, bob's day not among them
    bars = [value for name, value in page.attributes if name is None or name == "fill"]
    assert bars.count("#3d6fd8") == 2  # sent: 03-02 and 03-05
    assert bars.count("#e8772e") == 2  # refused: 03-03 and 03-05
    assert "03-04" not in words
    assert "2026-03-02 to 2026-03-05" in words


def test_html_report__holds_no_raw_id_content_or_external_asset(audit_file: Path) -> None:
    text = write_page(audit_file, "--user", "alice")
    for raw in ("alice", "bob", "req-", CONTENT, "gpt-17-ultra"):
        assert raw not in text
    page = Page(text)
    assert not {"script", "link", "img", "iframe", "object"} & set(page.tags)
    assert not [name for name, _ in page.attributes if name in ("src", "href")]
    assert "http" not in text
    assert "url(" not in text
    assert "@import" not in text
    assert "user-" in words_of(page)  # the user by their audit pseudonym


def words_of(page: Page) -> str:
    return " ".join(" ".join(page.text).split())


def test_html_report__every_user_and_a_period(audit_file: Path) -> None:
    words = words_of(Page(write_page(audit_file, "--since", "2026-03-04")))
    assert "Where the requests of all users went" in words
    assert "2026-03-04 to" in words
    assert "Groq Kimi K2" in words  # bob's on 03-04 and alice's on 03-05


def test_html__without_report__one_line_saying_to_add_it(audit_file: Path) -> None:
    result = CliRunner().invoke(
        app, ["audit", "query", str(audit_file), "--html", str(audit_file.parent / "r.html")]
    )
    assert result.exit_code == 1
    assert result.stderr == "error: --html writes the report: add --report\n"


def screenshot(url: str, png: Path, profile: Path) -> None:
    """Headless Chromium's screenshot of ``url`` (no network, no sync, a fresh profile)."""
    assert shutil.which(CHROMIUM), (
        f"{CHROMIUM} is missing: install Debian's chromium (scripts/install does, as root)"
    )
    subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", "--window-size=1000,1000",
            "--hide-scrollbars", f"--screenshot={png}", url,
        ],
        check=True, capture_output=True, timeout=120, env=os.environ | {"HOME": str(profile)},
    )  # fmt: skip


@pytest.mark.slow
def test_html_report__renders_in_headless_chromium(audit_file: Path, tmp_path: Path) -> None:
    write_page(audit_file, "--user", "alice")
    blank, rendered = tmp_path / "blank.png", tmp_path / "report.png"
    screenshot("about:blank", blank, tmp_path / "profile-blank")
    screenshot((audit_file.parent / "report.html").as_uri(), rendered, tmp_path / "profile")
    assert colours(blank) == 1  # what "blank" means to this check
    assert colours(rendered) > 50  # text, tables and the chart's two colours
