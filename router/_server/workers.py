"""``serve --workers N``: the app factory each worker process runs.

uvicorn's supervisor binds the socket once and starts N worker processes on it; each calls
``app()``, which builds its own router (its own audit writer id, its own store connections)
from the settings in the environment the supervisor passed on. The workers share nothing
but the socket, the preference store and the metrics directory (``PROMETHEUS_MULTIPROC_DIR``,
which ``serve`` creates when it is not set), as replicas do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from router._config.settings import Settings
from router._observe import tracing as _tracing
from router._router import PolicyRouter
from router._server.app import create_app
from router._server.operations import reload_on_sighup
from router._server.startup import log_startup
from router._upstream import setup


def app() -> FastAPI:
    """One worker's app; its router is closed when the worker shuts down."""
    settings = Settings()
    setup.configure(settings.transport)
    _tracing.configure()  # the OTEL_* variables, unless the host set tracing up
    router = PolicyRouter.from_settings(settings)
    application = create_app(router, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await router.aclose()

    application.router.lifespan_context = lifespan
    log_startup(router.loaded, settings, os.environ)
    reload_on_sighup(router)  # a SIGHUP sent to this worker; the supervisor restarts them all
    from router._server.startup import freeze_long_lived_objects

    freeze_long_lived_objects()
    return application
