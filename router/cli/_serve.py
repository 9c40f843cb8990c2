"""``policy-router serve``: the OpenAI-compatible HTTP proxy, on uvicorn.

Settings come from the environment (``POLICY_ROUTER_SERVER__API_KEYS='["k1"]'``, …); the flags
override the host, the port and ``allow_no_auth``. Unsafe auth settings are refused before
anything heavy is imported. At start-up it logs one line per provider (routes servable,
credentials found or missing by variable name, api_base) and warns when no route can be served.
SIGHUP reloads the catalog and the deployment (router/_server/operations.py). ``--workers N``
runs N worker processes on one socket (router/_server/workers.py). SIGTERM (or Ctrl-C) stops
accepting connections, lets requests in flight finish for up to ``graceful_timeout`` seconds,
cancels those still running (each attempt audited ``cancelled``, each client answered 503 in
OpenAI's shape), closes the router, and exits 0.

Once everything is imported and built, the objects that live as long as the process
(litellm's modules and tables, the app, the catalog: several hundred thousand) are moved out
of the garbage collector's reach: each full collection traversed all of them, a pause of
about 190 ms every few seconds under load; 34 ms at most after, in the same measurement
(bench/README.md).
"""

from __future__ import annotations

import asyncio
import math
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from router.cli._common import one_line_errors

if TYPE_CHECKING:
    import uvicorn

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
    from router._server.app import check_auth_settings

    with one_line_errors():
        settings = _settings(host, port, allow_no_auth)
        check_auth_settings(settings.server)
        if workers > 1:
            _serve_workers(settings, workers)
        else:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(_serve(settings))


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
    return settings.model_copy(update={"server": server})


async def _serve(settings: Settings) -> None:
    import os

    import uvicorn

    from router._observe import tracing as _tracing
    from router._router import PolicyRouter
    from router._server import logs
    from router._server.app import create_app
    from router._server.connection import with_header_deadline
    from router._server.operations import reload_on_sighup
    from router._server.startup import freeze_long_lived_objects, log_startup
    from router._upstream import setup

    setup.configure(settings.transport)  # import litellm now, not in the first request
    _tracing.configure()  # the OTEL_* variables, unless the host set tracing up
    _tracing.settle()  # no provider set up: no span per request
    logs.lean_records()
    async with PolicyRouter.from_settings(settings) as router:
        config = uvicorn.Config(
            create_app(router, settings),
            host=settings.server.host,
            port=settings.server.port,
            timeout_graceful_shutdown=math.ceil(settings.server.graceful_timeout),
            timeout_keep_alive=settings.server.keep_alive_timeout,
            http=with_header_deadline(settings.server.read_timeout),
            access_log=False,  # its lines carry raw paths (user ids); router.access logs instead
            log_config=logs.config(),  # no content, user id or provider error text (see logs.py)
            server_header=False,
        )
        log_startup(router.loaded, settings, os.environ)  # after uvicorn.Config set up logging
        server = uvicorn.Server(config)
        _exit_cleanly_on_signals(server)
        previous_hup = reload_on_sighup(router)
        freeze_long_lived_objects()
        try:
            await server.serve()
            await _cancelled_requests_finish(server)
        finally:
            signal.signal(signal.SIGHUP, previous_hup)


def _serve_workers(settings: Settings, workers: int) -> None:
    """uvicorn's supervisor: ``workers`` processes on one socket, each building its own router
    (router/_server/workers.py) from the environment, which carries the flags' values. Unless
    PROMETHEUS_MULTIPROC_DIR is set, a fresh directory is made for the workers' metrics (and
    removed at exit). SIGHUP to this process restarts the workers (uvicorn), which reloads the
    catalog in each; ``POST /admin/reload`` reaches only the worker that answers it."""
    import os
    import shutil
    import tempfile

    import uvicorn

    from router._server import logs

    server = settings.server
    os.environ["POLICY_ROUTER_SERVER__HOST"] = server.host
    os.environ["POLICY_ROUTER_SERVER__PORT"] = str(server.port)
    os.environ["POLICY_ROUTER_SERVER__ALLOW_NO_AUTH"] = str(server.allow_no_auth).lower()
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="policy-router-metrics-"
        )
    try:
        uvicorn.run(
            "router._server.workers:app",
            factory=True,
            workers=workers,
            host=server.host,
            port=server.port,
            timeout_graceful_shutdown=math.ceil(server.graceful_timeout),
            timeout_keep_alive=server.keep_alive_timeout,
            # no header deadline here: uvicorn pickles the config for its workers, and the
            # protocol class with the deadline is made per process (single-process serve has it)
            access_log=False,
            log_config=logs.config(),
            server_header=False,
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


async def _cancelled_requests_finish(server: uvicorn.Server) -> None:
    """Past ``graceful_timeout`` uvicorn cancels the requests still running and returns at
    once; each must still write its ``cancelled`` attempt and send its error before the router
    (and its audit log) closes. Cancelled requests end in milliseconds; 5 s bounds a stuck one."""
    running = list(server.server_state.tasks)
    if running:
        await asyncio.wait(running, timeout=5)


def _exit_cleanly_on_signals(server: uvicorn.Server) -> None:
    """uvicorn re-raises the stop signal after its graceful shutdown so that the signal's
    previous handler runs; with the default one a SIGTERM ends the process with -15 before the
    router is closed. This handler asks the server to stop (also before it has started), so
    the graceful shutdown is the whole of the exit."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
