"""What an operator asks of the proxy: readiness, metrics, and a reload of the catalog.

- ``GET /readyz``: the preference store, the catalog version and the number of routes the
  deployment can serve; 503 when the store does not answer, the catalog is empty or no
  route can be served.
- ``GET /metrics`` (admin key): Prometheus' text format (router/_observe/prometheus.py).
- ``POST /admin/reload`` (admin key), and SIGHUP to ``serve``: read the catalog and the
  deployment files again, validated whole, and put them in force at once (``PolicyRouter.
  reload``). An invalid one is refused with the loader's message; the old one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from types import FrameType
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from router._errors import CatalogError, ConfigError, StoreUnavailable
from router._observe.prometheus import CONTENT_TYPE, PrometheusMetrics
from router._router import PolicyRouter
from router._server.context import Admin, context
from router._server.errors import ApiError
from router._server.schemas import ErrorResponse, Health

log = logging.getLogger("router.server")


def install_metrics(router: PolicyRouter) -> PrometheusMetrics:
    """The router's Prometheus metrics, installed on it if it has none yet."""
    if isinstance(router.metrics, PrometheusMetrics):
        return router.metrics
    metrics = PrometheusMetrics()
    router.observe(metrics)
    return metrics


async def readyz(request: Request) -> JSONResponse:
    """Ready when the catalog has models, the store answers and a route can be served."""
    router = context(request).router
    loaded = router.loaded
    servable = loaded.servable_routes
    checks = {
        "catalog": "ok" if loaded.catalog.models else "empty",
        "preference_store": "ok",
        "backends": "ok" if servable else "none servable",
    }
    try:
        await router.preferences.ping()
    except (StoreUnavailable, ConfigError) as exc:
        log.warning("not ready: %s", exc)
        checks["preference_store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    health = Health(
        status="ready" if ready else "not ready",
        catalog_version=loaded.catalog.label,
        checks=checks,
        servable_routes=servable,
    )
    return JSONResponse(health.model_dump(), status_code=200 if ready else 503)


async def metrics(request: Request, caller: Admin) -> Response:
    """Every metric, in Prometheus' text format."""
    found = context(request).router.metrics
    body = found.render() if isinstance(found, PrometheusMetrics) else b""
    return Response(body, media_type=CONTENT_TYPE)


async def reload(request: Request, actor: Admin) -> dict[str, Any]:
    """Reload the catalog and the deployment; 409 with the loader's message if invalid."""
    try:
        return reload_catalog(context(request).router, actor)
    except (CatalogError, ConfigError) as exc:
        raise ApiError(
            409,
            f"reload refused, the catalog in force is kept: {exc}",
            code="reload_refused",
        ) from exc


def reload_catalog(router: PolicyRouter, actor: str) -> dict[str, Any]:
    """``router.reload``, logged; what was and what now is in force."""
    try:
        old, new = router.reload(actor=actor)
    except (CatalogError, ConfigError) as exc:
        log.error("reload refused (%s), %s stays in force: %s", actor, router.catalog.label, exc)
        raise
    servable = router.loaded.servable_routes
    log.info(
        "reloaded (%s): catalog %s -> %s, %d servable routes", actor, old.label, new.label, servable
    )
    if not servable:
        log.warning("no route of catalog %s can be served", new.label)
    return {
        "status": "reloaded",
        "old": {"label": old.label, "hash": old.content_hash},
        "new": {"label": new.label, "hash": new.content_hash},
        "servable_routes": servable,
    }


def reload_on_sighup(router: PolicyRouter) -> Any:
    """SIGHUP reloads the catalog (on the running event loop, while it runs), then runs the
    previous handler (the audit log reopens its file on SIGHUP). Returns that previous handler,
    for the caller to put back when it stops serving."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGHUP)

    def on_hup(signum: int, frame: FrameType | None) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_reload_quietly, router)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGHUP, on_hup)
    return previous


def _reload_quietly(router: PolicyRouter) -> None:
    with contextlib.suppress(CatalogError, ConfigError):  # logged; the old catalog stays
        reload_catalog(router, "sighup")


def add_operation_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        response_model=None,
        responses={200: {"model": Health}, 503: {"model": Health}},
    )
    errors: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (401, 403)}
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}}, **errors},
    )
    app.add_api_route(
        "/admin/reload",
        reload,
        methods=["POST"],
        responses={**errors, 409: {"model": ErrorResponse}},
    )
