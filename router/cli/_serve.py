"""``policy-router serve``: the OpenAI-compatible HTTP proxy, on uvicorn.

Settings come from the environment (``POLICY_ROUTER_SERVER__API_KEYS='["k1"]'``, …); the flags
override the host, the port and ``allow_no_auth``. Unsafe auth settings are refused before
anything heavy is imported. At start-up it logs one summary (listen address, auth mode, audit
and checkpoint sinks, store, catalog version, servable routes), one line per provider (routes
servable, credentials found or missing by variable name, api_base), and warns when no route
can be served.
SIGHUP reloads the catalog and the deployment (router/_server/operations.py). ``--workers N``
runs N worker processes on one socket (router/_server/workers.py). SIGTERM (or Ctrl-C) stops
accepting connections, lets requests in flight finish for up to ``graceful_timeout`` seconds,
cancels those still running (each attempt audited ``cancelled``, each client answered 503 in
OpenAI's shape), closes the router, and exits 0.

The start-up itself is router/_server/bootstrap.py's, the same for one process and for
``--workers``: the address bound first (a port in use is a one-line error before anything
starts), one start-up summary, the header deadline and the safe log set-up in every process.
Once everything is imported and built, the objects that live as long as the process
(litellm's modules and tables, the app, the catalog: several hundred thousand) are moved out
of the garbage collector's reach: each full collection traversed all of them, a pause of
about 190 ms every few seconds under load; 34 ms at most after, in the same measurement
(bench/README.md). Until then (one process) the collector is off: importing and building
made it run over the growing heap again and again (bench/README.md, the open loop).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from router.cli._common import one_line_errors

if TYPE_CHECKING:
    from router._config.settings import Settings


def serve(
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port to bind (default 8080)."),
    allow_no_auth: bool = typer.Option(
        False, "--allow-no-auth", help="Serve without API keys; loopback hosts only."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes on one socket (default 1)."
    ),
) -> None:
    """Serve the OpenAI-compatible HTTP proxy (settings from POLICY_ROUTER_* variables)."""
    with one_line_errors(), _collector_off_until_frozen(workers):
        from router._server.app import check_auth_settings  # needs the 'proxy' extra

        settings = _settings(host, port, allow_no_auth)
        check_auth_settings(settings.server)
        from router._server import bootstrap

        bootstrap.serve(settings, workers=workers, loop_factory=_loop_factory())


@contextmanager
def _collector_off_until_frozen(workers: int) -> Iterator[None]:
    """One process: the garbage collector off while serve imports and builds (litellm's
    modules, the app, the catalog: nearly every object made is kept, so each collection
    traversed a growing heap to free next to nothing). router/_server/startup.py's
    ``freeze_long_lived_objects`` freezes the heap and turns it back on before the first
    request; leaving turns it back on if start-up stopped before that. With
    ``--workers`` this process is the supervisor, which freezes nothing: it keeps its
    collector (each worker starts its own)."""
    if workers > 1 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _loop_factory() -> Any:
    """uvloop's event loop where installed (a dependency): measured in bench/README.md."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency; kept for a trimmed installation
        return None
    return uvloop.new_event_loop


def _settings(host: str | None, port: int | None, allow_no_auth: bool) -> Settings:
    from router._config.settings import Settings

    settings = Settings()
    changes: dict[str, Any] = {"host": host, "port": port, "allow_no_auth": allow_no_auth or None}
    changes = {k: v for k, v in changes.items() if v is not None}
    server = settings.server.model_validate(settings.server.model_dump() | changes)
    return settings.model_copy(update={"server": server}).serving()
