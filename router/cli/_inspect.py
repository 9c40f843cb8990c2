"""``policy-router models`` and ``policy-router explain``: the policy as it will be enforced.

Neither forwards a request, so neither imports litellm."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from router._core.catalog import Route, UserIdentifier
from router._core.decision import Decision
from router._core.preferences import Preferences
from router._core.scrub import scrub
from router.cli._common import (
    JsonOption,
    OfflineOption,
    UserOption,
    one_line_errors,
    out,
    preference_flags,
    print_json,
    run_with_router,
    settings,
)

if TYPE_CHECKING:
    from router._router import PolicyRouter

SAMPLE_USER = "<user>"


@preference_flags
def models(
    user: str | None = UserOption,
    privacy: Preferences | None = None,
    offline: bool | None = OfflineOption,
    as_json: bool = JsonOption,
) -> None:
    """Every model, the providers that would be allowed, and why the others are not."""

    async def work(router: PolicyRouter) -> list[Decision]:
        effective = await router.effective_preferences(user, privacy)
        return [router.decide(m, effective) for m in router.catalog.models]

    with one_line_errors():
        decisions = run_with_router(work, settings_=settings(offline))
    if as_json:
        print_json([decision_json(d) for d in decisions])
        return
    table = Table("model", "allowed providers", "rejected", title="Models under this policy")
    for d in decisions:
        allowed = "\n".join(_route_line(r) for r in d.allowed) or "[red]none[/red]"
        rejected = "\n".join(f"{j.route.provider.name}: {'; '.join(j.reasons)}" for j in d.rejected)
        table.add_row(d.model.name, allowed, rejected)
    out.print(table)
    usable = sum(1 for d in decisions if d.allowed)
    out.print(f"{usable} of {len(decisions)} models have at least one allowed route.")
    _hint_credentials(decisions)


@preference_flags
def explain(
    model: str = typer.Argument(..., help="Model display name, alias or slug."),
    user: str | None = UserOption,
    privacy: Preferences | None = None,
    offline: bool | None = OfflineOption,
    as_json: bool = JsonOption,
) -> None:
    """The decision for one request: every candidate, its verdict and reasons, the failover
    order, and which identifier fields each route would have scrubbed."""

    async def work(router: PolicyRouter) -> tuple[Decision, str]:
        return await router.explain(model, user, privacy=privacy), router.catalog.label

    with one_line_errors():
        decision, label = run_with_router(work, settings_=settings(offline))
    if as_json:
        print_json(decision_json(decision) | {"catalog_version": label})
    else:
        _print_decision(decision, label)
    if not decision.allowed:
        raise typer.Exit(2)


def decision_json(decision: Decision) -> dict[str, Any]:
    """What ``explain --json`` and ``models --json`` print: the decision's plain data, each
    candidate with its provider's name, its policy as enforced and what scrubbing does."""
    routes = {r.key: r for r in (*decision.allowed, *(j.route for j in decision.rejected))}
    plain = decision.to_dict()
    plain["candidates"] = [c | _enforced(routes[c["route"]]) for c in plain["candidates"]]
    return plain


def _enforced(route: Route) -> dict[str, Any]:
    policy = route.policy.effective()
    return {
        "provider_name": route.provider.name,
        **policy.to_dict(),
        "identifier_fields": _identifier_effect(policy.effective_user_identifier),
    }


def _identifier_effect(rule: UserIdentifier) -> dict[str, list[str]]:
    """What scrubbing does to a call that carries the user: computed, not described."""
    sample = {"user": SAMPLE_USER, "metadata": {"user_id": SAMPLE_USER}}
    done = scrub(sample, rule, user=SAMPLE_USER, pseudonym=lambda _: "pseudonym")
    return {"removed": list(done.removed), "replaced": list(done.replaced)}


def _route_line(route: Route) -> str:
    policy = route.policy
    trains = "trains" if policy.trains else "no training"
    return f"{route.provider.name} ({policy.effective_retention.describe()}, {trains})"


def _print_decision(decision: Decision, label: str) -> None:
    out.print(f"[bold]{decision.model.name}[/bold]  catalog {label}")
    prefs = decision.preferences.to_dict() or "no constraints"
    out.print(f"effective preferences: {prefs}")
    table = Table("#", "provider", "verdict", "retention", "training", "identifier", "reasons")
    for i, route in enumerate(decision.allowed, start=1):
        table.add_row(str(i), *_row(route, "[green]allowed[/green]", ()))
    for rejection in decision.rejected:
        table.add_row("-", *_row(rejection.route, "[red]rejected[/red]", rejection.reasons))
    out.print(table)
    if decision.allowed:
        order = " -> ".join(r.provider.name for r in decision.allowed)
        out.print(f"failover order: {order}")
    else:
        out.print("[red]no route is allowed: the request would be refused[/red]")
    _hint_credentials([decision])


def _hint_credentials(decisions: list[Decision]) -> None:
    """Say so when credentials, not policy, are what rejects routes."""
    if any(r.reasons[-1].startswith("no credentials") for d in decisions for r in d.rejected):
        out.print(
            "note: routes whose provider has no credentials are rejected; set the provider's "
            "API key, or add --offline to see the policy alone."
        )


def _row(route: Route, verdict: str, reasons: tuple[str, ...]) -> tuple[str, ...]:
    policy = route.policy
    effect = _identifier_effect(policy.effective_user_identifier)
    touched = effect["removed"] or effect["replaced"]
    action = "removed" if effect["removed"] else "pseudonymised" if effect["replaced"] else "sent"
    identifier = (
        f"{policy.effective_user_identifier.value}: {', '.join(touched) or 'user'} {action}"
    )
    return (
        route.provider.name,
        verdict,
        policy.effective_retention.describe(),
        "yes" if policy.trains else "no",
        identifier,
        "; ".join(reasons),
    )
