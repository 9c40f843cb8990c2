"""The decision: which routes of a model the effective preferences allow, and in what order.

Pure: no I/O, no clock, no litellm. Deny by default: a route is allowed only when every
check passes, and an unexpected error while deciding rejects every route (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from router._core.catalog import Catalog, Model, Route, fold
from router._core.duration import Duration
from router._core.preferences import Preferences

log = logging.getLogger("router.decision")


@dataclass(frozen=True, slots=True)
class Rejection:
    """A route the request may not use, and every reason why."""

    route: Route
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the route (``route``, ``provider``) and the ``reasons``."""
        return {**self.route.to_dict(), "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of checking one request: the allowed routes in the order they will be tried."""

    model: Model
    preferences: Preferences
    allowed: tuple[Route, ...]
    rejected: tuple[Rejection, ...]

    def candidates(self) -> list[dict[str, Any]]:
        """Every route with its ``verdict`` (and a rejected one's ``reasons``), allowed first."""
        allowed = [{**r.to_dict(), "verdict": "allowed"} for r in self.allowed]
        rejected = [{**j.to_dict(), "verdict": "rejected"} for j in self.rejected]
        return allowed + rejected

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the model, the effective preferences, the failover order, the candidates.

        Audit records, ``explain --json`` and ``models --json`` carry it."""
        return {
            "model": {"slug": self.model.slug, "name": self.model.name},
            "preferences": self.preferences.to_dict(),
            "order": [r.key for r in self.allowed],
            "candidates": self.candidates(),
        }


def decide(
    model: Model,
    routes: Sequence[Route],
    preferences: Preferences,
    *,
    unavailable: Mapping[str, str] | None = None,
    priority: Sequence[str] = (),
    dropped: Mapping[str, Sequence[str]] | None = None,
) -> Decision:
    """Check every route of ``model`` against ``preferences``.

    ``unavailable`` maps route keys to why the deployment cannot use them (no credentials, no
    litellm model string). ``priority`` lists provider slugs to try first, in that order.
    ``dropped`` maps route keys to the request's parameters that route would drop; with
    ``require_parameters`` such a route is rejected.
    """
    try:
        return _decide(model, routes, preferences, unavailable or {}, priority, dropped or {})
    except Exception as exc:  # fail closed: an error while deciding refuses, logged
        log.exception("decision failed for %s; every route rejected", model.slug)
        reason = f"it could not be checked ({type(exc).__name__}), so it is refused to be safe"
        rejected = tuple(Rejection(r, (reason,)) for r in routes)
        return Decision(model, preferences, (), rejected)


def _decide(
    model: Model,
    routes: Sequence[Route],
    preferences: Preferences,
    unavailable: Mapping[str, str],
    priority: Sequence[str],
    dropped: Mapping[str, Sequence[str]],
) -> Decision:
    allowed: list[Route] = []
    rejected: list[Rejection] = []
    for route in routes:
        reasons = reasons_against(route, preferences)
        missing = unavailable.get(route.key)
        if missing:
            reasons = (*reasons, missing)
        lost = dropped.get(route.key)
        if lost and preferences.require_parameters:
            reasons = (
                *reasons,
                f"it would drop {', '.join(lost)}, which it does not support, "
                "and require_parameters is true",
            )
        if reasons:
            rejected.append(Rejection(route, reasons))
        else:
            allowed.append(route)
    if priority:
        rank = {slug: i for i, slug in enumerate(priority)}
        allowed.sort(key=lambda r: rank.get(r.provider.slug, len(rank)))
    return Decision(model, preferences, tuple(allowed), tuple(rejected))


def reasons_against(route: Route, preferences: Preferences) -> tuple[str, ...]:
    """Why the preferences forbid this route, each reason a sentence; empty when they allow it."""
    policy = route.policy
    reasons: list[str] = []
    limit = preferences.max_retention
    retention = policy.effective_retention
    if limit is not None and retention > limit:
        stated = "" if policy.retention is not None else " (not stated in the catalog)"
        reasons.append(f"it keeps API data {_kept(retention)}{stated}, {_allows(limit)}")
    if preferences.allow_flagged_retention is False:
        flagged = policy.effective_flagged_retention
        ceiling = retention if limit is None else min(limit, retention)
        if flagged > ceiling:
            reasons.append(
                f"it keeps flagged content {_kept(flagged)}, longer than "
                f"{ceiling.describe() if ceiling.seconds else 'not at all'}, "
                "and allow_flagged_retention is false"
            )
    if preferences.allow_training is False and policy.trains:
        what = (
            "trains on API data"
            if policy.trains_on_api_data
            else "may train on API data (not stated in the catalog)"
        )
        reasons.append(f"it {what}, and allow_training is false")
    reasons.extend(_provider_reasons(route, preferences))
    return tuple(reasons)


def _kept(duration: Duration) -> str:
    """'for 30 days', 'with no time limit' (a retention a route has, never 0 here)."""
    return "with no time limit" if duration.is_unlimited else f"for {duration.describe()}"


def _allows(limit: Duration) -> str:
    if limit.seconds == 0:
        return "but max_retention allows no storage"
    return f"but max_retention allows at most {limit.describe()}"


def _provider_reasons(route: Route, preferences: Preferences) -> list[str]:
    names = {fold(route.provider.slug), fold(route.provider.name)}
    reasons = []
    if names & preferences.deny_providers:
        reasons.append(f"provider {route.provider.name} is listed in deny_providers")
    allow = preferences.allow_providers
    if allow is not None and not names & allow:
        reasons.append(f"provider {route.provider.name} is not listed in allow_providers")
    return reasons


def canonical(catalog: Catalog, preferences: Preferences) -> Preferences:
    """Provider names replaced by the catalog's slugs; an unknown one raises UnknownProvider."""

    def slugs(names: frozenset[str], field: str) -> frozenset[str]:
        return frozenset(catalog.provider(n, field=field).slug for n in names)

    allow = preferences.allow_providers
    return replace(
        preferences,
        allow_providers=None if allow is None else slugs(allow, "allow_providers"),
        deny_providers=slugs(preferences.deny_providers, "deny_providers"),
    )
