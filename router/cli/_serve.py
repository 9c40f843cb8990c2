"""``policy-router serve``: the OpenAI-compatible HTTP proxy, on uvicorn.

Settings come from the environment (``POLICY_ROUTER_SERVER__API_KEYS='["k1"]'``, …); the flags
override the host, the port and ``allow_no_auth``. Unsafe auth settings are refused before
anything heavy is imported. SIGTERM (or Ctrl-C) stops accepting connections, lets requests in
flight finish for up to ``graceful_timeout`` seconds, closes the router, and exits 0.

Once everything is imported and built, the objects that live as long as the process
(litellm's modules and tables, the app, the catalog: several hundred thousand) are moved out
of the garbage collector's reach: each full collection traversed all of them, a pause of
about 190 ms every few seconds under load; 34 ms at most after, in the same measurement
(bench/README.md).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import math
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from router.cli._common import one_line_errors

if TYPE_CHECKING:
    import uvicorn

    from router._settings import Settings


def serve(
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port to bind (default 8080)."),
    allow_no_auth: bool = typer.Option(
        False, "--allow-no-auth", help="Serve without API keys; loopback hosts only."
    ),
) -> None:
    """Serve the OpenAI-compatible HTTP proxy (settings from POLICY_ROUTER_* variables)."""
    from router._server.app import check_auth_settings

    with one_line_errors():
        settings = _settings(host, port, allow_no_auth)
        check_auth_settings(settings.server)
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
    from router._settings import Settings

    settings = Settings()
    changes: dict[str, Any] = {"host": host, "port": port, "allow_no_auth": allow_no_auth or None}
    changes = {k: v for k, v in changes.items() if v is not None}
    server = settings.server.model_validate(settings.server.model_dump() | changes)
    return settings.model_copy(update={"server": server})


async def _serve(settings: Settings) -> None:
    import uvicorn

    from router._router import PolicyRouter
    from router._server.app import create_app
    from router._upstream import setup

    setup.configure(settings.transport)  # import litellm now, not in the first request
    async with PolicyRouter.from_settings(settings) as router:
        config = uvicorn.Config(
            create_app(router, settings),
            host=settings.server.host,
            port=settings.server.port,
            timeout_graceful_shutdown=math.ceil(settings.server.graceful_timeout),
            access_log=False,  # its lines carry raw paths (user ids); router.access logs instead
            log_config=_log_config(),
            server_header=False,
            http="httptools",  # C parsing; h11 costs measurably more per request
        )
        server = uvicorn.Server(config)
        _exit_cleanly_on_signals(server)
        freeze_long_lived_objects()
        await server.serve()


def freeze_long_lived_objects() -> None:
    """Collect once, then move every object left to the collector's permanent generation."""
    gc.collect()
    gc.freeze()


def _exit_cleanly_on_signals(server: uvicorn.Server) -> None:
    """uvicorn re-raises the stop signal after its graceful shutdown so that the signal's
    previous handler runs; with the default one a SIGTERM ends the process with -15 before the
    router is closed. This handler asks the server to stop (also before it has started), so
    the graceful shutdown is the whole of the exit."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the router's own loggers (server errors, access lines)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["router"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
