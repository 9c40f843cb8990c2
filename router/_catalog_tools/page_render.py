"""Writing the published privacy page from a catalog: the table, in either style, and footnotes.

Rows are the catalog's entries (models whose routes share providers and policies), split where
providers differ in what the policy columns can show. Footnotes are the catalog's notes, in its
own words; a note whose words would read back as another kind is tagged (``Legal: …``). What
the page has no place for (fixed parameters other than a reasoning variant, a ``pseudonymous``
or ``allowed`` user identifier) is not rendered: ``import_page`` reads it back as unstated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from router._catalog_tools.dump import Entry, common_notes, entries
from router._catalog_tools.page_format import (
    COLUMNS,
    NOTE_TAGS,
    PageStyle,
    classify,
    kind_of,
    label_in,
    link_owner,
    superscript,
)
from router._core.catalog import (
    Catalog,
    DataPolicy,
    Link,
    Model,
    Note,
    NoteKind,
    Provider,
    UserIdentifier,
)
from router._core.duration import Duration

_INTRO: Final = """\
# LLMs & Privacy

The Assistant answers with models that third-party providers serve through their APIs. For each
model and provider below, the table says whether the provider may train on what it receives
through the API, how long it keeps it, and where its privacy terms are published. The router
enforces these statements on every request.

Catalog {version}, effective {effective}.
"""
_IDENTIFIER_TEXT: Final = "No end-user identifier is sent to this provider."


@dataclass(slots=True)
class _Numbers:
    """Footnote numbers in order of first use; the same note keeps its number."""

    notes: dict[tuple[NoteKind, str, str | None], int] = field(default_factory=dict)

    def marks(self, notes: Iterable[Note]) -> str:
        numbers = [
            self.notes.setdefault((n.kind, n.text, n.url), len(self.notes) + 1) for n in notes
        ]
        return " ".join(superscript(n) for n in dict.fromkeys(numbers))

    def lines(self) -> list[str]:
        out = []
        for (kind, text, url), number in self.notes.items():
            out += [f"{superscript(number)} {_footnote_text(kind, text, url)}", ""]
        return out


def _footnote_text(kind: NoteKind, text: str, url: str | None) -> str:
    """The note's words, tagged with its kind unless they read back as that kind unchanged."""
    if classify(text) != (kind, text):
        text = f"{NOTE_TAGS[kind]}: {text}"
    return text if url is None else f"{text} ([source]({url}))"


def _page_rows(catalog: Catalog) -> tuple[Entry, ...]:
    """The catalog's entries, split where providers differ in what the policy columns show."""
    rows = []
    for entry in entries(catalog):
        shown: dict[tuple[Any, ...], list[int]] = {}
        for i, p in enumerate(entry.policies):
            key = (p.trains_on_api_data, p.retention, p.flagged_retention)
            shown.setdefault(key, []).append(i)
        for picks in shown.values():
            providers = tuple(entry.providers[i] for i in picks)
            policies = tuple(entry.policies[i] for i in picks)
            rows.append(Entry(entry.models, providers, policies))
    return tuple(rows)


def render_page(catalog: Catalog, style: PageStyle = PageStyle.BULLETS) -> str:
    """The page for a catalog: the table, its cells in ``style``, and footnotes in our words."""
    numbers = _Numbers()
    header = f"| {' | '.join(COLUMNS)} |"
    rule = "| " + " | ".join(":" + "-" * (len(c) - 1) for c in COLUMNS) + " |"
    rows = [_render_row(row, numbers, style) for row in _page_rows(catalog)]
    intro = _INTRO.format(version=catalog.version, effective=catalog.effective.isoformat())
    return "\n".join([intro, header, rule, *rows, "", *numbers.lines()]).rstrip() + "\n"


def _render_row(row: Entry, numbers: _Numbers, style: PageStyle) -> str:
    shared = common_notes(row.policies)
    policy_notes = [n for n in shared if n.kind is not NoteKind.IDENTIFIER]
    cells = [
        _list(style, (_model_items(model, numbers) for model in row.models)),
        _list(
            style,
            (
                [p.name + numbers.marks(_provider_notes(policy, shared))]
                for p, policy in zip(row.providers, row.policies, strict=True)
            ),
        ),
        _yes_no(row.policies[0].trains_on_api_data),
        _retention_text(row.policies[0]) + numbers.marks(policy_notes),
        _list(style, _link_items(row.providers)),
    ]
    return f"| {' | '.join(cells)} |"


def _list(style: PageStyle, groups: Iterable[Iterable[str]]) -> str:
    flat = [item for group in groups for item in group]
    if style is PageStyle.LISTS:
        return "<ul>" + "".join(f"<li>{item}</li>" for item in flat) + "</ul>"
    return "<br>".join(f"• {item}" for item in flat)


def _model_items(model: Model, numbers: _Numbers) -> list[str]:
    labels = [n for n in model.notes if n.kind is NoteKind.LABEL]
    shown = [
        _label_note(model, alias, labels[i] if i < len(labels) else None)
        for i, alias in enumerate(model.aliases)
    ]
    others = [n for n in model.notes if n not in labels[: len(shown)]]
    return [*model.aliases, model.name + numbers.marks([*shown, *others])]


def _label_note(model: Model, alias: str, note: Note | None) -> Note:
    """A label note that reads back as this alias: the catalog's words if they do, else ours."""
    if note is not None and kind_of(note.text) is NoteKind.LABEL and label_in(note.text) == alias:
        return note
    text = f"{model.name} is shown as “{alias}” in the Assistant's model list."
    return Note(NoteKind.LABEL, text, None if note is None else note.url)


def _provider_notes(policy: DataPolicy, shared: Sequence[Note]) -> list[Note]:
    """Identifier notes and the notes this provider alone has go on the provider's name."""
    own = [n for n in shared if n.kind is NoteKind.IDENTIFIER] + list(policy.notes[len(shared) :])
    said = any(n.kind is NoteKind.IDENTIFIER for n in own)
    if policy.user_identifier is UserIdentifier.OMIT and not said:
        own.append(Note(NoteKind.IDENTIFIER, _IDENTIFIER_TEXT))
    return own


def _yes_no(value: bool | None) -> str:
    return "Not stated" if value is None else "Yes" if value else "No"


def _retention_text(policy: DataPolicy) -> str:
    text = _duration_text(policy.retention)
    if policy.flagged_retention is None:
        return text
    return f"{text} (flagged prompts: {_duration_text(policy.flagged_retention)})"


def _duration_text(duration: Duration | None) -> str:
    if duration is None:
        return "Not stated"
    hours = duration.seconds / 3600
    if 0 < hours < 48 and hours.is_integer():
        return f"{int(hours)} hours" if hours != 1 else "1 hour"
    text = duration.describe()
    return text[:1].upper() + text[1:]


def _link_items(providers: Sequence[Provider]) -> list[list[str]]:
    names = {p.slug: p.name for p in providers}
    return [
        [_link_text(link, provider, names) for link in provider.links] for provider in providers
    ]


def _link_text(link: Link, provider: Provider, names: Mapping[str, str]) -> str:
    title = link.title
    if link_owner(title, names) != (provider.slug, title):
        title = f"{provider.name}: {title}"
    return title if link.url is None else f"[{title}]({link.url})"
