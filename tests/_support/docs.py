"""The documentation as data: README.md and docs/*.md, their fenced code blocks and links.

A block may carry a note, the HTML comment on the line just above its opening fence:
- ``<!-- output of: COMMAND -->``: the block shows what COMMAND prints (run in a shell, offline,
  in a fresh working directory beside ``policies/``); the tests run it and compare.
- ``<!-- output of the block above -->``: the block shows what the code block before it prints.
- ``<!-- not run: REASON -->``: the suite does not run this block, for the reason given.
A line ``…`` in an output block stands for lines left out.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests._support.repo import REPO

README: Final = REPO / "README.md"
DOCS: Final = REPO / "docs"

FENCE: Final = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
_NOTE: Final = re.compile(r"<!--\s*(.*?)\s*-->[ \t]*\n[ \t]*\Z", re.DOTALL)
_LINK: Final = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
ELISION: Final = "…"


def pages() -> list[Path]:
    """README.md, then every page of docs/ in name order."""
    return [README, *sorted(DOCS.glob("*.md"))]


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # the opening fence's line, from 1
    language: str  # "text" for a fence without one
    body: str  # dedented as far as the fence is indented
    note: str  # the comment above the fence, without its markers; "" if none

    @property
    def where(self) -> str:
        return f"{name(self.page)}:{self.line}"

    @property
    def output_of(self) -> str | None:
        """The command an output block shows the output of ("" for the block above), or None."""
        if self.note == "output of the block above":
            return ""
        if self.note.startswith("output of:"):
            return self.note.removeprefix("output of:").strip()
        return None

    @property
    def not_run(self) -> str | None:
        """Why the suite leaves this block alone, or None when it runs."""
        return (
            self.note.removeprefix("not run:").strip() if self.note.startswith("not run:") else None
        )


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        note = _NOTE.search(before, before.rfind("<!--"))
        found.append(
            Block(
                page=page,
                line=before.count("\n") + 1,
                language=match.group(2) or "text",
                body=textwrap.dedent(match.group(3)),
                note=note.group(1) if note else "",
            )
        )
    return found


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def block_above(block: Block) -> Block:
    """The code block an ``output of the block above`` block shows the output of."""
    siblings = blocks(block.page)
    index = siblings.index(block)
    assert index > 0, f"{block.where}: an output of the block above, with no block above it"
    return siblings[index - 1]


def links(page: Path) -> list[str]:
    """The targets of the page's Markdown links, outside code blocks."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return _LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """The ids mkdocs gives the page's headings (Python-Markdown's toc slugs; GitHub's agree
    for headings of words, spaces, hyphens, backquotes and punctuation marks)."""
    from markdown.extensions.toc import slugify

    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.MULTILINE)
    return {slugify(heading, "-") for heading in headings}


def matches_output(shown: str, fresh: str) -> bool:
    """The shown lines are the fresh run's: all of them, or, where the block leaves lines out
    with a ``…`` line, the shown ones in their order."""
    wanted = shown.rstrip("\n").splitlines()
    got = fresh.rstrip("\n").splitlines()
    if ELISION not in wanted:
        return wanted == got
    lines = iter(got)
    return all(any(line == have for have in lines) for line in wanted if line != ELISION)


def fresh_workdir(path: Path) -> Path:
    """A working directory where the docs' relative paths (``policies/``, ``config/``) resolve,
    as in a checkout."""
    path.mkdir(parents=True, exist_ok=True)
    for shipped in ("policies", "config"):
        (path / shipped).symlink_to(REPO / shipped)
    return path


# Every HTTP client that reads the proxy variables (httpx, curl, urllib) fails to reach
# anything but loopback: an example that would use the network fails instead.
NO_NETWORK: Final = {
    name: value
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    for name, value in ((proxy, "http://127.0.0.1:9"), (proxy.lower(), "http://127.0.0.1:9"))
} | {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def environment(workdir: Path) -> dict[str, str]:
    """A newcomer's shell on a machine with no network: the venv's commands on PATH, no
    POLICY_ROUTER_* settings and no provider keys (conftest removes them), a data directory of
    its own, a fixed terminal width."""
    bin_dir = str(Path(sys.executable).parent)
    return (
        dict(os.environ)
        | NO_NETWORK
        | {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "POLICY_ROUTER_DATA_DIR": str(workdir / "data"),
            "COLUMNS": "100",
        }
    )
