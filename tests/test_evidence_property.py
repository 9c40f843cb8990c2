"""The property: generated requests refused at every stage leave no caller string behind.

Hypothesis generates a user id and a content string, then a request refused at one stage (the
accepted surface, an unknown model, a policy violation, a blocked attempt, a bad header or
request id) on one API (chat, Responses, Messages), through the library or the proxy (in
process, one router for both). After every example: neither string is in any audit record,
log line, metric sample (``GET /metrics``) or span attribute (an in-memory span exporter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import PolicyRouter, RouterError
from router._audit import AuditLog
from router._observe import tracing as _tracing
from router._server.app import create_app
from tests.server.test_app import ADMIN_KEY, BASE, auth, make_settings

STAGES: Final = ("surface", "unknown model", "policy", "blocked", "header")
APIS: Final = ("chat", "responses", "messages")
HEX: Final = "0123456789abcdef"
PATHS: Final = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}


@dataclass
class Evidence:
    """Everything the router wrote while the test ran."""

    audit: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


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
def evidence() -> Iterator[Evidence]:
    found = Evidence()
    handler = _Lines(found.logs)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s"))
    logger = logging.getLogger("router")  # the router's own log lines (litellm's are the host's)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield found
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@dataclass(frozen=True)
class Case:
    """One generated refusal."""

    stage: str
    api: str
    proxy: bool
    user: str
    content: str


cases = st.builds(
    Case,
    stage=st.sampled_from(STAGES),
    api=st.sampled_from(APIS),
    proxy=st.booleans(),
    user=st.text(HEX, min_size=5, max_size=12).map(lambda s: f"uid-{s}"),  # 9 or more
    content=st.text(HEX + " ", min_size=1, max_size=20).map(lambda s: f"ctx-{s}"),
)


def _request(case: Case) -> tuple[dict[str, Any], dict[str, str]]:
    """The request body for ``case`` (the API's own shape) and its extra headers."""
    model, user, content = "GPT 4.1", case.user, case.content
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    tool_description = "a tool"
    if case.stage == "surface":
        extra = {"temperature": content} if case.api != "responses" else {"top_p": content}
    elif case.stage == "unknown model":
        model = content
    elif case.stage == "policy":
        extra = {"privacy": {"allow_providers": ["xai"]}}  # GPT 4.1 has no xAI route
    elif case.stage == "blocked":
        tool_description = f"look up {user}"  # not content, not an identifier field: blocked
    else:
        headers = {"X-Request-Id": f"req-{user}"}
    if case.api == "responses":
        tool = {"type": "function", "name": "f", "description": tool_description, "parameters": {}}
        body = {"model": model, "input": content, "user": user, "tools": [tool]}
    elif case.api == "messages":
        tool = {"name": "f", "description": tool_description, "input_schema": {"type": "object"}}
        body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": content}],
                "metadata": {"user_id": user}, "tools": [tool]}  # fmt: skip
    else:
        tool = {"type": "function", "function": {"name": "f", "description": tool_description}}
        body = {"model": model, "messages": [{"role": "user", "content": content}], "user": user,
                "tools": [tool]}  # fmt: skip
    return body | extra, headers


async def _library(router: PolicyRouter, case: Case) -> None:
    body, headers = _request(case)
    request_id = headers.get("X-Request-Id")
    try:
        if case.api == "responses":
            await router.aresponses(
                body.pop("model"), body.pop("input"), body.pop("user"), request_id=request_id,
                **body,
            )  # fmt: skip
        elif case.api == "messages":
            if request_id is not None:  # amessages takes no request id: a merged user instead
                body["metadata"]["user_id"] = f"{case.user}, other"
            await router.amessages(**body)
        else:
            await router.acompletion(
                body.pop("model"), body.pop("messages"), body.pop("user"), request_id=request_id,
                **body,
            )  # fmt: skip
    except RouterError:
        return
    if case.api != "messages" or request_id is None:
        pytest.fail(f"{case}: not refused")


async def _proxy(http: httpx.AsyncClient, case: Case) -> None:
    body, headers = _request(case)
    if case.stage == "header" and case.api == "messages":
        headers = {"X-Router-User": f"{case.user}, other"}
        body["metadata"] = {}
    response = await http.post(PATHS[case.api], json=body, headers=auth() | headers)
    assert 400 <= response.status_code < 500, (case, response.text)


def test_property__no_raw_id_or_content_in_any_evidence(
    tmp_path: Path,
    loop: asyncio.AbstractEventLoop,
    spans: InMemorySpanExporter,
    evidence: Evidence,
) -> None:
    config = make_settings(tmp_path)
    router = PolicyRouter.from_settings(config, audit_log=AuditLog(evidence.audit.append))
    app = create_app(router, config)
    seen: list[Case] = []

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(case=cases)
    def check(case: Case) -> None:
        evidence.audit.clear()
        evidence.logs.clear()
        spans.clear()

        async def run() -> str:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
                if case.proxy:
                    await _proxy(http, case)
                else:
                    await _library(router, case)
                return (await http.get("/metrics", headers=auth(ADMIN_KEY))).text

        metrics = loop.run_until_complete(run())
        seen.append(case)
        attributes = [
            str(v) for s in spans.get_finished_spans() for v in (s.attributes or {}).values()
        ]
        for text in (case.user, case.content):
            assert not any(text in line for line in evidence.audit), (case, "audit")
            assert not any(text in line for line in evidence.logs), (case, "logs")
            assert text not in metrics, (case, "metrics")
            assert not any(text in value for value in attributes), (case, "spans")

    try:
        check()
    finally:
        loop.run_until_complete(router.aclose())
    stages = {(c.stage, c.api, c.proxy) for c in seen}
    assert len(stages) >= 20  # the examples reach most stages on every API, both ways
