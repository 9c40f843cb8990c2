"""The published privacy page, both ways: ``import_page`` reads its table into a catalog,
``render_page`` (from ``router._catalog_tools.page_render``) writes a catalog as that table.

Each row of the page declares its models times its providers under one policy: one entry of a
catalog file's ``routes``. Model slugs are the slugified display names; provider slugs come
from a fixed table (``PROVIDER_SLUGS``). A name ending in "(reasoning)", "with Thinking" or
"with extended thinking" is a reasoning variant: fixed ``reasoning_effort: medium``, and a
variant of the base model when that model is on the page too. A footnote goes where its marker
stands: on a model (the model's notes), on a provider (that provider's override in the row),
or on the policy cells (the row's policy). An identifier footnote also sets
``user_identifier: omit`` there; a label footnote makes its label an alias of the marked model,
and an entry that is just that label is no model of its own. Both directions are pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from router._catalog_tools.page_format import (
    LINK,
    Item,
    Row,
    Table,
    label_in,
    link_owner,
    provider_slug,
    read_table,
    slugify,
    superscript,
)
from router._catalog_tools.page_render import render_page
from router._core.catalog import Catalog, Link, Note, NoteKind, fold
from router._core.catalog_load import build_catalog
from router._core.duration import ACCEPTED, Duration
from router._errors import CatalogError

__all__ = ["import_page", "render_page"]

REASONING_PARAMS: Final[Mapping[str, str]] = MappingProxyType({"reasoning_effort": "medium"})
_REASONING = re.compile(r"\s*(\(reasoning\)|with thinking|with extended thinking)\s*$", re.I)
_FLAGGED = re.compile(r"^(?P<standard>.*?)\s*\(\s*flagged[^:]*:\s*(?P<flagged>[^)]*)\)\s*$", re.I)
_UNSTATED: Final = frozenset({"", "not stated", "unknown", "?"})


def import_page(text: str, *, version: str, effective: date, source: str = "<page>") -> Catalog:
    """Read the published page's table (either style) into a validated catalog.

    The data goes through ``build_catalog``, so the loader's checks apply. Raise CatalogError
    naming every problem; ``source`` names the page in those messages.
    """
    table = read_table(text, source)
    state = _Import(table.footnotes, _labels(table))
    for row in table.rows:
        state.add_row(row)
    state.resolve_variants()
    if state.problems:
        raise CatalogError([f"{source}: {p}" for p in state.problems])
    raw = {
        "version": version,
        "effective": effective,
        "source": f"imported from {source}",
        "providers": state.providers,
        "models": state.models,
        "routes": state.routes,
    }
    try:
        return build_catalog(raw, source=source)
    except CatalogError as exc:
        raise CatalogError([_in_page_terms(p) for p in exc.problems]) from exc


@dataclass(slots=True)
class _Import:
    """The catalog file's data as one import gathers it from the rows (scratch, never shared)."""

    footnotes: Mapping[int, Note]
    labels: frozenset[str]
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add_row(self, row: Row) -> None:
        models = [self.model(row, i) for i in row.models if fold(i.text) not in self.labels]
        providers = [self.provider(row, i.text) for i in row.providers]
        entry: dict[str, Any] = {
            "models": list(dict.fromkeys(models)),
            "providers": providers,
            "policy": self.policy(row),
        }
        overrides = {
            slug: doc
            for slug, item in zip(providers, row.providers, strict=True)
            if (doc := _stands_on(self.notes(row, item)))
        }
        if overrides:
            entry["overrides"] = overrides
        self.routes.append(entry)
        self.add_links(row, providers)

    def notes(self, row: Row, item: Item) -> list[Note]:
        for mark in item.marks:
            if mark not in self.footnotes:
                self.problems.append(
                    f"table row {row.number}: footnote marker {superscript(mark)} on "
                    f"{item.text!r} has no footnote below the table"
                )
        return [self.footnotes[mark] for mark in item.marks if mark in self.footnotes]

    def model(self, row: Row, item: Item) -> str:
        name, slug = item.text, slugify(item.text)
        doc = self.models.setdefault(slug, _model_doc(name))
        if fold(doc["name"]) != fold(name):
            self.problems.append(
                f"table row {row.number}: models {doc['name']!r} and {name!r} have the same "
                f"slug {slug!r}; rename one of them"
            )
        for note in self.notes(row, item):
            label = _label(note, row, item) if note.kind is NoteKind.LABEL else None
            if label is not None and label not in doc.setdefault("aliases", []):
                doc["aliases"].append(label)
            if note.to_dict() not in doc.setdefault("notes", []):
                doc["notes"].append(note.to_dict())
        return slug

    def provider(self, row: Row, name: str) -> str:
        slug = provider_slug(name)
        doc = self.providers.setdefault(slug, {"name": name})
        if fold(doc["name"]) != fold(name):
            self.problems.append(
                f"table row {row.number}: providers {doc['name']!r} and {name!r} have the same "
                f"slug {slug!r}; rename one of them or give it a slug in PROVIDER_SLUGS"
            )
        return slug

    def policy(self, row: Row) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for read, cell in ((_trains, row.trains), (_retention, row.retention)):
            try:
                doc.update(read(cell.text))
            except ValueError as exc:
                self.problems.append(f"table row {row.number}: {exc}")
        stated = {k: v for k, v in doc.items() if v is not None}
        return {
            **stated,
            **_stands_on(self.notes(row, row.trains) + self.notes(row, row.retention)),
        }

    def add_links(self, row: Row, providers: Sequence[str]) -> None:
        """Each link goes to its provider; a provider keeps the links of its first linked row."""
        names = {slug: self.providers[slug]["name"] for slug in providers}
        gathered: dict[str, list[dict[str, Any]]] = {}
        for item in row.links:
            link = _link(item.text)
            owner, title = link_owner(link.title, names)
            if owner is None:
                self.problems.append(
                    f"table row {row.number}: link {link.title!r} names none of the row's "
                    f"providers ({', '.join(names.values())}); put the provider's name in its title"
                )
                continue
            gathered.setdefault(owner, []).append(_link_doc(Link(title, link.url)))
        for slug, links in gathered.items():
            if slug not in self.linked:
                self.linked.add(slug)
                self.providers[slug]["links"] = links

    def resolve_variants(self) -> None:
        for doc in self.models.values():
            base = _REASONING.sub("", doc["name"])
            if base != doc["name"] and slugify(base) in self.models:
                doc["variant_of"] = slugify(base)


def _labels(table: Table) -> frozenset[str]:
    """Every label the page's label footnotes name; an entry that is just a label is no model."""
    labels = set()
    for row in table.rows:
        for item in row.models:
            notes = (table.footnotes.get(mark) for mark in item.marks)
            for note in notes:
                label = _label(note, row, item) if note and note.kind is NoteKind.LABEL else None
                labels.update([] if label is None else [fold(label)])
    return frozenset(labels)


def _label(note: Note, row: Row, item: Item) -> str | None:
    """The label a label footnote names, else another entry of the row that it names."""
    found = label_in(note.text)
    if found is not None:
        return found
    others = (i.text for i in row.models if i != item)
    return next((name for name in others if fold(name) in fold(note.text)), None)


def _model_doc(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name}
    if _REASONING.search(name):
        doc["params"] = dict(REASONING_PARAMS)
    return doc


def _stands_on(notes: Sequence[Note]) -> dict[str, Any]:
    """What footnotes do where they stand: add their notes; an identifier note omits the id."""
    doc: dict[str, Any] = {}
    if any(n.kind is NoteKind.IDENTIFIER for n in notes):
        doc["user_identifier"] = "omit"
    if notes:
        doc["notes"] = [n.to_dict() for n in notes]
    return doc


def _trains(text: str) -> dict[str, bool | None]:
    word = fold(text)
    if word not in {"no", "yes", *_UNSTATED}:
        raise ValueError(f"'Trains on User Data via API' must be Yes, No or empty (got {text!r})")
    return {"trains_on_api_data": None if word in _UNSTATED else word == "yes"}


def _retention(text: str) -> dict[str, str | None]:
    """``30 days (flagged prompts: 2 years)`` → retention 30d, flagged_retention 2y."""
    found = _FLAGGED.match(text)
    parts = {"retention": found["standard"], "flagged_retention": found["flagged"]} if found else {}
    return {key: _duration(cell) for key, cell in (parts or {"retention": text}).items()}


def _duration(cell: str) -> str | None:
    if fold(cell) in _UNSTATED:
        return None
    try:
        return str(Duration.parse(cell))
    except ValueError as exc:
        raise ValueError(f"'Data Retention for API' must be {ACCEPTED} (got {cell!r})") from exc


def _link(text: str) -> Link:
    found = LINK.fullmatch(text)
    return Link(text) if found is None else Link(found["title"], found["url"])


def _link_doc(link: Link) -> dict[str, Any]:
    return {"title": link.title} if link.url is None else {"title": link.title, "url": link.url}


def _in_page_terms(problem: str) -> str:
    """``routes[2]`` of the data built from the page is the page's table row 3."""
    return re.sub(
        r"routes\[(\d+)\]", lambda m: f"table row {int(m[1]) + 1} (routes[{m[1]}])", problem
    )
