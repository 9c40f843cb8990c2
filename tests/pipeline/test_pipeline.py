"""When a request makes the pipeline load litellm (router/_pipeline/pipeline.py,
``_litellm_for``): only a request that needs it, once per router, outside the call's deadline.

A request needs litellm when a route of its model is served by litellm (its translation, its
parameter table) or when it wants litellm's response types (the library), or when its
translation to chat takes litellm's adapter (a Messages request other than a plain one in
JSON); the proxy's chat endpoint, which relays the lean path's bytes, on a model whose routes
all take the lean path, does not, nor a plain Messages request in JSON. Loading is counted here by wrapping ``setup.configured`` (the worker-thread import
and the transport's configuration); tests/server/test_startup.py checks a real process's
``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Final

import pytest

from router._core.messages import check_messages
from router._upstream import setup
from router._upstream.anthropic import SameFormat
from tests._support.proxy import auth, chat, proxy

LEAN_AND_LITELLM: Final = """
reaches: {openai: [openai], groq: [groq]}
routes:
  gpt-4-1: {openai: openai/gpt-4.1}
  kimi-k2: {groq: {model: groq/moonshotai/kimi-k2-instruct-0905, path: litellm}}
"""
HI: Final = [{"role": "user", "content": "Hi"}]
MESSAGE: Final = {"model": "GPT 4.1", "max_tokens": 16, "messages": HI}
TOOL: Final = {"name": "get_time", "input_schema": {"type": "object"}}


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The transports ``setup.configured`` was called with, in order."""
    calls: list[str] = []
    configured = setup.configured

    async def counted(transport: setup.Transport = "httpx") -> None:
        calls.append(transport)
        await configured(transport)

    monkeypatch.setattr(setup, "configured", counted)
    (tmp_path / "routes.yaml").write_text(LEAN_AND_LITELLM, encoding="utf-8")
    return calls


async def test_proxy_chat_on_a_lean_model__never_loads_litellm(
    tmp_path: Path, loads: list[str]
) -> None:
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for body in (chat(), chat(stream=True), chat(temperature=0.5, n=2)):
            response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
            assert response.status_code == 200, response.text
    assert loads == []


async def test_proxy_chat_on_a_model_with_a_litellm_route__loads_it_once(
    tmp_path: Path, loads: list[str]
) -> None:
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for _ in range(2):
            body = chat(model="Kimi K2")
            response = await served.http.post("/v1/chat/completions", json=body, headers=auth())
            assert response.status_code == 200, response.text
    assert loads == ["httpx"]  # the settings' transport (the tests' POLICY_ROUTER_TRANSPORT)


async def test_proxy_plain_messages_to_a_lean_chat_route__never_loads_litellm(
    tmp_path: Path, loads: list[str]
) -> None:
    """A text-only Messages request to GPT 4.1 is translated, and its answer rendered, by
    router/_upstream/messages_plain.py, its stream by messages_stream.py: litellm's adapter
    and stream wrapper are not needed."""
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for body in (MESSAGE, MESSAGE | {"system": "Be brief.", "stop_sequences": ["x"]}):
            response = await served.http.post("/v1/messages", json=body, headers=auth())
            assert response.status_code == 200, response.text
            assert response.json()["content"][0]["type"] == "text"
        response = await served.http.post(
            "/v1/messages", json=MESSAGE | {"stream": True}, headers=auth()
        )
        assert response.status_code == 200, response.text
        assert response.text.endswith('data: {"type":"message_stop"}\n\n')
    assert loads == []


async def test_proxy_messages_that_take_litellms_translation__load_it_once(
    tmp_path: Path, loads: list[str]
) -> None:
    body = MESSAGE | {"tools": [TOOL]}  # not plain: litellm's adapter
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for _ in range(2):
            response = await served.http.post("/v1/messages", json=body, headers=auth())
            assert response.status_code == 200, response.text
    assert loads == ["httpx"]


async def test_library_on_a_lean_model__loads_litellm_for_its_response_types(
    tmp_path: Path, loads: list[str]
) -> None:
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        response = await served.router.acompletion("GPT 4.1", HI)
        await served.router.acompletion("GPT 4.1", HI)
    assert type(response).__name__ == "ModelResponse"
    assert loads == ["httpx"]


async def test_loading_litellm__is_no_part_of_the_calls_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import slower than the call's whole ``timeout`` still lets the call through."""
    configured = setup.configured

    async def slow(transport: setup.Transport = "httpx") -> None:
        await asyncio.sleep(1.5)
        await configured(transport)

    monkeypatch.setattr(setup, "configured", slow)
    async with proxy(tmp_path) as served:
        response = await served.router.acompletion("GPT 4.1", HI, timeout=1.0)
    assert response.choices[0].message.content.startswith("[offline] policy-router chose")
    attempts = [json.loads(line) for line in served.audit_lines]
    assert [r["outcome"] for r in attempts if r["event"] == "route.attempt"] == ["ok"]


async def test_a_messages_request__learns_its_catalog_slug_for_the_translation(
    tmp_path: Path,
) -> None:
    """The adapter's per-model choices read the catalog's slug, whatever name was asked."""
    native = SameFormat(check_messages(MESSAGE))
    assert native.hint == "GPT 4.1"  # the name asked, until the pipeline resolves it
    async with proxy(tmp_path) as served:
        await served.router.pipeline.route(
            "GPT 4.1", (), None, None, False, None, {},
            proxy=True, raw=True, api="messages", native=native,
        )  # fmt: skip
    assert native.hint == "gpt-4-1"


async def test_proxy_responses_to_a_chat_route__loads_litellm_for_its_bridge_once(
    tmp_path: Path, loads: list[str]
) -> None:
    """litellm's bridge translates a Responses request beyond text to chat (here, one asking
    for a text format): the pipeline loads it (in the worker thread, outside the deadline)
    before the attempt needs it."""
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for _ in range(2):
            body = {"model": "GPT 4.1", "input": "Hi", "text": {"format": {"type": "text"}}}
            response = await served.http.post("/v1/responses", json=body, headers=auth())
            assert response.status_code == 200, response.text
    assert loads == ["httpx"]


async def test_proxy_responses_to_a_chat_route__a_plain_request_loads_no_litellm(
    tmp_path: Path, loads: list[str]
) -> None:
    """A plain request (text only) is translated and answered by router/_upstream/
    responses_plain.py: litellm is not loaded for it, JSON or stream."""
    async with proxy(tmp_path, deployment=tmp_path / "routes.yaml") as served:
        for stream in (False, True):
            body = {"model": "GPT 4.1", "input": "Hi", "stream": stream}
            response = await served.http.post("/v1/responses", json=body, headers=auth())
            assert response.status_code == 200, response.text
    assert loads == []
