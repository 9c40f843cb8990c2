"""Tracing: the spans a request through the proxy makes, with an in-memory exporter.

respx on the providers' wire (a failover: OpenAI fails, Azure answers). The span tree is one
request span with children for the store read, the decision and each attempt; attributes name
the route, provider, outcome, catalog version, model slug and the user's audit pseudonym, never
the raw user id, message content or a provider's error text. An incoming ``traceparent`` makes
the request span a child of the caller's trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import respx
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from router._core.pseudonym import Pseudonymizer
from router._observe import tracing as _tracing
from tests._support.wire import mock_provider, use_fake_credentials
from tests.observe.test_metrics import auth, client_for, make_settings

SENTINEL_USER: Final = "sentinel-user-7f3a@example.com"
SENTINEL_TEXT: Final = "sentinel-content-c41b: my secret plan"
UPSTREAM_ERROR: Final = "upstream exploded sentinel-e9d2"
TRACE_ID: Final = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN: Final = "00f067aa0ba902b7"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_tracing, "_tracer", _tracing._UNSET)  # restored after the test
    _tracing.use(provider)
    yield exporter
    provider.shutdown()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    use_fake_credentials(monkeypatch)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock_provider(mock, "openai", status=500, error=UPSTREAM_ERROR)
        mock_provider(mock, "azure")
        yield mock


def body(model: str = "GPT 4.1") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": SENTINEL_TEXT}],
        "user": SENTINEL_USER,
    }


async def post(tmp_path: Path, json: dict[str, Any], **headers: str) -> int:
    status = 0
    clients = client_for(make_settings(tmp_path, offline=False))
    async with contextlib.aclosing(clients):
        async for http in clients:
            response = await http.post("/v1/chat/completions", json=json, headers=auth() | headers)
            status = response.status_code
    return status


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == f"policy_router.{name}"]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return {k.removeprefix("policy_router."): v for k, v in (span.attributes or {}).items()}


async def test_tracing__span_tree_and_attributes(
    tmp_path: Path, spans: InMemorySpanExporter, wire: respx.MockRouter
) -> None:
    assert await post(tmp_path, body()) == 200
    finished = spans.get_finished_spans()
    [request] = named(finished, "request")
    [store_read] = named(finished, "store_read")
    [decision] = named(finished, "decision")
    attempts = named(finished, "attempt")
    assert len(finished) == 5
    assert request.parent is None
    assert request.kind is SpanKind.INTERNAL
    request_id = request.context.span_id
    for child in (store_read, decision, *attempts):
        assert child.parent is not None
        assert child.parent.span_id == request_id
        assert child.context.trace_id == request.context.trace_id

    pseudonym = Pseudonymizer(b"test-pseudonym-key-0123456789abcdef").for_audit(SENTINEL_USER)
    got = attrs(request)
    assert got["outcome"] == "ok"
    assert got["model"] == "gpt-4-1"
    assert got["provider"] == "azure"
    assert got["route"].startswith("gpt-4-1")
    assert got["user"] == pseudonym
    assert got["catalog_version"]
    assert request.status.status_code is StatusCode.UNSET
    assert attrs(store_read)["outcome"] == "ok"
    assert attrs(decision)["model"] == "gpt-4-1"
    assert attrs(decision)["allowed"] >= 2

    by_provider = {attrs(a)["provider"]: a for a in attempts}
    assert sorted(by_provider) == ["azure", "openai"]
    failed, answered = by_provider["openai"], by_provider["azure"]
    assert attrs(failed)["outcome"] == "server"
    assert attrs(failed)["status_code"] == 500
    assert attrs(failed)["attempt"] == 1
    assert attrs(answered)["attempt"] == 2
    assert failed.status.status_code is StatusCode.ERROR
    assert not failed.status.description
    assert failed.events == ()  # no exception recorded: its message may echo the request
    assert attrs(answered)["outcome"] == "ok"
    assert attrs(answered)["user"] == pseudonym


async def test_tracing__no_user_id_content_or_error_text_in_any_attribute(
    tmp_path: Path, spans: InMemorySpanExporter, wire: respx.MockRouter
) -> None:
    assert await post(tmp_path, body()) == 200
    assert await post(tmp_path, body("no such model")) == 404
    finished = spans.get_finished_spans()
    assert len(named(finished, "request")) == 2
    texts = [
        repr(v)
        for s in finished
        for v in [*(s.attributes or {}).values(), s.status.description, s.name]
    ] + [repr(e.attributes) for s in finished for e in s.events]
    for secret in (SENTINEL_USER, "sentinel-user", SENTINEL_TEXT, "c41b", "e9d2"):
        assert not [t for t in texts if secret in t], secret


async def test_tracing__a_refusal_names_its_outcome(
    tmp_path: Path, spans: InMemorySpanExporter, wire: respx.MockRouter
) -> None:
    assert await post(tmp_path, body("no such model")) == 404
    [request] = named(spans.get_finished_spans(), "request")
    assert attrs(request)["outcome"] == "refused"
    assert attrs(request)["reason"] == "unknown_model"
    assert attrs(request)["model"] == "unknown"  # the caller's free text is no attribute
    assert request.status.status_code is StatusCode.ERROR


async def test_tracing__traceparent_makes_the_spans_children_of_the_callers_trace(
    tmp_path: Path, spans: InMemorySpanExporter, wire: respx.MockRouter
) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01"
    assert await post(tmp_path, body(), traceparent=traceparent) == 200
    finished = spans.get_finished_spans()
    [request] = named(finished, "request")
    assert request.parent is not None
    assert request.parent.is_remote
    assert request.parent.span_id == int(PARENT_SPAN, 16)
    assert {s.context.trace_id for s in finished} == {int(TRACE_ID, 16)}


async def test_tracing__without_traceparent_each_request_starts_a_trace(
    tmp_path: Path, spans: InMemorySpanExporter, wire: respx.MockRouter
) -> None:
    assert await post(tmp_path, body()) == 200
    assert await post(tmp_path, body()) == 200
    requests = named(spans.get_finished_spans(), "request")
    assert len({r.context.trace_id for r in requests}) == 2
    assert all(r.parent is None for r in requests)


async def test_tracing__off_makes_no_spans(
    tmp_path: Path,
    spans: InMemorySpanExporter,
    wire: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _tracing.use(None)
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01"
    assert await post(tmp_path, body(), traceparent=traceparent) == 200
    assert spans.get_finished_spans() == ()


def test_tracing__otel_sdk_disabled_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert _tracing._resolve() is None
    assert (
        _tracing.configure({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}) is None
    )
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    assert _tracing._resolve() is not None


@pytest.mark.parametrize(
    ("provider", "traced"),
    [
        pytest.param(trace.ProxyTracerProvider, False, id="no provider set up: off"),
        pytest.param(trace.NoOpTracerProvider, False, id="the no-op provider: off"),
        pytest.param(TracerProvider, True, id="the host's or configure's SDK provider: on"),
    ],
)
def test_tracing__serve_settles_on_whether_a_provider_is_set_up(
    monkeypatch: pytest.MonkeyPatch, provider: Any, traced: bool
) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setattr(_tracing, "_tracer", _tracing._UNSET)  # restored after the test
    made = provider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: made)
    _tracing.settle()
    assert (_tracing.tracer() is not None) is traced


def test_tracing__serve_settles_off_when_the_sdk_is_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setattr(_tracing, "_tracer", _tracing._UNSET)
    _tracing.settle()
    assert _tracing.tracer() is None


def test_tracing__an_unknown_exporter_is_refused_by_name() -> None:
    from router._errors import ConfigError

    with pytest.raises(ConfigError, match="expected otlp, console or none, found 'zipkin'"):
        _tracing.configure({"OTEL_TRACES_EXPORTER": "zipkin"})


async def test_tracing__a_stream_makes_the_same_tree(
    tmp_path: Path, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fake_credentials(monkeypatch)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock_provider(mock, "openai", stream=True)
        status = await post(tmp_path, body() | {"stream": True})
    assert status == 200
    finished = spans.get_finished_spans()
    [request] = named(finished, "request")
    [attempt] = named(finished, "attempt")
    assert attrs(request)["stream"] is True
    assert attrs(request)["outcome"] == "ok"
    assert attrs(attempt)["provider"] == attrs(request)["provider"] == "openai"
    assert attempt.parent is not None
    assert attempt.parent.span_id == request.context.span_id


def test_remote_parent__joins_the_callers_trace_within_and_leaves_it_after(
    spans: InMemorySpanExporter,
) -> None:
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01"
    with _tracing.remote_parent({"traceparent": traceparent}):
        inside = trace.get_current_span().get_span_context()
    assert (inside.trace_id, inside.span_id) == (int(TRACE_ID, 16), int(PARENT_SPAN, 16))
    assert not trace.get_current_span().get_span_context().is_valid


@pytest.mark.parametrize("tracing", [True, False])
def test_remote_parent__without_the_header_or_tracing_changes_nothing(
    spans: InMemorySpanExporter, tracing: bool
) -> None:
    if not tracing:
        _tracing.use(None)
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01"} if not tracing else {}
    with _tracing.remote_parent(headers):
        assert not trace.get_current_span().get_span_context().is_valid
