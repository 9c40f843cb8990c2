"""``serve``'s start-up, the same for one process and for ``--workers N``.

In order, for both:

1. the listening socket is bound first (``listen``): a port in use is a one-line error
   (ConfigError) before litellm is imported or anything claims start-up;
2. the process is prepared once (``prepare``): tracing from the ``OTEL_*`` variables, lean
   log records;
3. the router and its app are built (``build``); litellm is imported and configured with the
   settings' transport only if a route the deployment can serve needs it (``load_litellm``:
   a route that litellm serves); otherwise it stays unimported until the first request of an
   API that needs it, which imports it in a worker thread (router/_upstream/loader.py);
   uvicorn configured (``uvicorn_options``: the header deadline, the safe log configuration,
   no access log of raw paths, no server header), the long-lived objects frozen out of the
   collector's reach;
4. one start-up summary is logged (``summary``): listen address, auth mode, audit and
   checkpoint sinks, store, catalog version and servable routes, what needs litellm and
   whether it was loaded; then a line per provider (router/_server/startup.py).

With ``--workers`` uvicorn's supervisor binds the socket itself and starts the workers, each
running router/_server/workers.py's ``app``, which takes steps 2 and 3 in its own process and
logs its provider lines; the supervisor checks the address first (step 1) and logs the summary
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from router._errors import ConfigError
from router._observe import tracing as _tracing
from router._server import logs
from router._server.connection import with_header_deadline
from router._server.startup import freeze_long_lived_objects, litellm_use

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from router._config.settings import ServerSettings, Settings
    from router._router import PolicyRouter

log = logging.getLogger("router.startup")


def listen(server: ServerSettings) -> socket.socket:
    """The bound listening socket of ``server``'s address; ConfigError (one line) if the
    address is in use or cannot be bound."""
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((server.host, server.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(_bind_error(server, exc)) from None
    sock.set_inheritable(True)
    return sock


def check_address(server: ServerSettings) -> None:
    """ConfigError if ``server``'s address cannot be bound now (the supervisor of
    ``--workers`` binds it itself, right after)."""
    listen(server).close()


def _bind_error(server: ServerSettings, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    hint = " (another server is listening there; stop it or choose --port)"
    in_use = exc.errno in {98, 48, 10048}  # EADDRINUSE: Linux, macOS, Windows
    return f"cannot listen on {server.host}:{server.port}: {reason}{hint if in_use else ''}"


def prepare() -> None:
    """What a serving process sets up once, before its router: tracing, lean log records.
    litellm is not imported here (``load_litellm``, once the deployment is known)."""
    _tracing.configure()  # the OTEL_* variables, unless the host set tracing up
    _tracing.settle()  # no provider set up: no span per request
    logs.lean_records()


def build(settings: Settings) -> tuple[PolicyRouter, FastAPI]:
    """The router the settings describe and the app serving it."""
    from router._router import PolicyRouter
    from router._server.app import create_app

    router = PolicyRouter.from_settings(settings)
    return router, create_app(router, settings)


def load_litellm(router: PolicyRouter, settings: Settings) -> bool:
    """Import and configure litellm now (seconds) when a route the deployment can serve needs
    it, so that no request waits for it; else leave it unimported (a deployment whose routes
    all take the lean path never needs it for chat). Returns whether it is loaded."""
    from router._upstream import setup

    if router.loaded.servable_litellm_routes:
        setup.configure(settings.transport)
    return setup.loaded()


def uvicorn_options(settings: Settings, *, http: Any) -> dict[str, Any]:
    """uvicorn's options for ``serve``, one process or several; ``http`` is the protocol
    class with the header deadline (or, for workers, where to import it)."""
    server = settings.server
    return {
        "host": server.host,
        "port": server.port,
        "timeout_graceful_shutdown": math.ceil(server.graceful_timeout),
        "timeout_keep_alive": server.keep_alive_timeout,
        "http": http,
        "access_log": False,  # its lines carry raw paths (user ids); router.access logs instead
        "log_config": logs.config(),  # no content, user id or provider error text (logs.py)
        "server_header": False,
    }


def header_deadline(settings: Settings) -> type[asyncio.Protocol]:
    return with_header_deadline(settings.server.read_timeout)


def summary(
    router: PolicyRouter, settings: Settings, *, processes: int = 1, litellm: bool = False
) -> str:
    """The start-up summary: where it listens, who may call, where the evidence goes, where
    preferences live, which catalog and how much of it can be served, and what needs litellm
    (``litellm``: whether it is loaded). No secret: key counts, not keys; the store's address
    without its credentials."""
    server, loaded = settings.server, router.loaded
    catalog = loaded.catalog
    workers = "1 process" if processes == 1 else f"{processes} worker processes"
    records, checkpoints = settings.resolved_audit()
    return "\n".join(
        [
            f"policy-router {_version()} listening on http://{_address(server)} ({workers})",
            f"  auth: {auth_mode(server)}",
            f"  audit: {records}; checkpoints: {checkpoints}, every "
            f"{settings.audit_checkpoint_every} records or {settings.audit_checkpoint_seconds:g} s",
            f"  store: {store_address(settings.resolved_store_url())}",
            f"  catalog: {catalog.label}: {loaded.servable_routes} of {len(catalog.routes)} "
            "routes servable"
            + (" (offline: no provider is contacted)" if settings.offline else ""),
            f"  litellm: {litellm_use(router.loaded, loaded=litellm, processes=processes)}",
        ]
    )


def auth_mode(server: ServerSettings) -> str:
    if server.allow_no_auth and not (server.api_keys or server.admin_keys):
        return "none: any caller on this loopback address (--allow-no-auth)"
    api, admin = len(server.api_keys), len(server.admin_keys)
    return f"Bearer keys: {api} API key(s), {admin} admin key(s)"


def store_address(url: str) -> str:
    """The store's URL without user or password."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return f"SQLite {url.partition(':///')[2] or url}"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _address(server: ServerSettings) -> str:
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"{host}:{server.port}"


def _version() -> str:
    try:
        return version("policy-router")
    except PackageNotFoundError:
        return "0+unknown"


@contextlib.contextmanager
def exported(settings: Settings) -> Iterator[None]:
    """The flags' values in the environment the workers read their settings from, and a
    metrics directory shared by the workers (made here unless PROMETHEUS_MULTIPROC_DIR is
    set; removed at exit)."""
    import shutil
    import tempfile

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
        yield
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


# --- one process --------------------------------------------------------------------------


def serve(settings: Settings, *, workers: int = 1, loop_factory: Any = None) -> None:
    """Serve until SIGTERM or Ctrl-C: in this process, or in ``workers`` processes."""
    if workers > 1:
        check_address(settings.server)
        _serve_workers(settings, workers)
        return
    sock = listen(settings.server)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(settings, sock))


async def _serve(settings: Settings, sock: socket.socket) -> None:
    import uvicorn

    from router._server.operations import reload_on_sighup
    from router._server.startup import log_startup

    prepare()
    router, app = build(settings)
    async with router:
        litellm = load_litellm(router, settings)
        config = uvicorn.Config(app, **uvicorn_options(settings, http=header_deadline(settings)))
        log.info("%s", summary(router, settings, litellm=litellm))  # after uvicorn.Config
        log_startup(router.loaded, settings, os.environ)
        server = uvicorn.Server(config)
        _exit_cleanly_on_signals(server)
        previous_hup = reload_on_sighup(router)
        freeze_long_lived_objects()
        try:
            await server.serve(sockets=[sock])
            await _cancelled_requests_finish(server)
        finally:
            signal.signal(signal.SIGHUP, previous_hup)


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


# --- several processes ----------------------------------------------------------------------


def _serve_workers(settings: Settings, workers: int) -> None:
    """uvicorn's supervisor: ``workers`` processes on one socket, each building its own router
    (router/_server/workers.py) from the environment, which carries the flags' values. SIGHUP to this
    process restarts the workers (uvicorn), which reloads the catalog in each;
    ``POST /admin/reload`` reaches only the worker that answers it."""
    import logging.config

    import uvicorn

    from router._audit import AuditLog
    from router._router import PolicyRouter

    logging.config.dictConfig(logs.config())
    # The summary once, from a router that is only read (no audit record, no connection);
    # each worker logs its provider lines (router/_server/workers.py).
    probe = PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda _line: None))
    log.info("%s", summary(probe, settings, processes=workers))
    asyncio.run(probe.aclose())
    with exported(settings):
        uvicorn.run(
            "router._server.workers:app",
            factory=True,
            workers=workers,
            # the protocol with the header deadline, made in each worker from its settings
            **uvicorn_options(settings, http="router._server.workers:HeaderDeadline"),
        )
