"""The published privacy page's format, shared by reading it and writing it.

The page is one markdown table, Model | Model Provider | Trains on User Data via API |
Data Retention for API | Privacy Policy / FAQ, with footnotes below it. Cells list their items
as ``<ul><li>…</li></ul>`` (older pages) or ``• item<br>• item`` (newer ones); an item may
carry footnote markers (``OpenAI¹ ³``). ``read_table`` turns the markdown into rows of items and
numbered footnotes. Names become slugs, a footnote's words tell its kind (``classify``), a label
note names its label (``label_in``), and a link belongs to one of its row's providers
(``link_owner``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from router._core.catalog import Note, NoteKind, fold
from router._errors import CatalogError

SUPERSCRIPTS: Final = "⁰¹²³⁴⁵⁶⁷⁸⁹"
PROVIDER_SLUGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "anthropic": "anthropic",
        "amazon bedrock": "bedrock",
        "openai": "openai",
        "microsoft azure": "azure",
        "mistral ai": "mistral",
        "nebius": "nebius",
        "google": "google",
        "fireworks.ai": "fireworks",
        "together.ai": "together",
        "groq": "groq",
        "cerebras": "cerebras",
        "xai": "xai",
        "deepinfra": "deepinfra",
        "amazon": "amazon",
    }
)
COLUMNS: Final = (
    "Model",
    "Model Provider",
    "Trains on User Data via API",
    "Data Retention for API",
    "Privacy Policy / FAQ",
)


class PageStyle(StrEnum):
    """How a cell lists its items: the newer pages' bullets, or the older pages' HTML lists."""

    BULLETS = "bullets"  # • item<br>• item
    LISTS = "lists"  # <ul><li>item</li><li>item</li></ul>


_LABEL = re.compile(
    r"(?:label(?:l?ed)?\s+as|shown\s+as|the\s+label)\s+"
    r"(?:[“\"'](?P<quoted>[^”\"']+)[”\"']|(?P<bare>.+?)(?=\s+in\s|[.;,]?\s*$))",
    re.I,
)
TAGS: Final[Mapping[str, NoteKind]] = MappingProxyType(
    {
        "Identifier": NoteKind.IDENTIFIER,
        "Label": NoteKind.LABEL,
        "Availability": NoteKind.AVAILABILITY,
        "Legal": NoteKind.LEGAL,
        "Note": NoteKind.OTHER,
    }
)
NOTE_TAGS: Final[Mapping[NoteKind, str]] = MappingProxyType({k: t for t, k in TAGS.items()})
_TAG = re.compile(rf"^(?P<tag>{'|'.join(TAGS)}):\s+")
_KEYWORDS: Final = (
    (NoteKind.IDENTIFIER, ("identifier",)),
    (NoteKind.LABEL, ("label", "shown as")),
    (NoteKind.AVAILABILITY, ("availab",)),
    (NoteKind.LEGAL, ("retain", "legal", "court")),
)


def slugify(name: str) -> str:
    """Lowercase, every run of other characters than letters and digits one dash."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def provider_slug(name: str) -> str:
    """The slug of a provider's display name: the fixed table, else the slugified name."""
    return PROVIDER_SLUGS.get(fold(name), slugify(name))


def classify(text: str) -> tuple[NoteKind, str]:
    """A footnote's kind, told by its words, and its text without a leading kind tag.

    A leading tag (``Legal: …``, ``Note: …``) states the kind outright; ``render_page`` adds
    one when a note's words alone would tell another kind.
    """
    tagged = _TAG.match(text)
    if tagged:
        return TAGS[tagged["tag"]], text[tagged.end() :]
    return kind_of(text), text


def kind_of(text: str) -> NoteKind:
    """identifier, label (``labeled as``, ``shown as``), availability, legal, else other."""
    lowered = text.casefold()
    for kind, words in _KEYWORDS:
        if any(word in lowered for word in words):
            return kind
    return NoteKind.OTHER


def label_in(text: str) -> str | None:
    """The label a label note names: ``labeled as X in …``, ``shown as “X”``, ``the label X``."""
    found = _LABEL.search(text)
    if found is None:
        return None
    return (found["quoted"] or found["bare"]).strip()


def link_owner(title: str, names: Mapping[str, str]) -> tuple[str | None, str]:
    """Whose link this is among a row's providers (slug → name), and its title without a prefix.

    The row's only provider; else the provider named as a ``Name: …`` prefix; else the provider
    whose name the title contains (the longest such name).
    """
    if len(names) == 1:
        return next(iter(names)), title
    for slug, name in names.items():
        if title.startswith(f"{name}: "):
            return slug, title[len(name) + 2 :]
    named = [(len(name), slug) for slug, name in names.items() if fold(name) in fold(title)]
    return (max(named)[1], title) if named else (None, title)


def superscript(number: int) -> str:
    """A footnote number as a marker: 12 → ¹²."""
    return str(number).translate(str.maketrans("0123456789", SUPERSCRIPTS))


def marker_number(marks: str) -> int:
    """A marker as a footnote number: ¹² → 12."""
    return int(marks.translate(str.maketrans(SUPERSCRIPTS, "0123456789")))


# --- the markdown -----------------------------------------------------------------------------

_MARKS = re.compile(rf"^(?P<body>.*?)(?P<marks>(?:[\s,]*[{SUPERSCRIPTS}]+)+)\s*$", re.S)
LINK = re.compile(r"\[(?P<title>[^\]]+)\]\((?P<url>[^)\s]+)\)")
_SOURCE_LINK = re.compile(r"\s*\(\[[^\]]+\]\([^)\s]+\)\)\s*$")
_LIST_ITEM = re.compile(r"<li>(.*?)</li>", re.I | re.S)
_BREAK = re.compile(r"<br\s*/?>", re.I)
_FOOTNOTE = re.compile(rf"^\s*(?P<mark>[{SUPERSCRIPTS}]+)\s+(?P<text>\S.*?)\s*$")
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_ROLES: Final = (  # a header names its column's role by one of these words; first match wins
    ("providers", ("provider",)),
    ("models", ("model",)),
    ("trains", ("train",)),
    ("retention", ("retention",)),
    ("links", ("privacy", "faq", "policy")),
)
_ROLE_COLUMNS: Final = MappingProxyType(
    dict(zip(("models", "providers", "trains", "retention", "links"), COLUMNS, strict=True))
)


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a cell: its text and the footnote numbers marked on it."""

    text: str
    marks: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the table; ``number`` counts from 1 below the header."""

    number: int
    models: tuple[Item, ...]
    providers: tuple[Item, ...]
    trains: Item
    retention: Item
    links: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[Row, ...]
    footnotes: Mapping[int, Note]


def read_table(text: str, source: str) -> Table:
    """The page's table and footnotes; raise CatalogError if the markdown is not that table."""
    lines = text.splitlines()
    start = next((i for i in range(len(lines) - 1) if _is_header(lines[i], lines[i + 1])), None)
    if start is None:
        expected = " | ".join(COLUMNS)
        raise CatalogError([f"{source}: no markdown table found; expected columns {expected}"])
    header = cells(lines[start])
    roles = _roles(header, source)
    body = lines[start + 2 :]
    end = next((i for i, line in enumerate(body) if not line.lstrip().startswith("|")), len(body))
    problems: list[str] = []
    rows = [_row(n, line, roles, len(header), problems) for n, line in enumerate(body[:end], 1)]
    footnotes = _footnotes(body[end:], problems)
    if problems:
        raise CatalogError([f"{source}: {p}" for p in problems])
    return Table(tuple(r for r in rows if r is not None), MappingProxyType(footnotes))


def _is_header(line: str, below: str) -> bool:
    return line.lstrip().startswith("|") and _SEPARATOR.match(below.strip()) is not None


def cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in inner.split("|")]


def _roles(header: Sequence[str], source: str) -> dict[str, int]:
    roles: dict[str, int] = {}
    for i, name in enumerate(header):
        role = next((r for r, words in _ROLES if any(w in name.casefold() for w in words)), None)
        if role is not None:
            roles.setdefault(role, i)
    found = " | ".join(header)
    missing = [column for role, column in _ROLE_COLUMNS.items() if role not in roles]
    if missing:
        raise CatalogError(
            [f"{source}: the table has no column {c!r} (found: {found})" for c in missing]
        )
    return roles


def _row(
    number: int, line: str, roles: Mapping[str, int], width: int, problems: list[str]
) -> Row | None:
    found = cells(line)
    if len(found) != width:
        problems.append(f"table row {number}: expected {width} cells, found {len(found)}")
        return None
    return Row(
        number=number,
        models=items(found[roles["models"]]),
        providers=items(found[roles["providers"]]),
        trains=item(found[roles["trains"]]),
        retention=item(found[roles["retention"]]),
        links=items(found[roles["links"]]),
    )


def item(text: str) -> Item:
    """One cell entry, its trailing footnote markers split off: ``OpenAI¹ ³`` → OpenAI, (1, 3)."""
    text = text.strip()
    found = _MARKS.match(text)
    if found is None:
        return Item(text)
    marks = re.findall(rf"[{SUPERSCRIPTS}]+", found["marks"])
    return Item(found["body"].strip(), tuple(marker_number(m) for m in marks))


def items(cell: str) -> tuple[Item, ...]:
    """A cell's entries: ``<li>`` elements if it has any, else the parts between ``<br>``."""
    parts = _LIST_ITEM.findall(cell) if _LIST_ITEM.search(cell) else _BREAK.split(cell)
    texts = (part.strip().lstrip("•*·").strip() for part in parts)
    return tuple(item(text) for text in texts if text)


def _footnotes(lines: Iterable[str], problems: list[str]) -> dict[int, Note]:
    notes: dict[int, Note] = {}
    for line in lines:
        found = _FOOTNOTE.match(line)
        if found is None:
            continue
        number = marker_number(found["mark"])
        if number in notes:
            problems.append(f"footnote {found['mark']} is defined twice; number footnotes uniquely")
        notes.setdefault(number, footnote(found["text"]))
    return notes


def footnote(text: str) -> Note:
    """A footnote's line after its marker, as a note: its kind, its words (links reduced to
    their titles) and its first link; a trailing ``([source](url))`` is only its link."""
    link = LINK.search(text)
    plain = LINK.sub(lambda m: m["title"], _SOURCE_LINK.sub("", text)).strip()
    kind, plain = classify(plain)
    return Note(kind, plain, None if link is None else link["url"])
