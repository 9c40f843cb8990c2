"""Links between the README and the docs resolve, and every page says what it holds at its top.

``mkdocs build --strict`` (scripts/test) checks the links inside docs/; GitHub shows README.md
outside the site, so its relative links, and the anchors they name, are checked here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from markdown.extensions.toc import slugify

from tests._support.docs import DOCS, README, anchors, links, name, pages


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    return broken


def test_readme__relative_links_and_their_anchors_resolve() -> None:
    assert links(README), "the README links to the docs"

    assert broken_links(README) == []


def test_links__a_broken_link_and_a_missing_anchor_are_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-section-with-code) [gone](missing.md) [bad](other.md#nowhere)\n"
        "`[not a link](missing.md)`\n"
    )

    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with that anchor",
    ]


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=name)
def test_docs__each_page_lists_its_sections_at_its_top(page: Path) -> None:
    """mkdocs-material shows a table of contents beside the page; GitHub shows the file, so the
    page opens with links to its sections, before the first of them."""
    text = page.read_text(encoding="utf-8")
    top = text.split("\n## ", 1)[0]
    sections = [slugify(line[3:], "-") for line in text.splitlines() if line.startswith("## ")]
    unlisted = [section for section in sections if f"(#{section})" not in top]

    assert sections, f"{name(page)} has no sections"
    assert unlisted == []


def test_docs__every_page_is_in_the_site_navigation() -> None:
    config = yaml.safe_load((README.parent / "mkdocs.yml").read_text())

    def listed(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [page for item in nav for page in listed(item)]
        if isinstance(nav, dict):
            return [page for value in nav.values() for page in listed(value)]
        return []

    assert sorted(listed(config["nav"])) == sorted(p.name for p in pages()[1:])
