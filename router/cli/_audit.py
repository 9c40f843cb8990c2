"""``policy-router audit verify | query | summary``: the audit log as evidence."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import typer
from rich.table import Table

from router._audit.policy import Catalogs
from router._audit.query import Filter, Summary, outcome_of, report, select
from router._audit.records import Searched, read
from router._audit.verify import Report, verify
from router._core.duration import Duration
from router.cli._common import (
    JsonOption,
    err,
    one_line_errors,
    out,
    print_json,
    settings,
    typer_app,
)

app = typer_app("Read audit logs: verify them, query them.")

Files = typer.Argument(..., help="Audit logs, oldest first; '-' reads standard input.")
PoliciesOption = typer.Option(
    None, "--policies", help="Directory of catalog versions. Default: the shipped policies/."
)


@app.command("verify")
def verify_command(
    files: list[str] = Files,
    checkpoint: list[Path] | None = typer.Option(
        None, "--checkpoint", help="Checkpoint file(s): proves nothing was cut after them."
    ),
    policies: Path | None = PoliciesOption,
    as_json: bool = JsonOption,
) -> None:
    """Exit 0 only when every writer's chain holds and no record violates its catalog version.

    Exit 2 when verification fails (the first break is located by file and line)."""
    with one_line_errors():
        config = settings()
        from router._config.keyfile import audit_key

        found = verify(
            files,
            key=audit_key(config, create=False),
            policies=policies or config.catalog.parent,
            checkpoints=checkpoint or (),
            operator_policies=[_operator_policy(config)],
        )
    if as_json:
        print_json(found.to_dict())
    else:
        _print_verification(found)
    if not found.ok:
        raise typer.Exit(2)


def _operator_policy(config: Any) -> dict[str, Any]:
    """The settings' operator policy as the router records it (providers as catalog slugs)."""
    from router._core.catalog_load import load_catalog
    from router._core.decision import canonical

    return canonical(load_catalog(config.catalog), config.org.preferences()).to_dict()


def _print_verification(found: Report) -> None:
    table = Table("check", "result")
    chain = "holds" if not found.breaks else f"BROKEN ({len(found.breaks)} places)"
    table.add_row("records checked", str(found.records))
    table.add_row("writers (chains)", str(found.writers))
    table.add_row("checkpoints", str(found.checkpoints))
    table.add_row("chain", chain)
    table.add_row("decisions re-checked", str(found.decisions))
    table.add_row("attempts re-checked", str(found.attempts))
    table.add_row("refusals re-checked", str(found.refusals))
    announced = "checked" if found.announcements_checked else "not checked (no --checkpoint)"
    table.add_row("writers announced", announced)
    table.add_row("retention in force", found.retention or "none set (rotated files kept)")
    table.add_row("retention cuts", str(found.cuts))
    table.add_row("policy violations", str(len(found.violations)))
    out.print(table)
    if found.breaks:
        first = found.breaks[0]
        out.print(f"first break: {first.file}:{first.line}: {first.reason}", markup=False)
        for more in found.breaks[1:10]:
            out.print(f"  then {more.file}:{more.line}: {more.reason}", markup=False)
    for violation in found.violations[:20]:
        out.print(
            f"violation: {violation.file}:{violation.line} request {violation.request_id} "
            f"route {violation.route}: {violation.reason}",
            markup=False,
        )
    out.print("verified" if found.ok else "NOT verified", markup=False)


def _when(value: str | None, flag: str) -> datetime | None:
    """An ISO date or time (UTC unless it says), or a duration back from now (``7d``)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            return datetime.now(UTC) - timedelta(seconds=Duration.parse(value).seconds)
        except (ValueError, OverflowError):
            raise ValueError(
                f"{flag} must be an ISO date or time (2025-11-01, 2025-11-01T12:00) or a duration "
                f"back from now (24h, 7d) (got {value!r})"
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _filter(
    user: str | None,
    since: str | None,
    until: str | None,
    model: str | None,
    provider: str | None,
    catalog_version: str | None,
    outcome: str | None,
    event: str | None,
) -> Filter:
    """Flags to a filter: the raw user id becomes its audit pseudonym, names become slugs."""
    config = settings()
    pseudonym = None
    if user is not None:
        from router._config.keyfile import pseudonym_key
        from router._core.pseudonym import Pseudonymizer

        pseudonym = Pseudonymizer(pseudonym_key(config, create=False)).for_audit(user)
    return Filter(
        user=pseudonym,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        model=_slug(config.catalog, model, "model"),
        provider=_slug(config.catalog, provider, "provider"),
        catalog_version=catalog_version,
        outcome=outcome,
        event=event,
    )


def _slug(catalog_path: Path, name: str | None, kind: str) -> str | None:
    """A display name or alias as the current catalog knows it; else the name as given."""
    if name is None:
        return None
    from router._core.catalog_load import load_catalog
    from router._errors import RouterError

    try:
        catalog = load_catalog(catalog_path)
        return catalog.model(name).slug if kind == "model" else catalog.provider(name).slug
    except (RouterError, LookupError):
        return name


@app.command("query")
def query_command(
    files: list[str] = Files,
    user: str | None = typer.Option(None, "--user", "-u", help="Raw user id (pseudonymised here)."),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO) or duration ago."),
    until: str | None = typer.Option(
        None, "--until", help="Before this time (ISO) or duration ago."
    ),
    model: str | None = typer.Option(None, "--model", help="Model name, alias or slug."),
    provider: str | None = typer.Option(None, "--provider", help="Provider name or slug."),
    catalog_version: str | None = typer.Option(None, "--catalog-version", help="label@hash12"),
    outcome: str | None = typer.Option(
        None, "--outcome", help="ok, timeout, …; decided / refused for decisions and refusals."
    ),
    event: str | None = typer.Option(None, "--event", help="route.decision, route.attempt, …"),
    summary: bool = typer.Option(False, "--summary", help="Counts instead of records."),
    for_report: bool = typer.Option(
        False, "--report", help="Providers that received the requests, and their data policy."
    ),
    html: Path | None = typer.Option(
        None,
        "--html",
        help="With --report: write it as one self-contained HTML page to this file.",
    ),
    policies: Path | None = PoliciesOption,
    as_json: bool = JsonOption,
) -> None:
    """The records that match, as a table (time, model, provider, outcome, catalog version)."""
    unreadable: list[str] = []
    with one_line_errors():
        if html is not None and not for_report:
            raise ValueError("--html writes the report: add --report")
        where = _filter(user, since, until, model, provider, catalog_version, outcome, event)
        records = select(read(files), where, unreadable)
        if for_report:
            found = report(records, Catalogs(policies or settings().catalog.parent))
            if html is not None:
                _write_page(found, where, html)
            else:
                _print_report(found, user, where, as_json)
        elif summary:
            counts = Summary()
            for record in records:
                counts.add(record)
            _print_summary(counts, unreadable, as_json)
        else:
            _print_records(list(records), as_json)
    if unreadable:
        where_ = ", ".join(unreadable[:10])
        err.print(f"warning: {len(unreadable)} lines are not audit records ({where_})")


@app.command("summary")
def summary_command(
    files: list[str] = Files,
    as_json: bool = JsonOption,
) -> None:
    """The same as ``audit query FILES --summary`` (kept for scripts that use it)."""
    query_command(
        files=files, user=None, since=None, until=None, model=None, provider=None,
        catalog_version=None, outcome=None, event=None, summary=True, for_report=False,
        html=None, policies=None, as_json=as_json,
    )  # fmt: skip


def _print_records(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(records)
        return
    table = Table("time", "event", "model", "provider", "outcome", "catalog version", "request")
    for record in records:
        r = cast(Searched, record)
        table.add_row(
            str(r.get("ts", "")), str(r.get("event", "")), str(r.get("model") or ""),
            str(r.get("provider") or ""), outcome_of(record), str(r.get("catalog_version") or ""),
            str(r.get("request_id") or "")[:12],
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(records)} records")


def _print_summary(summary: Summary, unreadable: list[str], as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict() | {"unreadable_lines": unreadable})
        return
    for title, counts in (
        ("decisions per model", summary.models),
        ("decisions per catalog version", summary.catalog_versions),
        ("attempts per provider", summary.providers),
        ("attempt outcomes", summary.outcomes),
        ("refusals", summary.refusals),
        ("rejection reasons", summary.rejections),
    ):
        _print_counts(title, counts)
    failed_over = summary.failed_over()
    out.print(f"requests that failed over: {len(failed_over)}")
    for request, tries in failed_over.items():
        out.print(f"  {request}: {' -> '.join(tries)}", markup=False)


def _print_counts(title: str, counts: Counter[str]) -> None:
    if not counts:
        return
    table = Table(title, "count")
    for key, count in counts.most_common():
        table.add_row(key, str(count))
    out.print(table)


def _write_page(found: dict[str, Any], where: Filter, path: Path) -> None:
    """The report as an HTML page; the user appears as their audit pseudonym only."""
    from router._audit.report_page import render

    period = {
        "since": where.since.isoformat() if where.since else None,
        "until": where.until.isoformat() if where.until else None,
    }
    path.write_text(render(found | period, where.user), encoding="utf-8")
    err.print(f"wrote {path}", markup=False)


def _print_report(found: dict[str, Any], user: str | None, where: Filter, as_json: bool) -> None:
    found = {
        "user": user,
        "pseudonym": where.user,
        "since": where.since.isoformat() if where.since else None,
        "until": where.until.isoformat() if where.until else None,
    } | found
    if as_json:
        print_json(found)
        return
    who = f"{user} ({where.user})" if user else "all users"
    out.print(f"Requests of {who}", markup=False)
    out.print(
        f"period: {found['since'] or found['first_record'] or '-'} to "
        f"{found['until'] or found['last_record'] or '-'}; requests decided: "
        f"{found['requests_decided']}, refused: {found['requests_refused']}",
        markup=False,
    )
    table = Table(
        "provider", "model", "catalog version", "attempts", "retention", "flagged", "trains",
        "user identifier",
    )  # fmt: skip
    for row in found["routes"]:
        policy = row["policy"] or {}
        table.add_row(
            row["provider_name"] or row["provider"], row["model"], row["catalog_version"],
            f"{row['attempts']} ({row['offline_attempts']} offline)",
            policy.get("retention", "catalog version not found"),
            policy.get("flagged_retention", ""), str(policy.get("trains_on_api_data", "")),
            policy.get("user_identifier", ""),
        )  # fmt: skip
    out.print(table)
    out.print("No message content is recorded in the audit log, so none is reported.")
