"""``policy-router prefs get|set|delete USER``: a user's stored privacy preferences.

``set`` merges the flags given into what is stored; ``--replace`` stores exactly them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from router._core.preferences import Preferences, without_effect
from router.cli._common import (
    JsonOption,
    one_line_errors,
    out,
    preference_flags,
    print_json,
    run_with_router,
    typer_app,
)

if TYPE_CHECKING:
    from router._router import PolicyRouter

app = typer_app("Read and change users' stored privacy preferences.")
ACTOR = typer.Option("cli", "--actor", help="Who makes the change, as the audit log records it.")


@app.command("get")
def get(user: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show a user's stored preferences and the effective ones (with the operator's policy)."""

    async def work(router: PolicyRouter) -> dict[str, Any]:
        stored = await router.preferences.get(user)
        return _report(user, stored, await router.effective_preferences(user), router)

    with one_line_errors():
        _show(run_with_router(work), as_json)


@app.command("set")
@preference_flags
def set_(
    user: str = typer.Argument(...),
    privacy: Preferences | None = None,
    actor: str = ACTOR,
    replace: bool = typer.Option(
        False, "--replace", help="Replace all stored preferences (fields not given are cleared)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change the given fields of a user's stored preferences, keeping the others
    (--replace: store exactly the given flags)."""
    with one_line_errors():
        if privacy is None:
            raise ValueError(
                "give at least one preference flag (see --help), or use 'prefs delete'"
            )

        async def work(router: PolicyRouter) -> dict[str, Any]:
            change = router.preferences.set if replace else router.preferences.update
            stored = await change(user, privacy, actor=actor)
            return _report(user, stored, await router.effective_preferences(user), router)

        _show(run_with_router(work), as_json)


@app.command("delete")
def delete(user: str = typer.Argument(...), actor: str = ACTOR) -> None:
    """Forget a user's stored preferences; the operator's policy applies to them again."""

    async def work(router: PolicyRouter) -> bool:
        return await router.preferences.delete(user, actor=actor)

    with one_line_errors():
        existed = run_with_router(work)
    out.print(f"deleted preferences of {user}" if existed else f"{user} had no stored preferences")


@app.command("list")
def list_(
    limit: int = typer.Option(100, "--limit", help="At most this many users (1-1000)."),
    after: str | None = typer.Option(None, "--after", help="Start after this user (paging)."),
    as_json: bool = JsonOption,
) -> None:
    """Users with stored preferences, sorted; page with --after the last one shown."""

    async def work(router: PolicyRouter) -> list[str]:
        return await router.preferences.list_users(limit=limit, after=after)

    with one_line_errors():
        users = run_with_router(work)
    if as_json:
        print_json(users)
        return
    for user in users:
        out.print(user, markup=False)
    if len(users) == limit:
        out.print(f"(more may follow: --after {users[-1]!r})", markup=False)


def _report(
    user: str, stored: Preferences | None, effective: Preferences, router: PolicyRouter
) -> dict[str, Any]:
    unused = without_effect(router.operator_preferences, stored)
    return {
        "user": user,
        "stored": None if stored is None else stored.to_dict(),
        "effective": effective.to_dict(),
        "without_effect": [w.to_dict() for w in unused],
    }


def _show(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    stored = report["stored"]
    out.print(f"user: {report['user']}", markup=False)
    out.print(
        f"stored: {stored if stored is not None else 'none (operator defaults apply)'}",
        markup=False,
    )
    out.print(f"effective: {report['effective'] or 'no constraints'}", markup=False)
    for unused in report["without_effect"]:
        out.print(f"no effect: {unused['field']}: {unused['reason']}", markup=False)
