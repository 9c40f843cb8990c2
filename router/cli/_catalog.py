"""``policy-router catalog …``: validate, import, render and diff the declared catalog.

None of these forwards a request, so none imports litellm.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from router._catalog_tools.page_format import PageStyle
from router._config.settings import current_catalog_path
from router._core.catalog import Catalog
from router._core.catalog_load import parse_catalog
from router.cli._common import one_line_errors, out, print_json, typer_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from router._catalog_tools.diff import CatalogDiff, Change, ModelRef
    from router._catalog_tools.impact import Impact
    from router._core.preferences import Preferences
    from router._store.base import PreferenceStore

app = typer_app("Validate, import, render and diff the declared catalog.")

CatalogPath = typer.Argument(
    None, help="A catalog YAML file; default: the shipped catalog whose name sorts last."
)
OutputOption = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")


@app.command()
def validate(path: Path | None = CatalogPath) -> None:
    """Load a catalog and check all of it; list every problem (exit status 1) or print a summary."""
    with one_line_errors():
        catalog = _load(path)
    out.print(
        f"ok: {catalog.label}, {len(catalog.providers)} providers, "
        f"{len(catalog.models)} models, {len(catalog.routes)} routes, "
        f"{sum(len(r.provider_ids) for r in catalog.routes)} provider ids",
        markup=False,
    )


@app.command("import")
def import_(
    page: Path = typer.Argument(..., help="The published privacy page (markdown)."),
    version: str | None = typer.Option(
        None, "--version", help="Version label; default: the effective date's YYYY-MM."
    ),
    effective: str | None = typer.Option(
        None, "--effective", help="Date the version takes effect, YYYY-MM-DD; default: today."
    ),
    output: Path | None = OutputOption,
) -> None:
    """Read the page's table into catalog YAML (the layout of policies/*.yaml)."""
    with one_line_errors():
        when = _date(effective)
        label = version or when.strftime("%Y-%m")
        from router._catalog_tools.dump import catalog_to_yaml
        from router._catalog_tools.page import import_page

        catalog = import_page(_read(page, "page"), version=label, effective=when, source=str(page))
        comment = f"Imported from {page.name} by `policy-router catalog import`.\nSchema: policies/README.md."
        _write(
            output, catalog_to_yaml(catalog, source=f"imported from {page.name}", comment=comment)
        )


@app.command()
def render(
    path: Path | None = CatalogPath,
    output: Path | None = OutputOption,
    style: PageStyle = typer.Option(
        PageStyle.BULLETS,
        "--style",
        help="Cells as bullets and <br> (newer pages) or as <ul><li> lists (older pages).",
    ),
) -> None:
    """Write the privacy page (markdown table and footnotes) for a catalog."""
    with one_line_errors():
        from router._catalog_tools.page import render_page

        _write(output, render_page(_load(path), style))


@app.command()
def diff(
    old: Path = typer.Argument(..., help="The older catalog YAML file."),
    new: Path = typer.Argument(..., help="The newer catalog YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
    impact: bool = typer.Option(
        False,
        "--impact",
        help="Also check the preference store: users who would lose every allowed route of a "
        "model (counts; --users for their pseudonyms).",
    ),
    models: list[str] = typer.Option(
        [], "--model", help="With --impact: only this model (repeat for several)."
    ),
    users: bool = typer.Option(
        False, "--users", help="With --impact: list the users, as audit pseudonyms."
    ),
) -> None:
    """What changed between two catalogs: models, providers, routes and policies."""
    with one_line_errors():
        from router._catalog_tools.diff import diff_catalogs

        before, after = _load(old), _load(new)
        changes = diff_catalogs(before, after)
        found = _impact(before, after, models) if impact else None
    if as_json:
        data = changes.to_dict()
        print_json(data if found is None else data | {"impact": found.to_dict(with_users=users)})
        return
    if changes.is_empty:
        out.print(
            f"no changes between {changes.old_version} and {changes.new_version}", markup=False
        )
    else:
        out.print(_diff_table(changes))
    if found is not None:
        out.print(_impact_table(found, users))


def _impact(old: Catalog, new: Catalog, models: list[str]) -> Impact:
    """Every stored user's preferences, decided under both catalogs (users as pseudonyms)."""
    import asyncio

    from router._catalog_tools.impact import impact
    from router._config.keyfile import pseudonym_key
    from router._core.pseudonym import Pseudonymizer
    from router._store import open_store
    from router.cli._common import settings

    config = settings()
    for name in models:
        old.model(name)  # an unknown name fails here, naming it
    pseudonymizer = Pseudonymizer(pseudonym_key(config))

    async def stored() -> list[tuple[str, Preferences]]:
        store = await open_store(config.resolved_store_url(), lock_timeout=config.store_timeout)
        try:
            return [(pseudonymizer.for_audit(u), p) async for u, p in _every_user(store)]
        finally:
            await store.aclose()

    return impact(old, new, config.org.preferences(), asyncio.run(stored()), models)


async def _every_user(store: PreferenceStore) -> AsyncIterator[tuple[str, Preferences]]:
    after = None
    while page := await store.list_users(limit=1000, after=after):
        for user in page:
            prefs = await store.get(user)
            if prefs is not None:
                yield user, prefs
        after = page[-1]


def _impact_table(found: Impact, with_users: bool) -> Table:
    title = (
        f"impact on {found.users_checked} users with stored preferences "
        f"({escape(found.old_version)} → {escape(found.new_version)})"
    )
    table = Table("who", "loses", "users", title=title)

    def shown(names: Sequence[str]) -> str:
        return (", ".join(names) or "none") if with_users else str(len(names))

    for slug, names in found.lost.items():
        if names:
            table.add_row("users", f"every allowed route of {slug}", shown(names))
    table.add_row("users", "every model they had", shown(found.lost_every_model))
    table.add_row(
        "users", "everything: stored preferences name a provider the new catalog lacks",
        shown(found.invalid_under_new),
    )  # fmt: skip
    for slug in found.org_lost:
        table.add_row("the operator's policy alone", f"every allowed route of {slug}", "all")
    return table


def _load(path: Path | None) -> Catalog:
    path = current_catalog_path() if path is None else path
    return parse_catalog(_read(path, "catalog"), source=str(path))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"cannot read the {what} {str(path)!r} ({reason}); check the path") from exc


def _write(path: Path | None, text: str) -> None:
    if path is None:
        typer.echo(text, nl=False)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(f"cannot write {str(path)!r} ({reason}); check the directory") from exc


def _date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--effective must be a date like 2025-11-20 (got {text!r})") from exc


def _diff_table(changes: CatalogDiff) -> Table:
    table = Table("change", "subject", "detail", title=_diff_title(changes))
    for kind, subject, detail in _diff_rows(changes):
        table.add_row(kind, escape(subject), escape(detail))
    return table


def _diff_title(changes: CatalogDiff) -> str:
    return f"catalog {escape(changes.old_version)} → {escape(changes.new_version)}"


def _diff_rows(d: CatalogDiff) -> list[tuple[str, str, str]]:
    rows = [("provider added", slug, "") for slug in d.providers_added]
    rows += [("provider removed", slug, "") for slug in d.providers_removed]
    rows += [("provider changed", c.subject, _change(c)) for c in d.provider_changes]
    rows += [("model added", m.slug, _named(m)) for m in d.models_added]
    rows += [("model removed", m.slug, _named(m)) for m in d.models_removed]
    for r in d.models_renamed:
        case = " (case only)" if r.case_only else ""
        slugs = "" if r.old_slug == r.new_slug else f"; slug {r.old_slug} → {r.new_slug}"
        rows.append(("model renamed" + case, r.new_slug, f"{r.old_name!r} → {r.new_name!r}{slugs}"))
    rows += [("model changed", c.subject, _change(c)) for c in d.model_changes]
    for rc in d.routes_changed:
        detail = " ".join([*(f"+{p}" for p in rc.added), *(f"-{p}" for p in rc.removed)])
        rows.append(("routes changed", rc.model, detail))
    rows += [("policy changed", c.subject, _change(c)) for c in d.policy_changes]
    return rows


def _named(model: ModelRef) -> str:
    return f"{model.name!r} via {', '.join(model.providers)}"


def _change(change: Change) -> str:
    return f"{change.field}: {_shown(change.old)} → {_shown(change.new)}"


def _shown(value: object) -> str:
    if value is None:
        return "unstated"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value).lower() if isinstance(value, bool) else str(value)
