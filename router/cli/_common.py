"""What the sub-commands share: preference flags, building the router, one-line errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from router._audit import AuditLog
from router._core.preferences import Preferences
from router._errors import RouterError

if TYPE_CHECKING:
    from router._router import PolicyRouter
    from router._settings import Settings

T = TypeVar("T")

# Tables stay readable when piped (rich assumes 80 columns when it cannot see a terminal).
# No emoji codes: nothing we print means one, and a ":name:" in data stays as written (rich
# would also load its table of 3,600 codes on the first print).
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

UserOption = typer.Option(None, "--user", "-u", help="End user whose stored preferences apply.")
MaxRetention = typer.Option(
    None, "--max-retention", help="Longest retention allowed: none, 24h, 30d, 2y, unlimited."
)
AllowTraining = typer.Option(
    None, "--allow-training/--no-allow-training", help="Whether providers may train on the data."
)
AllowFlagged = typer.Option(
    None,
    "--allow-flagged-retention/--no-allow-flagged-retention",
    help="Whether flagged content may be kept longer than --max-retention.",
)
AllowProvider = typer.Option(
    None, "--allow-provider", help="Only these providers (repeat the flag for several)."
)
DenyProvider = typer.Option(None, "--deny-provider", help="Never these providers (repeatable).")
JsonOption = typer.Option(False, "--json", help="Print JSON for machines.")
OfflineOption = typer.Option(
    None,
    "--offline/--online",
    help="Decide as the offline mode does: routes need no provider credentials. "
    "Default: POLICY_ROUTER_OFFLINE.",
)


def preferences_from_flags(
    max_retention: str | None,
    allow_training: bool | None,
    allow_flagged_retention: bool | None,
    allow_provider: list[str] | None,
    deny_provider: list[str] | None,
) -> Preferences | None:
    """The request-level preferences the flags state, or None if no flag was given."""
    prefs = Preferences(
        max_retention=max_retention,  # type: ignore[arg-type]  # parsed in __post_init__
        allow_training=allow_training,
        allow_flagged_retention=allow_flagged_retention,
        allow_providers=frozenset(allow_provider) if allow_provider else None,
        deny_providers=frozenset(deny_provider or ()),
    )
    return None if prefs.is_empty else prefs


def settings(offline: bool | None = None) -> Settings:
    """Settings from the environment, with ``--offline/--online`` applied when given."""
    from router._settings import Settings

    config = Settings()
    return config if offline is None else config.model_copy(update={"offline": offline})


def run_with_router(
    work: Callable[[PolicyRouter], Awaitable[T]],
    *,
    settings_: Settings | None = None,
    audit: AuditLog | None = None,
) -> T:
    """Build the router from settings, run ``work`` with it on one event loop, close it."""
    from router._router import PolicyRouter

    config = settings_ or settings()
    if audit is None and config.audit == "stdout":
        audit = AuditLog.from_settings(config, "stderr")  # stdout is the command's own output

    async def main() -> T:
        router = PolicyRouter.from_settings(config, audit=audit)
        try:
            return await work(router)
        finally:
            await router.aclose()

    return asyncio.run(main())


# Set by the root command's --debug for the invocation under way (typer resets it each time).
DEBUG: ContextVar[bool] = ContextVar("policy_router_cli_debug", default=False)


def debugging() -> bool:
    return DEBUG.get()


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A RouterError becomes one line on stderr and exit status 1 (a traceback with --debug)."""
    try:
        yield
    except (RouterError, OSError, ValueError) as exc:
        if debugging():
            raise
        message = str(exc).strip().replace("\n", " ") if not _multi_line(exc) else str(exc)
        err.print(f"error: {message}", markup=False)
        raise typer.Exit(1) from None


def _multi_line(exc: BaseException) -> bool:
    return bool(getattr(exc, "problems", ()))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
