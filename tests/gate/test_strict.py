"""Strict mode: HTTP requests to provider endpoints are refused unless they are the router's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import openai
import pytest
import respx

import router
from router import PolicyRouter, RouterError
from router._upstream.strict import Endpoints
from tests import test_router
from tests.test_router import KIMI, MESSAGES, USER, Audit, completion, make_router

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


@pytest.fixture
def strict(tmp_path: Path, audit: Audit, keys: None) -> Iterator[PolicyRouter]:
    policy_router = make_router(tmp_path, audit)
    router.install(policy_router, strict=True)
    try:
        yield policy_router
    finally:
        router.uninstall()
        policy_router.close()


def test_the_openai_sdks_own_client_is_refused_before_anything_is_sent(
    strict: PolicyRouter, wire: respx.MockRouter
) -> None:
    sent = wire.post("https://api.openai.com/v1/chat/completions").respond(200, json=completion())
    client = openai.OpenAI(api_key="sk-fake", max_retries=0)
    with pytest.raises(Exception) as refused:  # noqa: PT011  # the SDK wraps it
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES, user=USER)
    error = refused.value if isinstance(refused.value, RouterError) else refused.value.__cause__
    assert isinstance(error, RouterError)
    assert str(error).startswith(
        "an HTTP request to api.openai.com (a provider endpoint) was refused before it was sent"
    )
    assert not sent.called


async def test_async_httpx_and_the_async_sdk_are_refused_too(
    strict: PolicyRouter, wire: respx.MockRouter
) -> None:
    sent = wire.route(host="api.groq.com").respond(200, json=completion())
    async with httpx.AsyncClient() as client:
        with pytest.raises(RouterError, match=r"api\.groq\.com"):
            await client.post(KIMI["groq"], json={})
    client_sdk = openai.AsyncOpenAI(api_key="k", base_url="https://api.groq.com/openai/v1")
    with pytest.raises(Exception) as refused:  # noqa: PT011  # the SDK wraps it
        await client_sdk.chat.completions.create(model="x", messages=MESSAGES)
    assert "api.groq.com (a provider endpoint)" in str(refused.value) + str(refused.value.__cause__)
    assert not sent.called


async def test_aiohttp_is_refused_before_it_connects(strict: PolicyRouter) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RouterError, match=r"bedrock-runtime\.eu-west-1\.amazonaws\.com"):
            await session.post("https://bedrock-runtime.eu-west-1.amazonaws.com/model/x/converse")


async def test_the_routers_own_calls_still_go_out(
    strict: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    response = await strict.acompletion("Kimi K2", MESSAGES, USER)
    assert response.choices[0].message.content == "hello from upstream"
    assert groq.call_count == 1
    assert USER not in json.dumps(json.loads(groq.calls.last.request.content))


def test_other_hosts_pass_and_uninstall_restores_the_sends(
    strict: PolicyRouter, wire: respx.MockRouter
) -> None:
    elsewhere = wire.get("https://example.org/").respond(200)
    assert httpx.get("https://example.org/").status_code == 200
    assert elsewhere.called
    router.uninstall()
    openai_api = wire.get("https://api.openai.com/v1/models").respond(200, json={"data": []})
    assert httpx.get("https://api.openai.com/v1/models").status_code == 200
    assert openai_api.called


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.openai.com/v1/chat/completions", "api.openai.com"),
        ("https://myres.openai.azure.com/openai/deployments/x", "myres.openai.azure.com"),
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com/m",
            "bedrock-runtime.us-east-1.amazonaws.com",
        ),
        (
            "https://europe-west4-aiplatform.googleapis.com/v1/x",
            "europe-west4-aiplatform.googleapis.com",
        ),
        ("http://127.0.0.1:9999/v1/chat/completions", "127.0.0.1"),
        ("http://127.0.0.1:9998/v1/chat/completions", None),
        ("https://api.openai.com.evil.example/v1", None),
        ("https://s3.us-east-1.amazonaws.com/b", None),
    ],
)
def test_endpoints__public_hosts_by_pattern_and_api_bases_with_their_port(
    url: str, provider: str | None
) -> None:
    endpoints = Endpoints.of(
        ["api.openai.com", "*.openai.azure.com", "bedrock-runtime.*.amazonaws.com",
         "*-aiplatform.googleapis.com"],
        ["http://127.0.0.1:9999/v1"],
    )  # fmt: skip
    assert endpoints.provider(url) == provider
