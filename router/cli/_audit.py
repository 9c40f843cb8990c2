"""``policy-router audit summary FILE``: what an audit log says happened, counted."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from router.cli._common import JsonOption, err, one_line_errors, out, print_json

app = typer.Typer(help="Read audit logs.", no_args_is_help=True)


@dataclass
class Summary:
    """Counts over an audit log. Lines that are not audit records are counted, not dropped."""

    events: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    providers: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    attempts: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    unreadable: list[int] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        event = str(record.get("event", "?"))
        self.events[event] += 1
        if event == "route.decision":
            self.models[str(record.get("model"))] += 1
            for candidate in record.get("candidates", ()):
                for reason in candidate.get("reasons", ()):
                    self.rejections[reason] += 1
        elif event == "route.attempt":
            self.providers[str(record.get("provider"))] += 1
            self.outcomes[str(record.get("outcome"))] += 1
            request = str(record.get("request_id"))
            self.attempts[request].append(f"{record.get('provider')}:{record.get('outcome')}")
        elif event == "route.refused":
            self.refusals[str(record.get("reason"))] += 1

    def failed_over(self) -> dict[str, list[str]]:
        """Requests that needed more than one route, with each attempt's provider and outcome."""
        return {rid: tries for rid, tries in self.attempts.items() if len(tries) > 1}

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": dict(self.events),
            "models": dict(self.models),
            "providers": dict(self.providers),
            "outcomes": dict(self.outcomes),
            "refusals": dict(self.refusals),
            "rejection_reasons": dict(self.rejections),
            "failed_over": self.failed_over(),
            "unreadable_lines": self.unreadable,
        }


def summarise(path: Path) -> Summary:
    summary = Summary()
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                summary.unreadable.append(number)
                continue
            if isinstance(record, dict):
                summary.add(record)
            else:
                summary.unreadable.append(number)
    return summary


@app.command("summary")
def summary_command(
    file: Path = typer.Argument(..., help="An audit log: one JSON record per line."),
    as_json: bool = JsonOption,
) -> None:
    """Counts per model, provider, outcome and refusal reason, and the requests that failed over."""
    with one_line_errors():
        summary = summarise(file)
    if as_json:
        print_json(summary.to_dict())
        return
    for title, counts in (
        ("decisions per model", summary.models),
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
    if summary.unreadable:
        lines = ", ".join(map(str, summary.unreadable[:10]))
        err.print(f"warning: {len(summary.unreadable)} lines are not audit records (lines {lines})")


def _print_counts(title: str, counts: Counter[str]) -> None:
    if not counts:
        return
    table = Table(title, "count")
    for key, count in counts.most_common():
        table.add_row(key, str(count))
    out.print(table)
