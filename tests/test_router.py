"""PolicyRouter end to end: decision, scrubbing on the wire, failover, audit records.

Provider traffic is mocked with respx at the httpx layer, so litellm builds the real request
for each provider and the tests assert on what would have gone over the wire.
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from router import (
    BackendUnavailable,
    ConfigError,
    InvalidPreferences,
    InvalidRequest,
    PolicyRouter,
    PolicyViolation,
    Preferences,
    RequestRejected,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
)
from router._audit import AuditLog
from router._config.settings import Settings
from router._errors import IdentifierInRequest
from tests._support.wire import responses_reply

USER = "sentinel-user-4b1d"
SECRET = "sk-sentinel-key-9c2e"
CONTENT = "sentinel message content 77aa"

KIMI = {  # Kimi K2's routes, in catalog order, and where litellm sends each
    "groq": "https://api.groq.com/openai/v1/chat/completions",
    "nebius": "https://api.studio.nebius.ai/v1/chat/completions",
    "deepinfra": "https://api.deepinfra.com/v1/openai/chat/completions",
    "fireworks": "https://api.fireworks.ai/inference/v1/chat/completions",
    "together": "https://api.together.ai/v1/chat/completions",
}
KEYS = {
    "GROQ_API_KEY": SECRET,
    "NEBIUS_API_KEY": SECRET,
    "DEEPINFRA_API_KEY": SECRET,
    "FIREWORKS_AI_API_KEY": SECRET,
    "TOGETHERAI_API_KEY": SECRET,
    "OPENAI_API_KEY": SECRET,
    "ANTHROPIC_API_KEY": SECRET,
}


def completion(text: str = "hello from upstream", model: str = "m") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "service_tier": "on_demand",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }


def sse(*parts: str) -> bytes:
    events = []
    for i, part in enumerate(parts):
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "m",
            "service_tier": "on_demand",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": part}
                    if i == 0
                    else {"content": part},
                    "finish_reason": None,
                }
            ],
        }
        events.append(f"data: {json.dumps(chunk)}\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


class Audit:
    """Audit records collected in memory."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def make_router(tmp_path: Path, audit: Audit, **settings: Any) -> PolicyRouter:
    defaults = {
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
    }
    config = Settings(**defaults | settings)
    return PolicyRouter.from_settings(config, audit_log=AuditLog(audit.lines.append))


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


MESSAGES = [{"role": "user", "content": CONTENT}]


async def test_acompletion__forwards_to_the_first_allowed_route_without_the_user_id(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    response = await router.acompletion(
        "Kimi K2",
        MESSAGES,
        USER,
        metadata={"user_id": USER},
    )
    assert response.choices[0].message.content == "hello from upstream"
    request = groq.calls.last.request
    assert USER not in str(request.url)
    assert USER not in request.content.decode()
    assert all(USER not in v for v in request.headers.values())
    assert json.loads(request.content)["messages"] == MESSAGES
    attempt = audit.events("route.attempt")[0]
    assert attempt["outcome"] == "ok"
    assert attempt["identifier_rule"] == "omit"
    assert attempt["scrubbed_removed"] == ["user"]  # metadata is consumed, never sent
    assert attempt["sends"] == 1


async def test_aclose__closes_its_own_lean_pool_and_no_other_routers(
    tmp_path: Path, audit: Audit, keys: None, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    first = make_router(tmp_path / "a", audit)
    second = make_router(tmp_path / "b", audit)
    for router in (first, second):
        await router.acompletion("Kimi K2", MESSAGES, USER)
    (_, closing), (_, kept) = first.pipeline._clients.get(), second.pipeline._clients.get()
    assert closing is not kept  # each router has its own pooled client
    await first.aclose()
    assert closing.is_closed
    assert not kept.is_closed  # another router's calls in flight are not cut
    response = await second.acompletion("Kimi K2", MESSAGES, USER)
    assert response.choices[0].message.content == "hello from upstream"
    await second.aclose()
    assert kept.is_closed


async def test_acompletion__fails_over_on_5xx_429_and_timeouts_only_to_allowed_routes(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    await router.preferences.set(USER, Preferences(deny_providers=["nebius"]))
    groq = wire.post(KIMI["groq"]).respond(500, json={"error": {"message": "boom"}})
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion("from nebius"))
    deepinfra = wire.post(KIMI["deepinfra"]).respond(429, json={"error": {"message": "slow"}})
    fireworks = wire.post(KIMI["fireworks"]).mock(side_effect=httpx.ReadTimeout("slow"))
    wire.post(KIMI["together"]).respond(200, json=completion("from together"))

    response = await router.acompletion("kimi-k2", MESSAGES, USER)

    assert response.choices[0].message.content == "from together"
    assert not nebius.called  # the user denied it: never contacted, even during failover
    assert (groq.call_count, deepinfra.call_count, fireworks.call_count) == (1, 1, 1)
    outcomes = [(a["provider"], a["outcome"]) for a in audit.events("route.attempt")]
    assert outcomes == [
        ("groq", "server"),
        ("deepinfra", "rate_limit"),
        ("fireworks", "timeout"),
        ("together", "ok"),
    ]
    assert response._hidden_params["policy_router"]["provider"] == "together"


async def test_acompletion__a_bad_request_is_not_failed_over(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(400, json={"error": {"message": "bad temperature"}})
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion())
    with pytest.raises(RequestRejected):
        await router.acompletion("kimi-k2", MESSAGES, USER, temperature=7)
    assert not nebius.called


async def test_acompletion__every_route_failing_raises_backend_unavailable_with_attempts(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    for url in KIMI.values():
        wire.post(url).respond(503, json={"error": {"message": "down"}})
    with pytest.raises(BackendUnavailable) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER)
    attempts = caught.value.attempts
    assert [a.route.provider.slug for a in attempts] == list(KIMI)
    assert all(a.status_code == 503 for a in attempts)


async def test_acompletion__policy_violation_names_reasons_and_alternatives(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    await router.preferences.set(USER, Preferences(max_retention="none"))
    with pytest.raises(PolicyViolation) as caught:
        await router.acompletion("Claude 4.5 Sonnet", MESSAGES, USER)
    violation = caught.value
    assert violation.decision.allowed == ()
    assert {r.route.provider.slug for r in violation.decision.rejected} == {"anthropic", "bedrock"}
    assert "Kimi K2" in violation.alternatives
    assert "Claude 4.5 Sonnet" not in violation.alternatives
    assert "GPT 4.1" not in violation.alternatives  # 30 days
    assert not wire.calls
    refused = audit.events("route.refused")
    assert refused[0]["reason"] == "PolicyViolation"


async def test_acompletion__request_privacy_tightens_but_cannot_loosen(
    tmp_path: Path, audit: Audit, keys: None, wire: respx.MockRouter
) -> None:
    router = make_router(tmp_path, audit, org={"max_retention": "24h"})
    try:
        with pytest.raises(PolicyViolation):
            await router.acompletion(
                "GPT 4.1", MESSAGES, USER, privacy={"max_retention": "unlimited"}
            )
        await router.preferences.set(USER, {"max_retention": "2y"})
        decision = await router.explain("GPT 4.1", USER)
        assert decision.allowed == ()
        assert decision.preferences.max_retention is not None
        assert str(decision.preferences.max_retention) == "24h"
    finally:
        await router.aclose()


async def test_acompletion__unknown_model_is_refused_and_audited(
    router: PolicyRouter, audit: Audit
) -> None:
    with pytest.raises(UnknownModel, match=r"closest catalog names: GPT 5, GPT 4\.1$"):
        await router.acompletion("GPT 9", MESSAGES, USER)
    assert audit.events("route.refused")[0]["reason"] == "UnknownModel"


@pytest.mark.parametrize(
    "argument",
    ["api_base", "api_key", "custom_llm_provider", "mock_response", "aws_region_name",
     "vertex_project", "azure_ad_token", "litellm_params", "callbacks", "allowed_openai_params"],
)  # fmt: skip
async def test_acompletion__arguments_that_choose_a_backend_are_refused(
    router: PolicyRouter, wire: respx.MockRouter, argument: str
) -> None:
    with pytest.raises(InvalidRequest, match=f"remove '{argument}'"):
        await router.acompletion("kimi-k2", MESSAGES, USER, **{argument: "x"})
    assert not wire.calls


async def test_acompletion__unknown_provider_in_request_privacy_is_an_error(
    router: PolicyRouter,
) -> None:
    with pytest.raises(UnknownProvider):
        await router.acompletion("kimi-k2", MESSAGES, USER, privacy={"deny_providers": ["acme"]})
    with pytest.raises(InvalidPreferences):
        await router.acompletion("kimi-k2", MESSAGES, USER, privacy={"max_retention": "soon"})


async def test_acompletion__stream_fails_over_before_the_first_chunk(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(502, json={"error": {"message": "bad gateway"}})
    wire.post(KIMI["nebius"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse("Hel", "lo")
    )
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello"
    outcomes = [(a["provider"], a["outcome"]) for a in audit.events("route.attempt")]
    assert outcomes == [("groq", "server"), ("nebius", "ok")]


async def test_acompletion__offline_answers_without_network_or_keys(
    tmp_path: Path, audit: Audit, wire: respx.MockRouter
) -> None:
    router = make_router(tmp_path, audit, offline=True)
    try:
        response = await router.acompletion("Claude 4.5 Sonnet", MESSAGES, USER)
    finally:
        await router.aclose()
    assert "[offline]" in response.choices[0].message.content
    assert response._hidden_params["policy_router"]["offline"] is True
    assert not wire.calls
    assert all(r["offline"] is True for r in audit.events("route.attempt"))


async def test_routes_without_credentials_are_rejected_with_that_reason(
    tmp_path: Path, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREWORKS_AI_API_KEY", SECRET)
    router = make_router(tmp_path, audit)
    try:
        decision = await router.explain("Kimi K2")
    finally:
        await router.aclose()
    assert [r.provider.slug for r in decision.allowed] == ["fireworks"]
    reasons = {r.route.provider.slug: r.reasons for r in decision.rejected}
    assert reasons["groq"] == ("no credentials: set GROQ_API_KEY",)


async def test_audit__records_carry_ids_and_never_content_user_or_keys(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(500, json={"error": {"message": f"echo {CONTENT} {SECRET}"}})
    wire.post(KIMI["nebius"]).respond(200, json=completion(CONTENT))
    await router.preferences.set(USER, Preferences(max_retention="30d"), actor="test")
    await router.acompletion("kimi-k2", MESSAGES, USER, metadata={"user_id": USER})
    with pytest.raises(PolicyViolation):
        await router.acompletion(
            "claude 4.5 sonnet", MESSAGES, USER, privacy={"max_retention": "none"}
        )
    output = "\n".join(audit.lines)
    for sentinel in (USER, SECRET, CONTENT):
        assert sentinel not in output
    decision = audit.events("route.decision")[0]
    attempts = audit.events("route.attempt")
    assert {a["request_id"] for a in attempts} == {decision["request_id"]}
    assert decision["catalog_version"].startswith("2025-11@")
    assert decision["user"].startswith("user-")
    assert decision["order"][0] == "kimi-k2/groq"
    assert audit.events("preferences.changed")[0]["user"] == decision["user"]


async def test_available_models__lists_only_models_with_an_allowed_route(
    router: PolicyRouter,
) -> None:
    models = await router.available_models(privacy={"max_retention": "none"})
    names = {m.name for m in models}
    assert "Kimi K2" in names
    assert "Claude 4.5 Sonnet" not in names
    kimi = next(m for m in models if m.slug == "kimi-k2")
    assert [r.provider.slug for r in kimi.routes] == list(KIMI)


async def test_store_unreachable__requests_for_users_fail_closed(
    tmp_path: Path, audit: Audit, keys: None, wire: respx.MockRouter
) -> None:
    router = make_router(
        tmp_path, audit, store_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    )
    try:
        with pytest.raises(StoreUnavailable):
            await router.acompletion("kimi-k2", MESSAGES, USER)
    finally:
        await router.aclose()
    assert not wire.calls
    assert audit.events("route.refused")[0]["reason"] == "StoreUnavailable"


async def test_acompletion__store_true_is_refused(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    with pytest.raises(InvalidRequest, match="a stored completion outlives the retention"):
        await router.acompletion("kimi-k2", MESSAGES, USER, store=True)
    assert not wire.calls


async def test_acompletion__an_abandoned_stream_is_audited_as_cancelled(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse("a", "b", "c")
    )
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    async for _ in stream:
        break
    await stream.aclose()
    attempt = audit.events("route.attempt")[-1]
    assert (attempt["outcome"], attempt["chunks"]) == ("cancelled", 1)


async def test_preferences_changed__carries_request_id_and_catalog_version(
    router: PolicyRouter, audit: Audit
) -> None:
    await router.preferences.set(USER, {"max_retention": "none"}, actor="ops", request_id="req-7")
    record = audit.events("preferences.changed")[0]
    assert record["request_id"] == "req-7"
    assert record["catalog_version"] == router.catalog.label
    assert record["actor"] == "ops"


PSEUDO_CATALOG = """
version: test-1
effective: 2026-01-01
providers:
  openai: {name: OpenAI}
  fireworks: {name: Fireworks.ai}
  xai: {name: xAI}
models:
  m: {name: Model M}
routes:
  - models: [m]
    providers: [openai, fireworks, xai]
    policy: {trains_on_api_data: false, retention: none, user_identifier: pseudonymous}
    overrides:
      xai: {user_identifier: allowed}
"""
PSEUDO_DEPLOYMENT = """
reaches: {openai: [openai], fireworks: [fireworks_ai], xai: [xai]}
routes:
  m: {openai: openai/gpt-4.1, fireworks: fireworks_ai/accounts/fireworks/models/x, xai: xai/grok-4}
"""


async def test_pseudonymous_routes__get_a_stable_per_provider_pseudonym_and_allowed_the_id(
    tmp_path: Path,
    audit: Audit,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
    wire: respx.MockRouter,
) -> None:
    monkeypatch.setenv("XAI_API_KEY", SECRET)
    (tmp_path / "catalog.yaml").write_text(PSEUDO_CATALOG)
    (tmp_path / "routes.yaml").write_text(PSEUDO_DEPLOYMENT)
    router = make_router(
        tmp_path, audit, catalog=tmp_path / "catalog.yaml", deployment=tmp_path / "routes.yaml"
    )
    openai = wire.post("https://api.openai.com/v1/chat/completions").respond(500)
    fireworks = wire.post(KIMI["fireworks"]).respond(503)
    xai = wire.post("https://api.x.ai/v1/chat/completions").respond(200, json=completion())
    try:
        await router.acompletion("Model M", MESSAGES, USER)
        await router.acompletion("Model M", MESSAGES, USER)
    finally:
        await router.aclose()
    sent = [
        [json.loads(call.request.content).get("user") for call in route.calls]
        for route in (openai, fireworks, xai)
    ]
    (to_openai, again_openai), (to_fireworks, _), (to_xai, _) = sent
    assert to_openai == again_openai  # stable per user and provider
    assert to_openai.startswith("u-")
    assert to_fireworks.startswith("u-")
    assert to_openai != to_fireworks  # providers cannot join their logs
    assert USER not in (to_openai + to_fireworks)
    assert to_xai == USER  # the route's policy allows the identifier
    attempts = audit.events("route.attempt")
    assert attempts[0]["scrubbed_replaced"] == ["user"]
    assert attempts[2]["identifier_rule"] == "allowed"


# --- the accepted surface: what the drop-in refuses, and the identifier invariant ----------

GPT41_OPENAI = "https://api.openai.com/v1/chat/completions"
NUMERIC_USER = "424242"


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        pytest.param("azure", True, id="azure=True would send the call to Azure"),
        pytest.param(
            "context_window_fallback_dict", {"kimi-k2": "xai/grok-4"},
            id="a fallback litellm would send unaudited",
        ),
        pytest.param("user_id", USER, id="an unknown keyword litellm puts in the body"),
        pytest.param("end_user", USER, id="end_user"),
        pytest.param("customer", USER, id="customer"),
        pytest.param("session_id", USER, id="session_id"),
        pytest.param("labels", {"who": USER}, id="labels"),
        pytest.param("headers", {"X-User": USER}, id="headers replace extra_headers"),
        pytest.param("provider_specific_header", {"extra_headers": {"X-User": USER}}, id="provider_specific_header"),
        pytest.param("extra_headers", {"Authorization": "Bearer sk-other"}, id="a credential in a header"),
        pytest.param("extra_headers", {"OpenAI-Organization": "org-other"}, id="an account in a header"),
        pytest.param("extra_body", {"tags": [USER]}, id="the id in a list in extra_body"),
        pytest.param("extra_body", {"store": True}, id="storage switched on in extra_body"),
        pytest.param("mock_tool_calls", [{"id": "x"}], id="a local answer audited as the provider's"),
        pytest.param("mock_timeout", True, id="a faked timeout"),
        pytest.param("ssl_verify", False, id="certificate checks switched off"),
    ],
)  # fmt: skip
async def test_acompletion__refuses_what_the_surface_does_not_accept(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, argument: str, value: Any
) -> None:
    with pytest.raises(InvalidRequest, match=f"'{argument}'") as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, **{argument: value})

    assert caught.value.param == argument
    assert not wire.calls
    refused = audit.events("route.refused")
    assert [r["reason"] for r in refused] == ["InvalidRequest"]
    assert not audit.events("route.decision")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"store": 0}, "store: expected false", id="store=0"),
        pytest.param({"store": True}, "store: expected false", id="store=True"),
        pytest.param({"temperature": float("nan")}, "temperature: expected a finite number, got a non-finite number", id="NaN"),
        pytest.param({"top_p": float("inf")}, "top_p: expected a finite number, got a non-finite number", id="Infinity"),
        pytest.param(
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"maximum": float("nan")}}}]},
            "tools[0].function.parameters.maximum: expected a finite number",
            id="NaN deep in a tool schema",
        ),
        pytest.param({"stream_options": {"user": USER}}, "stream_options.user: expected no such field", id="stream_options.user"),
        pytest.param({"thinking": {"type": "enabled", "user": USER}}, "thinking.user: expected no such field", id="thinking.user"),
        pytest.param({"service_tier": USER}, "service_tier: expected one of", id="service_tier"),
        pytest.param({"logit_bias": {USER: 1}}, "logit_bias key: expected a token id", id="a logit_bias key"),
        pytest.param({"metadata": ["x"]}, "metadata: expected an object", id="metadata as a list"),
    ],
)  # fmt: skip
async def test_acompletion__refuses_values_outside_their_shape(
    router: PolicyRouter, wire: respx.MockRouter, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        await router.acompletion("kimi-k2", MESSAGES, USER, **arguments)
    assert not wire.calls


async def test_acompletion__nan_in_privacy_is_refused_and_audited(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    with pytest.raises(
        InvalidPreferences, match=r"\(got a non-finite number: a duration must be finite"
    ):
        await router.acompletion("kimi-k2", MESSAGES, USER, privacy={"max_retention": math.nan})
    assert [r["reason"] for r in audit.events("route.refused")] == ["InvalidPreferences"]
    assert not wire.calls


@pytest.mark.parametrize(
    ("user", "arguments", "where"),
    [
        pytest.param(
            USER,
            {"response_format": {"type": "json_schema", "json_schema": {"name": USER, "schema": {}}}},
            "response_format.json_schema.name",
            id="a response_format schema name",
        ),
        pytest.param(
            USER,
            {"web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": USER}}}},
            "web_search_options.user_location.approximate.city",
            id="web_search_options",
        ),
        pytest.param(USER, {"stop": ["x", USER]}, "stop[1]", id="a stop sequence in a list"),
        pytest.param(
            NUMERIC_USER, {"logit_bias": {NUMERIC_USER: 1}}, "logit_bias",
            id="a logit_bias key equal to a numeric id",
        ),
        pytest.param(NUMERIC_USER, {"seed": 424242}, "seed", id="the numeric form of the id"),
        pytest.param(
            USER, {"metadata": {"note": f"for {USER} please", "deep": {"id": USER}}}, None,
            id="metadata is consumed, never sent",
        ),
    ],
)  # fmt: skip
async def test_acompletion__id_outside_identifier_fields_blocks_the_attempt(
    router: PolicyRouter,
    wire: respx.MockRouter,
    audit: Audit,
    user: str,
    arguments: dict[str, Any],
    where: str | None,
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    if where is None:
        await router.acompletion("kimi-k2", MESSAGES, user, **arguments)
        assert user not in groq.calls.last.request.content.decode()
        return
    with pytest.raises(IdentifierInRequest) as caught:
        await router.acompletion("kimi-k2", MESSAGES, user, **arguments)

    assert caught.value.where.startswith(where)
    assert caught.value.param == where.split(".")[0].split("[")[0]
    assert not wire.calls
    attempt = audit.events("route.attempt")[0]
    assert (attempt["outcome"], attempt["sends"], attempt["route"]) == (
        "blocked",
        0,
        "kimi-k2/groq",
    )
    assert attempt["blocked_at"] == caught.value.where
    assert len(audit.events("route.attempt")) == 1  # not failed over


async def test_acompletion__the_wire_guard_blocks_what_the_argument_check_missed(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line: the request as litellm built it is checked before it is sent."""
    monkeypatch.setattr("router._pipeline.same_format.find_in_arguments", lambda *_: None)
    wire.post(GPT41_OPENAI).respond(200, json=completion())
    schema = {"type": "json_schema", "json_schema": {"name": USER, "schema": {}}}

    with pytest.raises(IdentifierInRequest, match=r"the user id is in \$\.response_format"):
        await router.acompletion("GPT 4.1", MESSAGES, USER, response_format=schema)

    assert not wire.calls
    attempt = audit.events("route.attempt")[0]
    assert (attempt["outcome"], attempt["sends"]) == ("blocked", 1)  # the one send, stopped


async def test_acompletion__the_id_in_message_content_is_out_of_scope(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    messages = [{"role": "user", "content": f"I am {USER}, hello"}]

    await router.acompletion("kimi-k2", messages, USER)

    assert json.loads(groq.calls.last.request.content)["messages"] == messages


async def test_acompletion__openai_is_told_not_to_store(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    openai = wire.post(GPT41_OPENAI).respond(200, json=completion())

    await router.acompletion("GPT 4.1", MESSAGES, USER)

    assert json.loads(openai.calls.last.request.content)["store"] is False


async def test_acompletion__the_responses_bridge_is_told_not_to_store(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    """o3 pro goes to OpenAI's Responses API through litellm, which stores unless told not to."""
    responses = wire.post("https://api.openai.com/v1/responses").respond(
        200, json=responses_reply()
    )

    await router.acompletion("o3 pro", MESSAGES, USER)

    assert json.loads(responses.calls.last.request.content)["store"] is False


async def test_acompletion__a_stream_never_read_is_still_audited(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse("a", "b")
    )
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    assert stream._hidden_params["policy_router"]["route"] == "kimi-k2/groq"
    del stream
    gc.collect()

    attempt = audit.events("route.attempt")[-1]
    assert (attempt["outcome"], attempt["chunks"], attempt["sends"]) == ("abandoned", 0, 1)


def test_from_settings__a_model_string_must_reach_its_routes_provider(
    tmp_path: Path, audit: Audit
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_router(tmp_path, audit, route_models={"kimi-k2/groq": "xai/grok-4"})

    assert str(caught.value) == (
        "route kimi-k2/groq: model string 'xai/grok-4' would send 'groq''s traffic to "
        "litellm's 'xai'; a groq route needs a model string starting with groq/"
    )


async def test_from_settings__audit_keyword_is_the_audit_setting(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    async with PolicyRouter.from_settings(
        audit=str(path), data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789abcdef"
    ) as router:
        await router.preferences.set("alice", Preferences(max_retention="none"))
    assert router.settings.audit == str(path)
    assert json.loads(path.read_text().splitlines()[0])["event"] == "preferences.changed"


@pytest.mark.parametrize("internal", ["raw", "proxy"])
async def test_acompletion__the_routers_internal_switches_are_not_arguments(
    router: PolicyRouter, wire: respx.MockRouter, internal: str
) -> None:
    """``raw`` and ``proxy`` select the HTTP proxy's behaviour; through the drop-in they are
    unknown arguments like any other, refused by name."""
    with pytest.raises(InvalidRequest, match=f"unsupported argument '{internal}'"):
        await router.acompletion("kimi-k2", MESSAGES, USER, **{internal: True})
    assert not wire.calls


async def test_acompletion__a_decision_made_before_follows_each_preference_change(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion())
    for _ in range(2):
        await router.acompletion("Kimi K2", MESSAGES, USER)
    await router.preferences.set(USER, {"deny_providers": ["groq"]})
    await router.acompletion("Kimi K2", MESSAGES, USER)
    await router.preferences.set(USER, {"deny_providers": ["groq", "nebius", "deepinfra",
                                                           "fireworks", "together"]})  # fmt: skip
    with pytest.raises(PolicyViolation):
        await router.acompletion("Kimi K2", MESSAGES, USER)
    await router.preferences.delete(USER)
    await router.acompletion("Kimi K2", MESSAGES, USER)
    decisions = audit.events("route.decision")
    first, again, denied, refused, after = (
        {k: v for k, v in d.items() if k not in {"ts", "request_id", "seq", "chain", "prev"}}
        for d in decisions
    )
    assert first == again == after
    assert denied["order"][0] == "kimi-k2/nebius"
    assert refused["order"] == []
    assert (groq.call_count, nebius.call_count) == (3, 1)


async def test_audit__a_log_put_in_place_later_gets_every_record_of_later_calls(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    """``router.audit`` is read per record: the attempt goes where the decision went."""
    wire.post(KIMI["groq"]).respond(200, json=completion())
    later = Audit()
    router.audit = AuditLog(later.lines.append)
    await router.acompletion("Kimi K2", MESSAGES, USER)
    assert [r["event"] for r in later.records] == ["route.decision", "route.attempt"]
    assert audit.records == []
