"""What the sub-commands share: preference flags, building the router, one-line errors."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import typer
from rich.console import Console

from router._audit import AuditLog
from router._core.preferences import BOOLEAN, FIELDS, PROVIDERS, PreferenceField, Preferences
from router._errors import RouterError

if TYPE_CHECKING:
    from router._config.settings import Settings
    from router._router import PolicyRouter

T = TypeVar("T")

# Tables stay readable when piped (rich assumes 80 columns when it cannot see a terminal).
# No emoji codes: nothing we print means one, and a ":name:" in data stays as written (rich
# would also load its table of 3,600 codes on the first print).
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, soft_wrap=True, width=_WIDTH, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def typer_app(help_: str, **options: Any) -> typer.Typer:
    """A command group. Help is click's plain layout, which fits the terminal: each line as wide
    as COLUMNS or the terminal says (read when help is shown; 80 where neither is known), option
    names never cut, flags without a type (rich's layout showed ``--debug <bool>`` and cut
    long option names to fit 80 columns)."""
    return typer.Typer(
        help=help_,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"max_content_width": 10_000},  # the terminal's width decides
        **options,
    )


UserOption = typer.Option(None, "--user", "-u", help="End user whose stored preferences apply.")
JsonOption = typer.Option(False, "--json", help="Print JSON for machines.")
OfflineOption = typer.Option(
    None,
    "--offline/--online",
    help="Decide as the offline mode does: routes need no provider credentials. "
    "Default: POLICY_ROUTER_OFFLINE.",
)


def preference_flags(command: Callable[..., T]) -> Callable[..., T]:
    """Give ``command`` one flag per preference field (``FIELDS``) in place of its ``privacy``
    parameter, which receives the ``Preferences`` the flags state, or None if none was given.

    ``--max-retention 24h``; ``--allow-training/--no-allow-training``; ``--allow-provider P``
    (repeatable) for ``allow_providers``. An invalid value is a one-line error."""
    signature = inspect.signature(command, eval_str=True)
    params = list(signature.parameters.values())
    at = [p.name for p in params].index("privacy")
    flags = [_flag(spec, params[at]) for spec in FIELDS]

    @functools.wraps(command)
    def with_flags(*args: Any, **kwargs: Any) -> T:
        stated = {spec.name: kwargs.pop(spec.name) for spec in FIELDS}
        with one_line_errors():
            privacy = Preferences(**{k: v for k, v in stated.items() if v not in (None, [])})
        return command(*args, **kwargs, privacy=None if privacy.is_empty else privacy)

    wrapped = signature.replace(parameters=[*params[:at], *flags, *params[at + 1 :]])
    with_flags.__signature__ = wrapped  # type: ignore[attr-defined]
    with_flags.__annotations__ = {p.name: p.annotation for p in wrapped.parameters.values()}
    return with_flags


def _flag(spec: PreferenceField, privacy: inspect.Parameter) -> inspect.Parameter:
    """The typer option of one preference field, named after it (a list field in the singular)."""
    flag = "--" + spec.name.replace("_", "-")
    annotation: Any = str
    decls, help_ = flag, spec.help
    if spec.kind is BOOLEAN:
        annotation, decls = bool, f"{flag}/--no-{flag[2:]}"
    elif spec.kind is PROVIDERS:
        annotation, decls = list[str], flag.removesuffix("s")
        help_ = f"{spec.help} Repeat the flag for several."
    option = typer.Option(None, decls, help=help_)
    return privacy.replace(name=spec.name, default=option, annotation=annotation | None)


def settings(offline: bool | None = None) -> Settings:
    """Settings from the environment, with ``--offline/--online`` applied when given. Never
    offline by guess, as the library is with no credentials: a command says what is missing
    (``route`` decides per model, router/cli/_route.py)."""
    from router._config.settings import Settings

    config = Settings()
    return config.model_copy(update={"offline": config.offline if offline is None else offline})


def load_litellm(transport: Literal["httpx", "aiohttp", "httptools"]) -> None:
    """Import litellm now, for a command that forwards (seconds, the most of its start-up).
    On a terminal, a spinner on stderr says so while it loads, then disappears; piped or
    redirected output gets nothing (scripts and logs stay clean). Nothing when loaded."""
    from router._upstream import setup

    if setup.loaded() or not err.is_terminal:
        setup.configure(transport)
        return
    with err.status("loading litellm...", spinner="dots"):
        setup.configure(transport)


def run_with_router(
    work: Callable[[PolicyRouter], Awaitable[T]],
    *,
    settings_: Settings | None = None,
    audit_log: AuditLog | None = None,
) -> T:
    """Build the router from settings, run ``work`` with it on one event loop, close it."""
    from router._router import PolicyRouter

    config = settings_ or settings()
    if audit_log is None and config.audit == "stdout":
        audit_log = AuditLog.from_settings(config, "stderr")  # stdout is the command's own output

    async def main() -> T:
        router = PolicyRouter.from_settings(config, audit_log=audit_log)
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
