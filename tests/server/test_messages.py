"""``POST /v1/messages`` in process: Anthropic's Messages API over the chat policy path.

Requests in Anthropic's shape go to the ASGI app over httpx; the providers' wire is mocked
with respx (fake credentials), so each assertion is on the request litellm or the lean path
really built. The anthropic SDK itself runs against a live server in test_messages_process.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import respx

from router._apis import messages as messages_api
from router._config.settings import Settings
from tests._support.proxy import API_KEY, Proxy, make_settings, records, serve
from tests._support.wire import (
    CANNED_TEXT,
    FAKE_CREDENTIALS,
    SSE_HEADERS,
    WIRES,
    mock_provider,
    places,
    reply,
    sse_body,
    use_fake_credentials,
    wire_text,
)

USER: Final = "sentinel-user-4b1d"
ANTHROPIC: Final = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
DOC: Final = "(see docs/proxy.md, 'Anthropic Messages API')"


def message(**fields: Any) -> dict[str, Any]:
    body = {
        "model": "GPT 4.1",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    return body | fields


def sse_events(text: str) -> list[dict[str, Any]]:
    """The ``data`` of each SSE event, checked against its ``event`` line."""
    out = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        out.append(event)
    return out


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    use_fake_credentials(monkeypatch)
    return make_settings(tmp_path, offline=False)


@pytest.fixture
async def live(online: Settings) -> AsyncIterator[Proxy]:
    async with serve(online) as proxy:
        yield proxy


@pytest.fixture
async def offline(tmp_path: Path) -> AsyncIterator[Proxy]:
    async with serve(make_settings(tmp_path)) as proxy:
        yield proxy


# --- answers ----------------------------------------------------------------------------------


async def test_messages__a_non_anthropic_model_is_served_through_translation(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai = mock_provider(wire, "openai")
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    body = message(system="Be brief.", tools=tools, stop_sequences=["END"], temperature=0.2)
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "message"
    assert answer["role"] == "assistant"
    assert answer["model"] == "GPT 4.1"  # the name the caller asked for
    assert answer["content"] == [{"type": "text", "text": "canned reply from the mock"}]
    assert answer["stop_reason"] == "end_turn"
    assert answer["usage"] == {"input_tokens": 3, "output_tokens": 4}
    assert response.headers["x-router-route"] == "gpt-4-1/openai"
    sent = json.loads(openai.calls[0].request.content)  # OpenAI's chat format on the wire
    assert sent["model"] == "gpt-4.1"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object"},
                "description": "Weather",
            },
        }
    ]
    assert sent["stop"] == ["END"]
    assert sent["max_tokens"] == 64


async def test_messages__a_plain_requests_answer_with_cached_tokens__rendered_by_the_adapter(
    live: Proxy, wire: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain request's JSON answer that router/_upstream/messages_plain.py does not render
    (cached prompt tokens) is rendered by litellm's adapter, imported in a worker thread first
    (the pipeline did not load litellm for a plain request)."""
    waited: list[bool] = []
    imported = messages_api.imported

    async def counted() -> object:
        waited.append(True)
        return await imported()

    monkeypatch.setattr(messages_api, "imported", counted)
    answer = reply(WIRES["openai"]) | {
        "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34,
                  "prompt_tokens_details": {"cached_tokens": 20}},
    }  # fmt: skip
    wire.post("https://api.openai.com/v1/chat/completions").respond(200, json=answer)
    response = await live.http.post("/v1/messages", json=message(), headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    rendered = response.json()
    assert rendered["content"] == [{"type": "text", "text": CANNED_TEXT}]
    assert rendered["usage"] == {
        "input_tokens": 10,
        "output_tokens": 4,
        "cache_read_input_tokens": 20,
    }
    assert waited == [True]


async def test_messages__a_tool_call_comes_back_as_a_tool_use_block(
    live: Proxy, wire: respx.MockRouter
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    wire.post("https://api.openai.com/v1/chat/completions").respond(200, json=reply)
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    response = await live.http.post("/v1/messages", json=message(tools=tools), headers=ANTHROPIC)
    answer = response.json()
    assert answer["stop_reason"] == "tool_use"
    assert answer["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]


async def test_messages__claude_on_anthropic_goes_out_as_it_came(
    live: Proxy, wire: respx.MockRouter
) -> None:
    """No translation: the caller's fields as they came, the route's model id, the end user
    scrubbed (omit: no metadata), Anthropic's own URL and headers, nothing of the caller's."""
    anthropic = mock_provider(wire, "anthropic")
    cached = {"type": "ephemeral"}
    system = [{"type": "text", "text": "Be brief.", "cache_control": cached}]
    tools = [{"name": "f", "input_schema": {"type": "object"}, "cache_control": cached}]
    body = message(model="Claude 4.5 Sonnet", system=system, tools=tools, top_k=3,
                   metadata={"user_id": USER}, stop_sequences=["END"])  # fmt: skip
    headers = ANTHROPIC | {"anthropic-beta": "prompt-caching-2024-07-31"}
    response = await live.http.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == reply(WIRES["anthropic"]) | {"model": "Claude 4.5 Sonnet"}
    request = anthropic.calls[0].request
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == FAKE_CREDENTIALS["ANTHROPIC_API_KEY"]
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in request.headers
    assert API_KEY not in wire_text(request)
    expected = {k: v for k, v in body.items() if k != "metadata"}
    assert json.loads(request.content) == expected | {"model": "claude-sonnet-4-5-20250929"}
    assert places(request, USER) == set()
    (attempt,) = [r for r in records(live.audit_lines) if r["event"] == "route.attempt"]
    assert (attempt["api"], attempt["sends"], attempt["outcome"]) == ("messages", 1, "ok")
    assert attempt["scrubbed_removed"] == ["metadata.user_id"]


async def test_messages__thinking_is_forwarded_as_chats_thinking(
    live: Proxy, wire: respx.MockRouter
) -> None:
    anthropic, openai = mock_provider(wire, "anthropic"), mock_provider(wire, "openai")
    thinking = {"type": "enabled", "budget_tokens": 1024}
    claude = message(model="Claude 4.5 Sonnet", max_tokens=2048, thinking=thinking)
    gpt = message(thinking=thinking)
    to_claude = await live.http.post("/v1/messages", json=claude, headers=ANTHROPIC)
    to_gpt = await live.http.post("/v1/messages", json=gpt, headers=ANTHROPIC)
    assert (to_claude.status_code, to_gpt.status_code) == (200, 200)
    assert json.loads(anthropic.calls[0].request.content)["thinking"] == thinking
    assert "x-router-dropped-params" not in to_claude.headers
    # as for chat: the lean path sends it as given (a provider that refuses it says so, 400)
    assert json.loads(openai.calls[0].request.content)["thinking"] == thinking


async def test_messages__streams_anthropics_events(live: Proxy, wire: respx.MockRouter) -> None:
    mock_provider(wire, "openai", stream=True)
    body = message(stream=True)
    async with live.http.stream("POST", "/v1/messages", json=body, headers=ANTHROPIC) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-router-provider"] == "openai"
        text = (await response.aread()).decode()
    events = sse_events(text)
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["message_start", "ping", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[3:-3]) == {"content_block_delta"}
    assert events[0]["message"]["model"] == "GPT 4.1"
    text_out = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text_out == "canned reply from the mock"
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


async def test_messages__a_stream_asks_for_usage_and_reports_it(
    live: Proxy, wire: respx.MockRouter
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    body = sse_body(WIRES["openai"], usage=usage)
    openai = wire.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=body)
    )
    async with live.http.stream(
        "POST", "/v1/messages", json=message(stream=True), headers=ANTHROPIC
    ) as response:
        events = sse_events((await response.aread()).decode())
    sent = json.loads(openai.calls[0].request.content)
    assert sent["stream_options"] == {"include_usage": True}  # OpenAI sends usage if asked
    (delta,) = [e for e in events if e["type"] == "message_delta"]
    assert delta["usage"] == {"input_tokens": 11, "output_tokens": 7}


async def test_messages__a_stream_failing_before_its_first_chunk_fails_over(
    live: Proxy, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "openai", status=503)
    azure = mock_provider(wire, "azure", stream=True)
    body = message(stream=True)
    async with live.http.stream("POST", "/v1/messages", json=body, headers=ANTHROPIC) as response:
        text = (await response.aread()).decode()
    assert response.headers["x-router-provider"] == "azure"
    assert sse_events(text)[-1] == {"type": "message_stop"}
    assert azure.call_count == 1


# --- the policy path: decision, scrubbing, failover, audit ----------------------------------


async def test_messages__a_denied_provider_is_never_contacted(
    live: Proxy, wire: respx.MockRouter
) -> None:
    anthropic = mock_provider(wire, "anthropic")
    bedrock = mock_provider(wire, "bedrock")
    body = message(model="Claude 4.5 Sonnet", privacy={"deny_providers": ["anthropic"]})
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    assert response.headers["x-router-provider"] == "bedrock"
    assert not anthropic.calls
    assert bedrock.call_count == 1


async def test_messages__no_allowed_route__403_permission_error_with_the_reasons(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai, azure = mock_provider(wire, "openai"), mock_provider(wire, "azure")
    body = message(privacy={"deny_providers": ["openai", "azure"]})
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 403
    answer = response.json()
    assert answer["type"] == "error"
    error = answer["error"]
    assert error["type"] == "permission_error"
    assert error["code"] == "policy_violation"
    assert error["message"].startswith("no route of 'GPT 4.1' is allowed by the privacy policy")
    assert [r["provider"] for r in error["rejected"]] == ["openai", "azure"]
    assert "Claude 4.5 Sonnet" in error["alternatives"]
    assert not openai.calls
    assert not azure.calls


async def test_messages__fails_over_among_allowed_routes_only(
    live: Proxy, wire: respx.MockRouter
) -> None:
    anthropic = mock_provider(wire, "anthropic", status=529, error="overloaded")
    bedrock = mock_provider(wire, "bedrock")
    body = message(model="Claude 4.5 Sonnet", metadata={"user_id": USER})
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    assert response.headers["x-router-route"] == "claude-4-5-sonnet/bedrock"
    assert (anthropic.call_count, bedrock.call_count) == (1, 1)
    request_id = response.headers["x-request-id"]
    mine = [r for r in records(live.audit_lines) if r["request_id"] == request_id]
    assert [(r["event"], r.get("provider"), r.get("outcome")) for r in mine] == [
        ("route.decision", None, None),
        ("route.attempt", "anthropic", "server"),
        ("route.attempt", "bedrock", "ok"),
    ]
    assert {r["api"] for r in mine} == {"messages"}
    assert all(USER not in json.dumps(r) for r in mine)  # the audit has the pseudonym only
    for route in (anthropic, bedrock):
        assert USER not in wire_text(route.calls[0].request)


async def test_messages__every_backend_down__503_overloaded_error_with_the_attempts(
    live: Proxy, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "openai", status=500, error="upstream exploded")
    mock_provider(wire, "azure", status=503, error="upstream exploded")
    response = await live.http.post("/v1/messages", json=message(), headers=ANTHROPIC)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "overloaded_error"
    assert error["code"] == "backends_unavailable"
    assert [a["provider"] for a in error["attempts"]] == ["openai", "azure"]
    assert "upstream exploded" not in response.text


async def test_messages__metadata_user_id_never_reaches_an_omit_route(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai = mock_provider(wire, "openai")
    anthropic = mock_provider(wire, "anthropic")
    for model in ("GPT 4.1", "Claude 4.5 Sonnet"):
        body = message(model=model, metadata={"user_id": USER})
        response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
        assert response.status_code == 200, response.text
    for route in (openai, anthropic):
        request = route.calls[0].request
        assert places(request, USER) == set()
        assert "metadata" not in json.loads(request.content)
        assert "user" not in json.loads(request.content)


PSEUDO_CATALOG: Final = """
version: test-1
effective: 2026-01-01
providers:
  openai: {name: OpenAI}
  anthropic: {name: Anthropic}
models:
  m: {name: Model M}
routes:
  - models: [m]
    providers: [openai, anthropic]
    policy: {trains_on_api_data: false, retention: none, user_identifier: pseudonymous}
"""
PSEUDO_DEPLOYMENT: Final = """
reaches: {openai: [openai], anthropic: [anthropic]}
routes:
  m: {openai: openai/gpt-4.1, anthropic: anthropic/claude-sonnet-4-5-20250929}
"""


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        pytest.param("openai", "$.user", id="OpenAI: user"),
        pytest.param("anthropic", "$.metadata.user_id", id="Anthropic: metadata.user_id"),
    ],
)
async def test_messages__a_pseudonymous_route_gets_the_pseudonym_never_the_id(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wire: respx.MockRouter,
    provider: str,
    field: str,
) -> None:
    use_fake_credentials(monkeypatch)
    (tmp_path / "catalog.yaml").write_text(PSEUDO_CATALOG)
    (tmp_path / "routes.yaml").write_text(PSEUDO_DEPLOYMENT)
    settings = make_settings(
        tmp_path,
        offline=False,
        catalog=tmp_path / "catalog.yaml",
        deployment=tmp_path / "routes.yaml",
        org={"allow_providers": [provider]},
    )
    route = mock_provider(wire, provider)
    async with serve(settings) as proxy:
        body = message(model="Model M", metadata={"user_id": USER})
        response = await proxy.http.post("/v1/messages", json=body, headers=ANTHROPIC)
        pseudonym = proxy.router.pipeline._pseudonymizer.for_provider(USER, provider)
    assert response.status_code == 200, response.text
    request = route.calls[0].request
    assert places(request, USER) == set()
    assert places(request, pseudonym) == {field}
    attempt = next(r for r in records(proxy.audit_lines) if r["event"] == "route.attempt")
    # chat's user field, translated; Anthropic's own field, the request sent as it came
    assert attempt["scrubbed_replaced"] == [field.removeprefix("$.")]
    assert attempt["api"] == "messages"


async def test_messages__the_x_router_user_header_names_the_user_too(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai = mock_provider(wire, "openai")
    headers = ANTHROPIC | {"X-Router-User": USER}
    response = await live.http.post("/v1/messages", json=message(), headers=headers)
    assert response.status_code == 200
    decision = next(r for r in records(live.audit_lines) if r["event"] == "route.decision")
    assert decision["user"] == live.router.pipeline._pseudonymizer.for_audit(USER)
    assert places(openai.calls[0].request, USER) == set()


async def test_messages__the_header_user_wins_and_metadata_never_leaves(
    live: Proxy, wire: respx.MockRouter
) -> None:
    """Claude Code fills metadata.user_id itself; the integration's header names the user."""
    anthropic = mock_provider(wire, "anthropic")
    headers = ANTHROPIC | {"X-Router-User": "alice-4242"}
    body = message(model="Claude 4.5 Sonnet", metadata={"user_id": USER})
    response = await live.http.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    decision = next(r for r in records(live.audit_lines) if r["event"] == "route.decision")
    assert decision["user"] == live.router.pipeline._pseudonymizer.for_audit("alice-4242")
    request = anthropic.calls[0].request
    assert places(request, USER) == set()
    assert places(request, "alice-4242") == set()


async def test_messages__a_malformed_user__400_and_audited(offline: Proxy) -> None:
    body = message(metadata={"user_id": "bad\u0000user"})
    response = await offline.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "metadata.user_id")
    (refused,) = records(offline.audit_lines)
    assert (refused["event"], refused["api"], refused["model"]) == (
        "route.refused",
        "messages",
        "gpt-4-1",
    )


async def test_messages__user_preferences_apply(offline: Proxy) -> None:
    put = await offline.http.put(
        f"/v1/users/{USER}/preferences",
        json={"deny_providers": ["openai", "azure"]},
        headers={"Authorization": "Bearer test-admin-key-1"},
    )
    assert put.status_code == 200
    body = message(metadata={"user_id": USER})
    response = await offline.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


# --- the accepted surface ---------------------------------------------------------------------

SERVER_TOOL: Final = (
    "server tool {kind!r} is not accepted: it runs at the provider, outside the catalog's "
    "policy (what it fetches, executes or keeps is not declared); send custom tools only "
    "(name, description, input_schema) " + DOC
)
UNSUPPORTED: Final = (
    "unsupported field {name!r}: the router accepts the Messages fields model, messages, "
    "max_tokens, system, metadata, stream, temperature, top_p, top_k, stop_sequences, tools, "
    "tool_choice, thinking, privacy only; remove it " + DOC
)


@pytest.mark.parametrize(
    ("fields", "param", "text"),
    [
        pytest.param({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]}, "tools", "tools[0].type: " + SERVER_TOOL.format(kind="web_search_20250305"), id="web search"),
        pytest.param({"tools": [{"type": "code_execution_20250522", "name": "code_execution"}]}, "tools", "tools[0].type: " + SERVER_TOOL.format(kind="code_execution_20250522"), id="code execution"),
        pytest.param({"tools": [{"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768}]}, "tools", "tools[0].type: " + SERVER_TOOL.format(kind="computer_20250124"), id="computer use"),
        pytest.param({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools", "tools[0].type: " + SERVER_TOOL.format(kind="bash_20250124"), id="bash"),
        pytest.param({"mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}, "mcp_servers", f"'mcp_servers' is not accepted: MCP servers are called by the provider, outside the catalog's policy; remove it {DOC}", id="mcp_servers"),
        pytest.param({"container": "container_1"}, "container", f"'container' is not accepted: a code-execution container keeps files at the provider, beyond the route's retention; remove it {DOC}", id="container"),
        pytest.param({"service_tier": "auto"}, "service_tier", f"'service_tier' is not accepted: the router chooses the backend from the policy; remove it {DOC}", id="service_tier"),
        pytest.param({"user": USER}, "user", UNSUPPORTED.format(name="user"), id="chat's user is not a Messages field"),
        pytest.param({"extra_body": {"x": 1}}, "extra_body", UNSUPPORTED.format(name="extra_body"), id="extra_body"),
        pytest.param({"metadata": {"user_id": USER, "session": "s"}}, "metadata", f"metadata.session: expected no such field (this object takes user_id), got a string of 1 character {DOC}", id="metadata beyond user_id"),
        pytest.param({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "messages", f"messages[0].content[0].type: expected one of 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', got a string of 8 characters {DOC}", id="an undeclared content block"),
        pytest.param({"messages": [{"role": "system", "content": "x"}]}, "messages", f"messages[0].role: expected one of 'user', 'assistant', got a string of 6 characters {DOC}", id="a system role message"),
        pytest.param({"max_tokens": None}, "max_tokens", f"'max_tokens' is required {DOC}", id="max_tokens missing"),
        pytest.param({"thinking": {"type": "enabled"}}, "thinking", f"thinking.budget_tokens: expected a value (required), got null {DOC}", id="thinking without a budget"),
    ],
)  # fmt: skip
async def test_messages__outside_the_surface__400_naming_it_and_nothing_sent(
    live: Proxy, wire: respx.MockRouter, fields: dict[str, Any], param: str, text: str
) -> None:
    openai = mock_provider(wire, "openai")
    response = await live.http.post("/v1/messages", json=message(**fields), headers=ANTHROPIC)
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": text,
            "param": param,
            "code": "invalid_value",
        },
    }
    assert not openai.calls
    refused = records(live.audit_lines)[-1]
    assert (refused["event"], refused["api"], refused["detail"]) == (
        "route.refused",
        "messages",
        text,
    )


async def test_messages__tool_loop_blocks_are_accepted_and_translated(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai = mock_provider(wire, "openai")
    turns = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]  # fmt: skip
    body = message(
        messages=turns,
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    sent = json.loads(openai.calls[0].request.content)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool"]
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False


async def test_messages__anthropic_headers_are_accepted_and_never_forwarded(
    live: Proxy, wire: respx.MockRouter
) -> None:
    openai = mock_provider(wire, "openai")
    headers = ANTHROPIC | {"anthropic-beta": "prompt-caching-2024-07-31"}
    response = await live.http.post("/v1/messages", json=message(), headers=headers)
    assert response.status_code == 200
    sent = wire_text(openai.calls[0].request).lower()
    assert "anthropic-" not in sent
    assert API_KEY not in sent


# --- keys and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-api-key": API_KEY}, id="x-api-key"),
        pytest.param({"Authorization": f"Bearer {API_KEY}"}, id="Bearer"),
        pytest.param({"x-api-key": API_KEY, "Authorization": f"Bearer {API_KEY}"}, id="both, the same"),
    ],
)  # fmt: skip
async def test_messages__the_key_as_x_api_key_or_bearer(
    offline: Proxy, headers: dict[str, str]
) -> None:
    response = await offline.http.post("/v1/messages", json=message(), headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("headers", "text", "code"),
    [
        pytest.param({"x-api-key": "wrong-key-0000000000"}, "invalid API key", "invalid_api_key", id="a wrong x-api-key"),
        pytest.param({}, "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key", id="no key"),
        pytest.param({"x-api-key": API_KEY, "Authorization": "Bearer other-key-0000000000"}, "two different API keys (Authorization and x-api-key); send one", "conflicting_api_keys", id="two different keys"),
    ],
)  # fmt: skip
async def test_messages__a_wrong_or_missing_key__401_authentication_error(
    offline: Proxy, headers: dict[str, str], text: str, code: str
) -> None:
    response = await offline.http.post("/v1/messages", json=message(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": text, "code": code},
    }
    assert offline.audit_lines == []


async def test_chat__x_api_key_is_for_the_anthropic_paths_only(offline: Proxy) -> None:
    body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": "Hi"}]}
    response = await offline.http.post(
        "/v1/chat/completions", json=body, headers={"x-api-key": API_KEY}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"  # OpenAI's shape there


@pytest.mark.parametrize(
    ("send", "status", "kind", "text"),
    [
        pytest.param({"content": b"{not json"}, 400, "invalid_request_error", "the request body is not valid JSON", id="not JSON"),
        pytest.param({"json": [1, 2]}, 400, "invalid_request_error", "the request body must be a JSON object (a Messages request)", id="not an object"),
        pytest.param({"json": message(model="No Such Model")}, 404, "not_found_error", None, id="unknown model"),
        pytest.param({"json": message(privacy={"max_retention": "soon"})}, 400, "invalid_request_error", None, id="bad privacy"),
    ],
)  # fmt: skip
async def test_messages__bad_input__anthropics_error_shape(
    offline: Proxy, send: dict[str, Any], status: int, kind: str, text: str | None
) -> None:
    response = await offline.http.post("/v1/messages", headers=ANTHROPIC, **send)
    assert response.status_code == status
    answer = response.json()
    assert answer["type"] == "error"
    assert answer["error"]["type"] == kind
    if text is not None:
        assert answer["error"]["message"] == text
    (refused,) = [r for r in records(offline.audit_lines) if r["event"] == "route.refused"]
    assert refused["api"] == "messages"
    if text is not None:
        assert refused["detail"] == text


async def test_messages__too_large_a_body__413_request_too_large(offline: Proxy) -> None:
    big = message(system="x" * 30_000)
    response = await offline.http.post("/v1/messages", json=big, headers=ANTHROPIC)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


async def test_messages__other_methods_and_query_parameters(offline: Proxy) -> None:
    get = await offline.http.get("/v1/messages", headers=ANTHROPIC)
    assert get.status_code == 405
    assert get.json()["error"]["type"] == "invalid_request_error"
    beta = await offline.http.post("/v1/messages?beta=true", json=message(), headers=ANTHROPIC)
    assert beta.status_code == 200
    other = await offline.http.post("/v1/messages?user=x", json=message(), headers=ANTHROPIC)
    assert other.status_code == 400
    assert other.json()["error"]["param"] == "user"


async def test_count_tokens__counted_locally_for_the_allowed_route_no_provider_contacted(
    live: Proxy, wire: respx.MockRouter
) -> None:
    routes = [mock_provider(wire, p) for p in ("anthropic", "bedrock", "openai", "azure")]
    short = {"model": "Claude 4.5 Sonnet", "messages": [{"role": "user", "content": "Hi"}]}
    long = short | {"system": "Be brief. " * 50, "tools": [{"name": "f", "input_schema": {}}]}
    counts = []
    for body in (short, long):
        response = await live.http.post("/v1/messages/count_tokens", json=body, headers=ANTHROPIC)
        assert response.status_code == 200, response.text
        assert response.headers["x-router-route"] == "claude-4-5-sonnet/anthropic"
        assert response.headers["x-router-token-count"] == "local"
        counts.append(response.json()["input_tokens"])
    assert 0 < counts[0] < counts[1]
    assert not any(route.calls for route in routes)
    # Nothing forwarded: each count is one audited decision (issue 23: every request on the
    # four POST endpoints leaves one), and no attempt.
    assert [(r["event"], r["api"]) for r in records(live.audit_lines)] == [
        ("route.decision", "messages"),
        ("route.decision", "messages"),
    ]


async def test_count_tokens__the_policy_decides_the_route_that_counts(
    live: Proxy, wire: respx.MockRouter
) -> None:
    anthropic = mock_provider(wire, "anthropic")
    allowed = message(model="Claude 4.5 Sonnet", privacy={"deny_providers": ["anthropic"]})
    response = await live.http.post("/v1/messages/count_tokens", json=allowed, headers=ANTHROPIC)
    assert response.headers["x-router-route"] == "claude-4-5-sonnet/bedrock"
    denied = message(privacy={"deny_providers": ["openai", "azure"]})
    refused = await live.http.post("/v1/messages/count_tokens", json=denied, headers=ANTHROPIC)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("permission_error", "policy_violation")
    assert "Claude 4.5 Sonnet" in error["alternatives"]
    assert not anthropic.calls


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind"),
    [
        pytest.param(ANTHROPIC, message(tools=[{"type": "web_search_20250305", "name": "web_search"}]), 400, "invalid_request_error", id="a server tool"),
        pytest.param(ANTHROPIC, message(model="No Such Model"), 404, "not_found_error", id="an unknown model"),
        pytest.param({"x-api-key": "wrong-0000000000000"}, message(), 401, "authentication_error", id="a wrong key"),
    ],
)  # fmt: skip
async def test_count_tokens__refusals_in_anthropics_shape(
    offline: Proxy, headers: dict[str, str], body: dict[str, Any], status: int, kind: str
) -> None:
    response = await offline.http.post("/v1/messages/count_tokens", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind


async def test_messages__a_failure_mid_stream_ends_with_an_error_event(
    live: Proxy, wire: respx.MockRouter
) -> None:
    first = (
        'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n'
    )

    async def broken() -> AsyncIterator[bytes]:
        yield first.encode()
        raise httpx.ReadError("connection reset by the provider")

    wire.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=broken()
        )
    )
    body = message(stream=True)
    async with live.http.stream("POST", "/v1/messages", json=body, headers=ANTHROPIC) as response:
        text = (await response.aread()).decode()
    events = sse_events(text)
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["type"] == "api_error"
    assert "connection reset" not in text
    attempt = next(r for r in records(live.audit_lines) if r["event"] == "route.attempt")
    assert attempt["api"] == "messages"
    assert attempt["outcome"] != "ok"


async def test_messages__an_error_event_mid_stream_is_the_attempts_failure(
    live: Proxy, wire: respx.MockRouter
) -> None:
    """The plain stream's chunks are read as litellm's were: an error event after the first
    chunk (in the same read) ends the stream in our shape, after the text before it, and the
    attempt is recorded as failed, once."""
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}'
    )
    error = '{"error":{"message":"the model is overloaded","type":"server_error"}}'
    body = f"data: {chunk}\n\ndata: {error}\n\n".encode()
    wire.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=body)
    )
    async with live.http.stream(
        "POST", "/v1/messages", json=message(stream=True), headers=ANTHROPIC
    ) as response:
        text = (await response.aread()).decode()
    events = sse_events(text)
    assert [e["type"] for e in events] == [
        "message_start", "ping", "content_block_start", "content_block_delta", "error",
    ]  # fmt: skip
    assert events[3]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert "overloaded" not in text
    attempts = [r for r in records(live.audit_lines) if r["event"] == "route.attempt"]
    assert [(a["api"], a["outcome"], a["chunks"]) for a in attempts] == [("messages", "server", 1)]


# --- Claude on Anthropic: relayed as it came -------------------------------------------------


async def test_messages__claude_on_anthropic_streams_the_events_as_they_came(
    live: Proxy, wire: respx.MockRouter
) -> None:
    anthropic = mock_provider(wire, "anthropic", stream=True)
    body = message(model="Claude 4.5 Sonnet", stream=True, metadata={"user_id": USER})
    async with live.http.stream("POST", "/v1/messages", json=body, headers=ANTHROPIC) as response:
        assert response.status_code == 200
        assert response.headers["x-router-route"] == "claude-4-5-sonnet/anthropic"
        relayed = await response.aread()
    upstream = sse_body(WIRES["anthropic"])
    first, rest = relayed.split(b"\n\n", 1)
    assert rest == upstream.split(b"\n\n", 1)[1]  # byte for byte after message_start
    start = sse_events(first.decode())[0]
    expected = json.loads(upstream.split(b"\n\n", 1)[0].split(b"data: ", 1)[1])
    assert start["message"] == expected["message"] | {"model": "Claude 4.5 Sonnet"}
    sent = json.loads(anthropic.calls[0].request.content)
    assert sent == {k: v for k, v in body.items() if k != "metadata"} | {
        "model": "claude-sonnet-4-5-20250929"
    }
    mine = [r for r in records(live.audit_lines) if r["event"] != "catalog.loaded"]
    assert [(r["event"], r["api"], r.get("outcome")) for r in mine] == [
        ("route.decision", "messages", None),
        ("route.attempt", "messages", "ok"),
    ]


async def test_messages__claude_on_anthropic_an_error_event_ends_the_stream_in_our_shape(
    live: Proxy, wire: respx.MockRouter
) -> None:
    start = sse_body(WIRES["anthropic"]).split(b"\n\n")[0] + b"\n\n"
    failure = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded: ask alice"}}\n\n'
    wire.post("https://api.anthropic.com/v1/messages").mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=start + failure)
    )
    body = message(model="Claude 4.5 Sonnet", stream=True)
    async with live.http.stream("POST", "/v1/messages", json=body, headers=ANTHROPIC) as response:
        text = (await response.aread()).decode()
    events = sse_events(text)
    assert [e["type"] for e in events] == ["message_start", "error"]
    assert "ask alice" not in text  # never the provider's own text
    attempt = next(r for r in records(live.audit_lines) if r["event"] == "route.attempt")
    assert (attempt["outcome"], attempt["chunks"]) == ("server", 1)


async def test_messages__claude_on_anthropic_failing_fails_over_to_bedrock_translated(
    live: Proxy, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "anthropic", status=429, error="rate limited")
    bedrock = mock_provider(wire, "bedrock")
    body = message(model="Claude 4.5 Sonnet")
    response = await live.http.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert response.status_code == 200, response.text
    assert response.headers["x-router-route"] == "claude-4-5-sonnet/bedrock"
    assert response.json()["content"] == [{"type": "text", "text": "canned reply from the mock"}]
    assert response.json()["model"] == "Claude 4.5 Sonnet"
    assert bedrock.call_count == 1
    attempts = [r for r in records(live.audit_lines) if r["event"] == "route.attempt"]
    assert [(a["provider"], a["outcome"], a["sends"]) for a in attempts] == [
        ("anthropic", "rate_limit", 1),
        ("bedrock", "ok", 1),
    ]


async def test_chat__a_plain_request_to_claude_is_translated_by_the_router(
    live: Proxy, wire: respx.MockRouter, claude_chat_lean: None
) -> None:
    """/v1/chat/completions to Claude on Anthropic, plain: the Messages body litellm sends, the
    chat completion litellm renders, naming the asked model (router/_upstream/chat_claude.py)."""
    anthropic = mock_provider(wire, "anthropic")
    body = {"model": "Claude 4.5 Sonnet", "user": USER, "temperature": 0.3,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Say hello."}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = await live.http.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "Claude 4.5 Sonnet"
    assert (
        answer["choices"][0]["message"]["content"]
        == reply(WIRES["anthropic"])["content"][0]["text"]
    )
    assert answer["choices"][0]["finish_reason"] == "stop"
    request = anthropic.calls[0].request
    assert json.loads(request.content) == {
        "model": "claude-sonnet-4-5-20250929",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
        "temperature": 0.3,
        "system": [{"type": "text", "text": "Be brief."}],
        "max_tokens": 64000,
    }
    assert places(request, USER) == set()
    (attempt,) = [r for r in records(live.audit_lines) if r["event"] == "route.attempt"]
    assert (attempt["api"], attempt["sends"], attempt["outcome"]) == ("chat", 1, "ok")
