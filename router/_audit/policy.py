"""Re-checking audit records against the catalog version each names.

A decision's effective preferences are recomputed from the inputs it records (``recompute.py``),
and its allowed candidates, and each attempt's route, must be allowed by that catalog
(``label@hash12``, found among the catalog files of a directory) under them, using the router's
own ``decide``. Routes the deployment could not use (no credentials) are a deployment fact, not
policy: only policy facts count. An attempt's provider and model must be its route's; its
identifier rule must be its route's, and the fields it reports removed or replaced must fit
that rule (``allowed`` removes nothing; ``omit`` replaces nothing). A refusal for policy
(``PolicyViolation``) or for the deployment (``BackendsUnconfigured``) must follow a decision
that allowed no route, and must name the cause its inputs give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import orjson

from router._audit.recompute import INPUT_FIELDS, Inputs, recompute
from router._audit.records import Line, RouteAttempt, Searched
from router._core.catalog import Catalog, Route
from router._core.catalog_load import load_catalog
from router._core.decision import decide, reasons_against
from router._core.preferences import Preferences
from router._errors import CatalogError, RouterError

# Decisions kept while waiting for their attempts (which follow within seconds).
RECENT_DECISIONS: Final = 200_000


@dataclass(frozen=True, slots=True)
class Violation:
    """A record that its own catalog version does not allow."""

    file: str
    line: int
    request_id: str | None
    route: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "request_id": self.request_id,
            "route": self.route,
            "reason": self.reason,
        }


class Catalogs:
    """The catalog versions of a directory, by label (``version@hash12``), loaded on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._by_label: dict[str, Catalog] | None = None
        self._routes: dict[str, dict[str, Route]] = {}

    def get(self, label: object) -> Catalog | None:
        if self._by_label is None:
            self._by_label = {}
            for path in sorted(self.directory.glob("*.y*ml")):
                try:
                    catalog = load_catalog(path)
                except CatalogError:
                    continue  # an invalid file is no version anyone enforced
                self._by_label[catalog.label] = catalog
        return self._by_label.get(label) if isinstance(label, str) else None

    def route(self, label: str, key: object) -> Route | None:
        if label not in self._routes:
            catalog = self.get(label)
            self._routes[label] = {r.key: r for r in catalog.routes} if catalog else {}
        return self._routes[label].get(key) if isinstance(key, str) else None


class _Decided(NamedTuple):
    """Kept per request: plain strings and bytes, which the garbage collector need not scan."""

    catalog_version: str
    preferences: bytes  # canonical JSON
    order: tuple[str, ...]
    policy_rejected: bool  # its inputs reject some route of the model


_REFUSED_AFTER_DECIDING: Final = ("PolicyViolation", "BackendsUnconfigured")
# What a decision's verdict depends on: requests decided alike are judged once.
_JUDGED: Final = ("catalog_version", "model", "preferences", "order", "candidates", *INPUT_FIELDS)


class _Judged(NamedTuple):
    """A decision's problems (route key or None, reason), and what its attempts are held to."""

    problems: tuple[tuple[object, str], ...]
    preferences: bytes | None  # the effective preferences recomputed, canonical JSON
    policy_rejected: bool


class PolicyCheck:
    """Checks decisions and attempts as they are read; collects violations."""

    def __init__(
        self,
        policies: Path,
        violations: list[Violation],
        operator_policies: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.catalogs = Catalogs(policies)
        self.violations = violations
        self.inputs = Inputs({} if operator_policies is None else operator_policies)
        self.decisions_checked = 0
        self.attempts_checked = 0
        self.refusals_checked = 0
        self.stored_unseen = 0  # decisions whose stored preferences no record here made
        self._judged: dict[bytes, _Judged] = {}
        self._decided: dict[str, _Decided] = {}  # insertion order: the oldest is dropped first
        self._allowed: dict[tuple[str, str, bytes], frozenset[str] | str] = {}

    def add(self, line: Line, record: dict[str, Any]) -> None:
        event = cast(Searched, record).get("event")
        if event == "route.decision":
            self.decisions_checked += 1
            self._decision(line, record)
        elif event == "route.attempt":
            self.attempts_checked += 1
            self._attempt(line, cast(RouteAttempt, record))
        elif event == "route.refused" and record.get("reason") in _REFUSED_AFTER_DECIDING:
            self.refusals_checked += 1
            self._refusal(line, record)
        elif event == "preferences.changed":
            self.inputs.changed(record)

    def _decision(self, line: Line, record: dict[str, Any]) -> None:
        version, request, order = (
            record.get(k) for k in ("catalog_version", "request_id", "order")
        )
        key = orjson.dumps([*(record.get(f) for f in _JUDGED), self.inputs.knows(record)])
        judged = self._judged.get(key)
        if judged is None:
            judged = self._judge(record)
            if len(self._judged) >= RECENT_DECISIONS:
                self._judged.clear()
            self._judged[key] = judged
        self.stored_unseen += self.inputs.unseen(record)
        for route, why in judged.problems:
            self._violate(line, record, route, why)
        known = isinstance(request, str) and isinstance(version, str) and isinstance(order, list)
        if known and judged.preferences is not None:
            self._decided[request] = _Decided(version, judged.preferences, tuple(order), judged.policy_rejected)  # type: ignore[index, arg-type]  # fmt: skip
            if len(self._decided) > RECENT_DECISIONS:
                del self._decided[next(iter(self._decided))]

    def _judge(self, record: dict[str, Any]) -> _Judged:
        """A decision recomputed from its inputs, under its catalog version (pure of the log)."""
        version, order = record.get("catalog_version"), record.get("order")
        if not isinstance(record.get("preferences"), dict) or not isinstance(order, list):
            return _Judged(((None, "decision without 'preferences' or 'order'"),), None, False)
        effective, problem = self.inputs.effective(record)
        problems: list[tuple[object, str]] = [] if problem is None else [(None, problem)]
        if effective is None:
            return _Judged(tuple(problems), None, False)
        wanted = orjson.dumps(effective.to_dict(), option=orjson.OPT_SORT_KEYS)
        allowed = self._allowed_routes(version, record.get("model"), wanted)
        catalog = self.catalogs.get(version)
        if isinstance(allowed, str) or catalog is None:
            return _Judged((*problems, (None, str(allowed))), wanted, False)
        made = recompute(catalog, catalog.model(str(record.get("model"))), effective, record.get("candidates"))  # fmt: skip
        problems += made.problems
        problems += [(str(k), self._why_not(version, k, wanted)) for k in order if k not in allowed]
        return _Judged(tuple(problems), wanted, made.policy_rejected)

    def _refusal(self, line: Line, record: dict[str, Any]) -> None:
        """A refusal after deciding: its decision allowed no route, for the cause it names."""
        reason = record.get("reason")
        decided = self._decided.get(str(record.get("request_id")))
        if decided is None:
            self._violate(line, record, None, f"{reason} refusal without a route.decision for this request in the files given")  # fmt: skip
            return
        if decided.order:
            self._violate(line, record, decided.order[0], f"refused ({reason}) although its decision allowed {len(decided.order)} route(s)")  # fmt: skip
        elif reason == "BackendsUnconfigured" and decided.policy_rejected:
            self._violate(line, record, None, "refused as unconfigured backends, though its inputs reject routes by policy: a PolicyViolation")  # fmt: skip
        elif reason == "PolicyViolation" and not decided.policy_rejected:
            self._violate(line, record, None, "refused as a policy violation, though its inputs reject no route of the model")  # fmt: skip

    def _attempt(self, line: Line, record: RouteAttempt) -> None:
        key = record.get("route")
        decided = self._decided.get(str(record.get("request_id")))
        if decided is None:
            self._violate(
                line, record, key, "no route.decision for this request in the files given"
            )
            return
        if decided.catalog_version != record.get("catalog_version"):
            self._violate(line, record, key, "catalog version differs from its decision's")
        route = self._route(decided.catalog_version, key)
        if route is not None and record.get("provider") != route.provider.slug:
            self._violate(line, record, key, f"attempt names provider {record.get('provider')!r}, but its route's provider is {route.provider.slug!r}")  # fmt: skip
        if route is not None and record.get("model") != route.model.slug:
            self._violate(line, record, key, f"attempt names model {record.get('model')!r}, but its route's model is {route.model.slug!r}")  # fmt: skip
        if key not in decided.order:
            self._violate(line, record, key, "route is not among those its decision allowed")
        allowed = self._allowed_routes(
            decided.catalog_version, record.get("model"), decided.preferences
        )
        if isinstance(allowed, str):
            self._violate(line, record, key, allowed)
            return
        if key not in allowed:
            why = self._why_not(decided.catalog_version, key, decided.preferences)
            self._violate(line, record, key, why)
            return
        route = self._route(decided.catalog_version, key)
        if route is not None:
            for problem in identifier_problems(route, record):
                self._violate(line, record, key, problem)

    def _allowed_routes(
        self, version: object, model: object, preferences: bytes
    ) -> frozenset[str] | str:
        """Route keys the catalog allows under the preferences, or why that cannot be said."""
        cache_key = (str(version), str(model), preferences)
        found = self._allowed.get(cache_key)
        if found is None:
            found = self._decide(version, model, preferences)
            self._allowed[cache_key] = found
        return found

    def _decide(self, version: object, model: object, preferences: bytes) -> frozenset[str] | str:
        catalog = self.catalogs.get(version)
        if catalog is None:
            return f"catalog version {version!r} is not among the catalogs in {self.catalogs.directory}"
        try:
            subject = catalog.model(str(model))
            effective = Preferences.from_dict(orjson.loads(preferences))
        except (RouterError, ValueError, LookupError) as exc:
            return f"cannot be checked against {version}: {exc}"
        decision = decide(subject, catalog.routes_of(subject), effective)
        return frozenset(r.key for r in decision.allowed)

    def _route(self, version: str, key: object) -> Route | None:
        return self.catalogs.route(version, key)

    def _why_not(self, version: object, key: object, preferences: bytes) -> str:
        route = self._route(str(version), key)
        if route is None:
            return f"catalog {version} has no route {key!r}"
        reasons = reasons_against(route, Preferences.from_dict(orjson.loads(preferences)))
        return f"catalog {version} rejects it under the recorded preferences: {'; '.join(reasons)}"

    def _violate(self, line: Line, record: Mapping[str, Any], route: object, reason: str) -> None:
        request = record.get("request_id")
        self.violations.append(
            Violation(
                line.file,
                line.number,
                request if isinstance(request, str) else None,
                route if isinstance(route, str) else None,
                reason,
            )
        )


def identifier_problems(route: Route, record: RouteAttempt) -> list[str]:
    """Whether the attempt's reported identifier handling fits the route's rule."""
    rule = route.policy.effective_user_identifier.value
    problems = []
    if record.get("identifier_rule") != rule:
        problems.append(
            f"identifier_rule {record.get('identifier_rule')!r}; the catalog says {rule!r}"
        )
    removed, replaced = record.get("scrubbed_removed") or [], record.get("scrubbed_replaced") or []
    if rule == "allowed" and (removed or replaced):
        problems.append("fields were removed or replaced on a route whose rule is 'allowed'")
    if rule == "omit" and replaced:
        problems.append(
            f"fields {', '.join(map(str, replaced))} were replaced by a pseudonym on an 'omit' route"
        )
    return problems
