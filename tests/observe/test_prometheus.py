"""router/_observe/prometheus.py's updates per request (``_inc``, ``_observe``) count what
prometheus-client's own ``inc`` and ``observe`` count, sample for sample, bounds and NaN
included."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from router._observe.prometheus import _inc, _observe

BOUNDS = (0.001, 0.01, 0.1, 1.0)
AMOUNTS = (0.0, 0.0005, 0.001, 0.005, 0.01, 0.5, 1.0, 7.0, -1.0, math.inf, math.nan)


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    ]


def _pair(labels: bool) -> tuple[tuple[CollectorRegistry, Histogram, Counter], ...]:
    out = []
    for _ in range(2):
        r = CollectorRegistry()
        names = ["model"] if labels else []
        h = Histogram("h_seconds", "h", names, buckets=BOUNDS, registry=r)
        c = Counter("c", "c", names, registry=r)
        out.append((r, h.labels("m") if labels else h, c.labels("m") if labels else c))
    return tuple(out)


@pytest.mark.parametrize("labels", [True, False], ids=["a labelled child", "no labels"])
def test_observe_and_inc__count_as_prometheus_client_does(labels: bool) -> None:
    (theirs, their_h, their_c), (ours, our_h, our_c) = _pair(labels)
    observe, inc = _observe(our_h), _inc(our_c)

    for amount in AMOUNTS:
        their_h.observe(amount)
        their_c.inc()
        observe(amount)
        inc()

    assert str(_samples(ours)) == str(_samples(theirs))  # NaN sums compare as text


def test_observe_and_inc__refuse_a_metric_whose_labels_are_not_set() -> None:
    r = CollectorRegistry()
    with pytest.raises(ValueError, match="label"):
        _observe(Histogram("h_seconds", "h", ["model"], registry=r))
    with pytest.raises(ValueError, match="label"):
        _inc(Counter("c", "c", ["model"], registry=r))
