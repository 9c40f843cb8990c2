"""Metrics: what the router reports as it works, to whatever counts it.

``Metrics`` is the interface and reports nothing (the library's default, free). The proxy
installs ``PrometheusMetrics`` (router/_observe/prometheus.py). Labels are bounded: the catalog's
model slug (``unknown`` for a name the catalog does not have: a caller's free text never
becomes a label), the provider slug, an outcome or a reason class. Never a user, never
content.

Outcomes of a request: ``ok``, ``refused`` (before anything was sent; the reason class says
why), ``rejected`` (a provider refused the request itself), ``blocked`` (the identifier
invariant stopped an attempt), ``failed`` (every allowed route failed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from router._errors import RouterError

if TYPE_CHECKING:
    from router._core.catalog import Catalog

UNKNOWN_MODEL: Final = "unknown"


def outcome_of(exc: RouterError) -> tuple[str, str | None]:
    """A failed request's outcome, and for a refusal its reason class (the error table's)."""
    return exc.metric_outcome, exc.metric_reason


class Metrics:
    """Reports nothing; subclasses count. Every method is called on the request's path, so an
    implementation must be cheap and must not raise."""

    def request(self, model: str, outcome: str, reason: str | None) -> None:
        """A request ended (a stream: once it was opened) with ``outcome``."""

    def decision(self, model: str, allowed: int) -> None:
        """A decision was made for ``model``; ``allowed`` routes may be tried."""

    def attempt(self, model: str, provider: str, outcome: str, seconds: float) -> None:
        """One attempt ended; ``seconds`` from sending to its end (a stream's last chunk)."""

    def failover(self, model: str, provider: str) -> None:
        """An attempt on ``provider`` failed and the next allowed route will be tried."""

    def first_chunk(self, model: str, provider: str, seconds: float) -> None:
        """A stream's first chunk arrived ``seconds`` after its attempt was sent."""

    def overhead(self, seconds: float) -> None:
        """The router's own time before the first attempt was sent: checks, the preference
        read, the decision, scrubbing."""

    def store_read(self, seconds: float, ok: bool) -> None:
        """A read of the preference store took ``seconds``; ``ok`` is false if it raised."""

    def catalog(self, old: Catalog | None, new: Catalog) -> None:
        """``new`` is the catalog in force (``old`` was, before a reload)."""
