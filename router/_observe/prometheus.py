"""``PrometheusMetrics``: the router's metrics in Prometheus' text format (prometheus-client).

Every name starts with ``policy_router_``; labels are the model slug, the provider slug, an
outcome or a reason class, never a user (router/_observe/metrics.py). The labelled children a request
updates are looked up once per label set and kept as bound updates (``_inc``, ``_observe``:
prometheus-client's own, their checks made once), so a request costs one dictionary look-up
per call and its increments (bench/metrics.py).

Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, the same for
every worker, before they start; ``render`` then adds up every worker's values (prometheus-
client's multiprocess mode; the catalog gauge shows each live worker's catalog).
"""

from __future__ import annotations

import functools
import os
from bisect import bisect_left
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from router._observe.metrics import Metrics

if TYPE_CHECKING:
    from router._core.catalog import Catalog

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_UPSTREAM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_OWN_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
_STORE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)


class PrometheusMetrics(Metrics):
    """The router's counters and histograms, in ``registry`` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "policy_router_requests", "Requests by model and outcome.",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self._refusals = Counter(
            "policy_router_refusals",
            "Requests refused before anything was sent, by reason class.",
            ["model", "reason"],
            registry=r,
        )
        self._decisions = Counter(
            "policy_router_decisions",
            "Decisions by model; verdict 'allowed' when at least one route may be tried.",
            ["model", "verdict"],
            registry=r,
        )
        self._attempts = Counter(
            "policy_router_attempts", "Attempts by model, provider and outcome.",
            ["model", "provider", "outcome"], registry=r,
        )  # fmt: skip
        self._failovers = Counter(
            "policy_router_failovers",
            "Failed attempts after which the next allowed route was tried, by the failed provider.",
            ["model", "provider"],
            registry=r,
        )
        self._upstream = Histogram(
            "policy_router_upstream_seconds",
            "Attempt latency: sent to answered (a stream: to its end), by outcome.",
            ["model", "provider", "outcome"], buckets=_UPSTREAM_BUCKETS, registry=r,
        )  # fmt: skip
        self._first_chunk = Histogram(
            "policy_router_upstream_first_chunk_seconds",
            "Streams: attempt sent to first chunk.",
            ["model", "provider"], buckets=_UPSTREAM_BUCKETS, registry=r,
        )  # fmt: skip
        self._overhead = Histogram(
            "policy_router_overhead_seconds",
            "The router's own time before the first attempt: checks, preference read, decision, scrubbing.",
            buckets=_OWN_BUCKETS, registry=r,
        )  # fmt: skip
        self._store = Histogram(
            "policy_router_store_read_seconds", "Preference store reads, by outcome.",
            ["outcome"], buckets=_STORE_BUCKETS, registry=r,
        )  # fmt: skip
        self._store_errors = Counter(
            "policy_router_store_errors", "Preference store reads that failed.", registry=r
        )
        self._catalog = Gauge(
            "policy_router_catalog_info",
            "The catalog in force (1) and any replaced by a reload (0), by version and label.",
            ["version", "label"], multiprocess_mode="livemax", registry=r,
        )  # fmt: skip
        self._store_ok = _observe(self._store.labels("ok"))
        self._overhead_seen = _observe(self._overhead)
        self._bound: dict[Hashable, Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        return metric.labels(*labels)

    def request(self, model: str, outcome: str, reason: str | None) -> None:
        key = ("request", model, outcome)
        inc = self._bound.get(key)
        if inc is None:
            inc = self._bound[key] = _inc(self._requests.labels(model, outcome))
        inc()
        if reason is not None:
            self._child(self._refusals, model, reason).inc()

    def decision(self, model: str, allowed: int) -> None:
        key = ("decision", model, bool(allowed))
        inc = self._bound.get(key)
        if inc is None:
            verdict = "allowed" if allowed else "refused"
            inc = self._bound[key] = _inc(self._decisions.labels(model, verdict))
        inc()

    def attempt(self, model: str, provider: str, outcome: str, seconds: float) -> None:
        key = ("attempt", model, provider, outcome)
        bound = self._bound.get(key)
        if bound is None:
            counted = _inc(self._attempts.labels(model, provider, outcome))
            timed = _observe(self._upstream.labels(model, provider, outcome))
            bound = self._bound[key] = (counted, timed)
        bound[0]()
        bound[1](seconds)

    def failover(self, model: str, provider: str) -> None:
        self._child(self._failovers, model, provider).inc()

    def first_chunk(self, model: str, provider: str, seconds: float) -> None:
        self._child(self._first_chunk, model, provider).observe(seconds)

    def overhead(self, seconds: float) -> None:
        self._overhead_seen(seconds)

    def store_read(self, seconds: float, ok: bool) -> None:
        if ok:
            self._store_ok(seconds)
            return
        self._child(self._store, "error").observe(seconds)
        self._store_errors.inc()

    def catalog(self, old: Catalog | None, new: Catalog) -> None:
        if old is not None and old.label != new.label:
            self._catalog.labels(old.version, old.label).set(0)
        self._catalog.labels(new.version, new.label).set(1)

    def render(self) -> bytes:
        """Every metric in Prometheus' text format; all workers' under PROMETHEUS_MULTIPROC_DIR."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)


def _inc(counter: Any) -> Callable[[], None]:
    """``counter.inc()`` (a labelled child, or a counter without labels) as one call of its
    value's ``inc``: what ``Counter.inc`` does for 1 without an exemplar, its check (the
    labels are set) made here, once. tests/observe/test_prometheus.py compares the two."""
    counter._raise_if_not_observable()
    return functools.partial(counter._value.inc, 1)


def _observe(histogram: Any) -> Callable[[float], None]:
    """``histogram.observe`` as ``Histogram.observe`` does it without an exemplar (its sum,
    then the first bucket whose bound is at least the amount; NaN: none), the bucket found
    by bisection, its check made here, once."""
    histogram._raise_if_not_observable()
    total, buckets, bounds = histogram._sum.inc, histogram._buckets, histogram._upper_bounds

    def observe(amount: float) -> None:
        total(amount)
        if amount == amount:  # not NaN
            buckets[bisect_left(bounds, amount)].inc(1)

    return observe
