"""``audit query``: the records a question selects, their counts, and one user's report.

Filters compare with the record's own fields: ``user`` is the audit pseudonym (the CLI turns
a raw id into it with the configured key), ``since`` / ``until`` bound ``ts``, ``model`` and
``provider`` are slugs, ``outcome`` is an attempt's outcome (or ``decided``, ``refused``,
``set``, ``delete`` for the other events, as ``outcome_of`` says).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from router._audit.chain import CHECKPOINT_EVENT
from router._audit.policy import Catalogs
from router._audit.records import Line, RouteAttempt, RouteDecision, RouteRefused, Searched


@dataclass(frozen=True, slots=True)
class Filter:
    """Which records a query selects; ``None`` selects any."""

    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    provider: str | None = None
    catalog_version: str | None = None
    outcome: str | None = None
    event: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        seen = cast(Searched, record)
        event = seen.get("event")
        if event == CHECKPOINT_EVENT and self.event != CHECKPOINT_EVENT:
            return False
        wanted = (
            (self.user, seen.get("user")),
            (self.model, seen.get("model")),
            (self.provider, seen.get("provider")),
            (self.catalog_version, seen.get("catalog_version")),
            (self.event, event),
        )
        if any(want is not None and want != got for want, got in wanted):
            return False
        if self.outcome is not None and outcome_of(record) != self.outcome:
            return False
        return self._in_period(seen.get("ts"))

    def _in_period(self, ts: object) -> bool:
        if self.since is None and self.until is None:
            return True
        if not isinstance(ts, str):
            return False
        try:
            when = datetime.fromisoformat(ts)
        except ValueError:
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )


def outcome_of(record: dict[str, Any]) -> str:
    """An attempt's outcome; ``decided`` / ``refused`` / the action for other events."""
    seen = cast(Searched, record)
    event = seen.get("event")
    if event == "route.attempt":
        return str(seen.get("outcome"))
    if event == "route.decision":
        return "decided"
    if event == "route.refused":
        return "refused"
    return str(seen.get("action", ""))


def select(lines: Iterable[Line], where: Filter, unreadable: list[str]) -> Iterator[dict[str, Any]]:
    """The records ``where`` matches; lines that are not records are listed in ``unreadable``."""
    for line in lines:
        if line.record is None:
            unreadable.append(f"{line.file}:{line.number}")
        elif where.matches(line.record):
            yield line.record


@dataclass
class Summary:
    """Counts over selected records: per model, provider, outcome, catalog version, refusal."""

    events: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    providers: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    catalog_versions: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    attempts: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, record: dict[str, Any]) -> None:
        event = str(cast(Searched, record).get("event", "?"))
        self.events[event] += 1
        if event == "route.decision":
            decision = cast(RouteDecision, record)
            self.models[str(decision.get("model"))] += 1
            self.catalog_versions[str(decision.get("catalog_version"))] += 1
            for candidate in decision.get("candidates", ()):
                for reason in candidate.get("reasons", ()):
                    self.rejections[reason] += 1
        elif event == "route.attempt":
            attempt = cast(RouteAttempt, record)
            provider, outcome = attempt.get("provider"), attempt.get("outcome")
            self.providers[str(provider)] += 1
            self.outcomes[str(outcome)] += 1
            self.attempts[str(attempt.get("request_id"))].append(f"{provider}:{outcome}")
        elif event == "route.refused":
            self.refusals[str(cast(RouteRefused, record).get("reason"))] += 1

    def failed_over(self) -> dict[str, list[str]]:
        """Requests that needed more than one route, with each attempt's provider and outcome."""
        return {rid: tries for rid, tries in self.attempts.items() if len(tries) > 1}

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": dict(self.events),
            "models": dict(self.models),
            "providers": dict(self.providers),
            "outcomes": dict(self.outcomes),
            "catalog_versions": dict(self.catalog_versions),
            "refusals": dict(self.refusals),
            "rejection_reasons": dict(self.rejections),
            "failed_over": self.failed_over(),
        }


@dataclass(slots=True)
class _RouteUse:
    attempts: int = 0
    offline: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    first: str = ""
    last: str = ""


def report(records: Iterable[dict[str, Any]], catalogs: Catalogs) -> dict[str, Any]:
    """Which providers received the selected requests, under which data policy and catalog.

    For a data-subject access request: no content, no raw id; routes per catalog version with
    their retention, flagged retention, training and identifier rule as that version states."""
    uses: dict[tuple[str, str], _RouteUse] = defaultdict(_RouteUse)
    requests: set[str] = set()
    refused = 0
    times: list[str] = []
    refusals: Counter[str] = Counter()
    rejections: dict[str, list[str]] = {}  # request id -> why its decision rejected routes
    refused_ids: list[tuple[str, str]] = []  # (request id, refusal class)
    days: dict[str, str] = {}  # request id -> the day of its first record
    for record in records:
        seen = cast(Searched, record)
        ts = str(seen.get("ts", ""))
        times.append(ts)
        event = seen.get("event")
        if event in ("route.decision", "route.refused", "route.attempt"):
            days.setdefault(str(seen.get("request_id")), ts[:10])
        if event == "route.decision":
            requests.add(str(seen.get("request_id")))
            rejections[str(seen.get("request_id"))] = _rejection_reasons(record)
        elif event == "route.refused":
            refused += 1
            refusals[str(seen.get("reason"))] += 1
            refused_ids.append((str(seen.get("request_id")), str(seen.get("reason"))))
        elif event == "route.attempt":
            attempt = cast(RouteAttempt, record)
            use = uses[(str(attempt.get("route")), str(attempt.get("catalog_version")))]
            use.attempts += 1
            use.offline += attempt.get("offline") is True
            use.outcomes[str(attempt.get("outcome"))] += 1
            use.first = min(use.first or ts, ts)
            use.last = max(use.last, ts)
    rows = [_row(route, version, use, catalogs) for (route, version), use in sorted(uses.items())]
    return {
        "first_record": min(times, default=None),
        "last_record": max(times, default=None),
        "requests_decided": len(requests),
        "requests_refused": refused,
        "providers": sorted({row["provider"] for row in rows}),
        "catalog_versions": sorted({row["catalog_version"] for row in rows}),
        "routes": rows,
        "refusals": _refusals(refusals, refused_ids, rejections),
        "per_day": _per_day(days, {request_id for request_id, _ in refused_ids}),
    }


def _per_day(days: dict[str, str], refused: set[str]) -> dict[str, dict[str, int]]:
    """Requests per day (of their first record): ``sent`` to a provider, or ``refused``."""
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for request_id, day in days.items():
        counts[day]["refused" if request_id in refused else "sent"] += 1
    return {day: dict(counts[day]) for day in sorted(counts)}


def _rejection_reasons(decision: dict[str, Any]) -> list[str]:
    return [
        str(reason)
        for candidate in decision.get("candidates", ())
        for reason in candidate.get("reasons", ())
    ]


def _refusals(
    counts: Counter[str], refused: list[tuple[str, str]], rejections: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """Each kind of refusal (the error's class) with its count and, for a refusal by the
    policy, why its decision rejected each route (catalog facts, never the request's text)."""
    why: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for request_id, kind in refused:
        why[kind].update(rejections.get(request_id, ()))
    return [
        {"reason": kind, "count": count, "rejection_reasons": dict(why[kind].most_common())}
        for kind, count in counts.most_common()
    ]


def _row(key: str, version: str, use: _RouteUse, catalogs: Catalogs) -> dict[str, Any]:
    route = catalogs.route(version, key)
    row: dict[str, Any] = {
        "provider": route.provider.slug if route else key.rpartition("/")[2],
        "provider_name": route.provider.name if route else None,
        "model": route.model.name if route else key.rpartition("/")[0],
        "route": key,
        "catalog_version": version,
        "attempts": use.attempts,
        "offline_attempts": use.offline,
        "outcomes": dict(use.outcomes),
        "first": use.first,
        "last": use.last,
    }
    if route is None:
        row["policy"] = None  # the catalog version is not among those given: said, not guessed
        return row
    policy = route.policy
    row["policy"] = {
        "retention": policy.effective_retention.describe(),
        "retention_stated": policy.retention is not None,
        "flagged_retention": policy.effective_flagged_retention.describe(),
        "trains_on_api_data": policy.trains,
        "training_stated": policy.trains_on_api_data is not None,
        "user_identifier": policy.effective_user_identifier.value,
    }
    return row
