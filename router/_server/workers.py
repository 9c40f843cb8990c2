"""``serve --workers N``: what each worker process runs.

uvicorn's supervisor binds the socket once and starts N worker processes on it; each calls
``app()``, which takes the bootstrap's steps in its own process (router/_server/bootstrap.py:
``prepare``, ``build``, ``load_litellm``, the long-lived objects frozen) and builds its own router (its own
audit writer id, its own store connections) from the settings in the environment the
supervisor passed on. ``HeaderDeadline``, the HTTP protocol uvicorn imports in each worker, is
made from the worker's own settings (a class made in the supervisor could not be sent to it).
The workers share nothing but the socket, the preference store and the metrics directory
(``PROMETHEUS_MULTIPROC_DIR``, which ``serve`` creates when it is not set), as replicas do.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from router._config.settings import Settings
from router._server.bootstrap import build, header_deadline, load_litellm, prepare
from router._server.operations import reload_on_sighup
from router._server.startup import freeze_long_lived_objects, log_startup


def app() -> FastAPI:
    """One worker's app; its router is closed when the worker shuts down."""
    settings = Settings().serving()
    prepare()
    router, application = build(settings)
    load_litellm(router, settings)  # only if a servable route needs it (bootstrap.py)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await router.aclose()

    application.router.lifespan_context = lifespan
    log_startup(router.loaded, settings, os.environ)  # the summary is the supervisor's
    reload_on_sighup(router)  # a SIGHUP sent to this worker; the supervisor restarts them all
    freeze_long_lived_objects()
    return application


def __getattr__(name: str) -> Any:
    """``HeaderDeadline``: uvicorn's protocol with the header deadline of this process's
    settings (``read_timeout``), imported by uvicorn in each worker."""
    if name == "HeaderDeadline":
        return header_deadline(Settings())
    raise AttributeError(name)
