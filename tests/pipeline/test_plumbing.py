"""What frameworks pass to litellm, through the router: None is absent, litellm's bookkeeping
is consumed and never sent, a pydantic response_format becomes its JSON schema, and what
would pick a backend or carry unchecked headers stays refused when it has a value.

The calls are shaped as each framework's litellm call site makes them (dspy 3.4.1,
openai-agents' LitellmModel, langchain-litellm 0.11, smolagents 1.26); the wire is respx's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
import respx

from router import InvalidRequest, PolicyRouter, PolicyViolation, UnknownModel, UnknownProvider
from tests import test_router
from tests.test_router import KIMI, MESSAGES, USER, Audit, completion, make_router

audit, keys, router, wire = (
    test_router.audit,
    test_router.keys,
    test_router.router,
    test_router.wire,
)

SENTINEL_UA = "Sentinel-Agent/9.9 ua-77f1"


FRAMEWORKS = [
    pytest.param(
        {
            "cache": {"no-cache": True, "no-store": True},
            "num_retries": 3,
            "retry_strategy": "exponential_backoff_retry",
            "headers": {"User-Agent": SENTINEL_UA},
        },
        id="dspy",
    ),
    pytest.param(
        {
            "extra_headers": {"User-Agent": SENTINEL_UA},
            "api_key": None,
            "base_url": None,
            "_skip_mcp_handler": True,
            "tools": None,
            "reasoning_effort": None,
            "top_logprobs": None,
        },
        id="openai-agents",
    ),
    pytest.param(
        {"custom_llm_provider": None, "num_ctx": None, "base_model": None, "api_base": None},
        id="langchain-litellm",
    ),
    pytest.param({"api_base": None, "api_key": None}, id="smolagents"),
    pytest.param(
        {
            "metadata": {"trace": {"id": "t-1", "tags": ["a", 1]}, "user_id": USER},
            "caching": False,
            "drop_params": True,
        },
        id="litellm callback metadata and flags",
    ),
]


@pytest.mark.parametrize("plumbing", FRAMEWORKS)
async def test_acompletion__framework_plumbing_is_consumed_never_sent(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, plumbing: dict[str, Any]
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())

    response = await router.acompletion("kimi-k2", MESSAGES, USER, **plumbing)

    assert response.choices[0].message.content == "hello from upstream"
    request = groq.calls.last.request
    body = json.loads(request.content)
    consumed = {"cache", "caching", "retry_strategy", "headers", "extra_headers", "metadata",
                "_skip_mcp_handler", "num_ctx", "base_model", "drop_params", "num_retries"}  # fmt: skip
    assert consumed.isdisjoint(body)
    assert SENTINEL_UA not in request.headers.get("user-agent", "")
    assert USER not in request.content.decode()
    assert [a["outcome"] for a in audit.events("route.attempt")] == ["ok"]


@pytest.mark.parametrize(
    ("argument", "value", "says"),
    [
        pytest.param("api_key", "sk-x", "set provider endpoints with POLICY_ROUTER_PROVIDERS", id="api_key"),
        pytest.param("base_url", "https://elsewhere.example", "the router chooses the backend", id="base_url"),
        pytest.param("custom_llm_provider", "openai", "name it in the model string", id="custom_llm_provider"),
        pytest.param("headers", {"Authorization": "Bearer x"}, "'headers' may carry only these headers", id="an authorization header"),
        pytest.param("extra_headers", {"X-User": USER}, "any other header would reach the provider unchecked", id="an unchecked header"),
    ],
)  # fmt: skip
async def test_acompletion__backend_and_header_arguments_with_a_value_stay_refused(
    router: PolicyRouter, wire: respx.MockRouter, argument: str, value: Any, says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, **{argument: value})

    assert says in str(caught.value)
    assert caught.value.param == argument
    assert USER not in str(caught.value)
    assert not wire.calls


class Weather(pydantic.BaseModel):
    city: str
    degrees: float | None = None


async def test_acompletion__a_pydantic_response_format_is_sent_as_its_strict_schema(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion('{"city": "Oslo"}'))

    await router.acompletion("kimi-k2", MESSAGES, USER, response_format=Weather)

    sent = json.loads(groq.calls.last.request.content)["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["city", "degrees"]
    assert set(schema["properties"]) == {"city", "degrees"}


# --- litellm model strings --------------------------------------------------------------

GPT41_OPENAI = "https://api.openai.com/v1/chat/completions"


async def test_acompletion__a_litellm_model_string_is_the_catalog_model_at_that_provider(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    openai = wire.post(GPT41_OPENAI).respond(200, json=completion())

    await router.acompletion("openai/gpt-4.1", MESSAGES, USER)

    assert openai.call_count == 1
    (decision,) = audit.events("route.decision")
    assert decision["model"] == "gpt-4-1"
    assert [a["route"] for a in audit.events("route.attempt")] == ["gpt-4-1/openai"]


async def test_acompletion__a_model_string_is_a_tightening_the_policy_still_decides(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    await router.preferences.set(USER, {"deny_providers": ["openai"]})

    with pytest.raises(PolicyViolation) as caught:
        await router.acompletion("openai/gpt-4.1", MESSAGES, USER)

    reasons = {r.route.key: r.reasons for r in caught.value.decision.rejected}
    assert "provider OpenAI is listed in deny_providers" in reasons["gpt-4-1/openai"]
    assert not wire.calls


async def test_acompletion__an_azure_deployment_string_names_its_route(
    tmp_path: Path, audit: Audit, wire: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", "fake-azure-key-00000000")
    monkeypatch.setenv("AZURE_API_BASE", "https://fake-azure.openai.azure.com")
    router = make_router(tmp_path, audit, route_models={"gpt-4-1/azure": "azure/our-gpt41"})
    azure = wire.post(
        url__regex=r"https://fake-azure\.openai\.azure\.com/openai/deployments/our-gpt41/.*"
    )
    azure.respond(200, json=completion())
    try:
        await router.acompletion("azure/our-gpt41", MESSAGES, USER)
    finally:
        await router.aclose()

    assert azure.call_count == 1
    assert [a["route"] for a in audit.events("route.attempt")] == ["gpt-4-1/azure"]


async def test_acompletion__an_unknown_model_suggests_the_closest_names(
    router: PolicyRouter, audit: Audit
) -> None:
    with pytest.raises(UnknownModel) as caught:
        await router.acompletion("gpt4.1", MESSAGES, USER)

    assert str(caught.value).endswith("closest catalog names: GPT 4.1")
    assert "gpt4.1" not in str(caught.value)


async def test_acompletion__an_unknown_provider_in_privacy_suggests_the_closest(
    router: PolicyRouter,
) -> None:
    with pytest.raises(UnknownProvider) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, privacy={"allow_providers": ["gorq"]})

    assert str(caught.value).startswith(
        "unknown provider in 'allow_providers' (a name of 4 characters): name a provider by "
        "display name or slug; did you mean 'groq'?"
    )
    assert "gorq" not in str(caught.value)


async def test_acompletion__metadata_never_reaches_a_litellm_route_either(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    from tests._support.wire import WIRES, reply

    anthropic = wire.post("https://api.anthropic.com/v1/messages")
    anthropic.respond(200, json=reply(WIRES["anthropic"], "hi"))

    await router.acompletion(
        "anthropic/claude-4-5-sonnet",
        MESSAGES,
        USER,
        metadata={"user_id": "meta-sentinel-5e1f", "trace": {"id": "t-9"}},
    )

    sent = anthropic.calls.last.request.content.decode()
    assert "meta-sentinel-5e1f" not in sent
    assert "t-9" not in sent
    assert USER not in sent


async def test_a_model_string_decision__recomputes_in_audit_verify(tmp_path: Path) -> None:
    """The restriction a model string makes is recorded with the request's privacy, so the
    verifier recomputes the same verdicts from the audit alone."""
    from router._audit.verify import verify
    from router._config.settings import Settings
    from tests._support.repo import REPO

    key = "audit-key-for-model-strings-7c3a"
    settings = Settings(
        offline=True,
        data_dir=tmp_path / "data",
        store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
        audit_key=key,
        audit=str(tmp_path / "audit.jsonl"),
        audit_checkpoint=str(tmp_path / "checkpoints.jsonl"),
    )
    async with PolicyRouter.from_settings(settings) as routed:
        await routed.acompletion("azure/gpt-4.1", MESSAGES, USER)
        await routed.acompletion(
            "groq/kimi-k2", MESSAGES, USER, privacy={"deny_providers": ["nebius"]}
        )
        with pytest.raises(PolicyViolation):
            await routed.acompletion(
                "openai/gpt-4.1", MESSAGES, USER, privacy={"deny_providers": ["openai"]}
            )

    report = verify(
        [tmp_path / "audit.jsonl"],
        key=key.encode(),
        policies=REPO / "policies",
        checkpoints=[tmp_path / "checkpoints.jsonl"],
    )
    assert report.ok, report.to_dict()
    assert (report.decisions, report.attempts, report.refusals) == (3, 2, 1)
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    decisions = [r for r in records if r["event"] == "route.decision"]
    assert decisions[0]["request_privacy"] == {"allow_providers": ["azure"]}
