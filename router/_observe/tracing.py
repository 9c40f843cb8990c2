"""Tracing: optional OpenTelemetry spans (the extra ``policy-router[otel]``).

One span per request (``policy_router.request``), with children for the preference-store read
(``policy_router.store_read``), the decision (``policy_router.decision``) and each attempt
(``policy_router.attempt``). Attributes are bounded and safe to ship: the catalog version, the
model slug, route, provider, outcome, the request id and the user's audit pseudonym. Never
message content, never the raw user id, never credentials; exceptions are not recorded (a
provider's error message may echo the request), only their class.

Spans go to the global tracer provider: the host's, or the one ``serve`` sets up from the
standard ``OTEL_*`` variables (``configure``). Without opentelemetry installed, or with
``OTEL_SDK_DISABLED=true``, nothing is imported and every call here is a constant check.
opentelemetry is imported by the first request, never by importing the package.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

NAME: Final = "policy-router"
PREFIX: Final = "policy_router."
_UNSET: Final[Any] = object()
_OFF: Final = contextlib.nullcontext(None)

_tracer: Any = _UNSET  # opentelemetry's Tracer, None when off, _UNSET until the first request


def disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``OTEL_SDK_DISABLED`` as the SDK reads it: ``true`` (any case) turns tracing off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def tracer() -> Any:
    """The tracer, or None when tracing is off (resolved once, at the first request)."""
    global _tracer
    if _tracer is _UNSET:
        _tracer = _resolve()
    return _tracer


def _resolve() -> Any:
    if disabled():
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer(NAME)


def settle() -> None:
    """For ``serve``, once ``configure`` ran: tracing stays on only if a tracer provider is set
    up (by the host or by ``configure``). With none, every span would be opentelemetry's
    non-recording one, made and ended per request for nothing: tracing is off instead."""
    global _tracer
    _tracer = _resolve()
    if _tracer is None:
        return
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, get_tracer_provider

    if isinstance(get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider):
        _tracer = None


def use(provider: Any) -> None:
    """Send spans to ``provider`` (an opentelemetry TracerProvider; None turns tracing off),
    for embedding and tests; the default is the global tracer provider."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer(NAME)


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A span, child of the current one and made current (None when tracing is off). ``None``
    attributes are left out. Exceptions are not recorded: set the outcome instead."""
    current = tracer()
    if current is None:
        return _OFF
    return _started(current, name, attributes)


def child(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """``span``, only within a recording span (a request's, or the host's): a preference read
    for ``explain`` or ``prefs`` makes none, and imports nothing."""
    current = _tracer
    if current is None or current is _UNSET:
        return _OFF
    from opentelemetry import trace

    if not trace.get_current_span().is_recording():
        return _OFF
    return _started(current, name, attributes)


def _started(
    current: Any, name: str, attributes: Mapping[str, Any]
) -> contextlib.AbstractContextManager[Any]:
    started: contextlib.AbstractContextManager[Any] = current.start_as_current_span(
        PREFIX + name,
        attributes=_attributes(attributes),
        record_exception=False,
        set_status_on_exception=False,
    )
    return started


def annotate(active: Any, **attributes: Any) -> None:
    """Set ``attributes`` on ``active`` (a span, or None when off); an error outcome marks the
    span's status as an error, with no description."""
    if active is None:
        return
    active.set_attributes(_attributes(attributes))
    outcome = attributes.get("outcome")
    if outcome is not None and outcome != "ok":
        from opentelemetry.trace import Status, StatusCode

        active.set_status(Status(StatusCode.ERROR))


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {PREFIX + k: v for k, v in attributes.items() if v is not None}


def remote_parent(headers: Mapping[str, str]) -> contextlib.AbstractContextManager[Any]:
    """Within: the caller's trace (``traceparent``, ``tracestate``) is the current context, so
    that the request's span is its child. Nothing when tracing is off or no header came (the
    shared no-op context: no generator per request)."""
    if tracer() is None or "traceparent" not in headers:
        return _OFF
    return _joined(headers)


@contextlib.contextmanager
def _joined(headers: Mapping[str, str]) -> Iterator[None]:
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


def configure(environ: Mapping[str, str] = os.environ) -> str | None:
    """Set up the SDK for ``serve`` from the standard variables, unless the host already did,
    ``OTEL_SDK_DISABLED`` is true, or opentelemetry-sdk is not installed. Returns what was
    set up (for the start-up log), or None.

    ``OTEL_TRACES_EXPORTER``: ``otlp`` (needs opentelemetry-exporter-otlp), ``console``, or
    ``none`` (the default here: no exporter is configured unless one is named). The resource
    (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), sampler and batch settings are the
    SDK's own defaults and variables."""
    exporters = [
        e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if e.strip()
    ]
    if disabled(environ) or exporters in ([], ["none"]):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        return None
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return None  # the host (opentelemetry-instrument, an embedding app) set one up
    provider = TracerProvider()
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, ConsoleSpanExporter)))
    trace.set_tracer_provider(provider)
    return ",".join(exporters)


def _exporter(name: str, console: Any) -> Any:
    from router._errors import ConfigError

    if name == "console":
        return console()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise ConfigError(
                "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: install "
                "opentelemetry-exporter-otlp-proto-http, or set OTEL_TRACES_EXPORTER to "
                "console or none"
            ) from None
        return OTLPSpanExporter()
    raise ConfigError(
        f"OTEL_TRACES_EXPORTER: expected otlp, console or none, found {name!r}; "
        "set one of those or unset it"
    )
