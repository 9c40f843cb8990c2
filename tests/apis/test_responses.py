"""``PolicyRouter.aresponses``: the Responses API on the chat path (router/_apis/responses.py).

Provider traffic is mocked with respx, so litellm's bridge and the route's wire format are
real: the tests assert on the request that would have gone over the wire.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import litellm  # noqa: TID251  # the drop-in's classes, as a caller sees them
import pytest
import respx
from litellm.types.llms.openai import ResponsesAPIResponse  # noqa: TID251

from router import InvalidRequest, PolicyRouter, PolicyViolation, Preferences
from router._core.responses import (
    BACKGROUND_REFUSED,
    CONVERSATION_REFUSED,
    PREVIOUS_REFUSED,
    STORE_REFUSED,
)
from router._upstream import providers
from tests import test_router
from tests._support.wire import responses_reply, tool_call_reply, use_fake_credentials
from tests.test_router import (
    CONTENT,
    KIMI,
    PSEUDO_CATALOG,
    PSEUDO_DEPLOYMENT,
    SECRET,
    USER,
    Audit,
    completion,
    make_router,
    sse,
)

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
OPENAI_RESPONSES = "https://api.openai.com/v1/responses"
EVENT_STREAM = {"content-type": "text/event-stream"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


@pytest.fixture
def litellm_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routes with no path of their own take litellm."""
    monkeypatch.setattr(providers, "DEFAULT_PATH", "litellm")


def body(route: respx.Route) -> dict[str, Any]:
    return dict(json.loads(route.calls.last.request.content))


async def test_aresponses__returns_litellms_response_with_its_route(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion("hello there"))

    response = await router.aresponses("Kimi K2", CONTENT, USER, request_id="req-r1")

    assert isinstance(response, ResponsesAPIResponse)
    assert response.output_text == "hello there"
    assert response.store is False  # nothing was stored, and the response says so
    assert response.id.startswith("resp_")  # as litellm.aresponses and the stream name it
    where = response._hidden_params["policy_router"]
    assert (where["route"], where["request_id"]) == ("kimi-k2/groq", "req-r1")


async def test_aresponses__translates_the_request_with_litellms_bridge(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    text = {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}}

    await router.aresponses(
        "Kimi K2",
        [{"role": "user", "content": [{"type": "input_text", "text": CONTENT}]}],
        instructions="Be brief.",
        max_output_tokens=50,
        temperature=0.2,
        tools=[WEATHER],
        tool_choice="auto",
        text=text,
    )

    sent = body(groq)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": CONTENT}]},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["tool_choice"]) == (50, 0.2, "auto")
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["response_format"]["json_schema"]["name"] == "w"


async def test_aresponses__a_tool_loop_sends_the_call_with_its_output(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    asked = tool_call_reply("call_7", "get_weather", '{"city": "Paris"}')
    groq = wire.post(KIMI["groq"])
    groq.side_effect = [httpx.Response(200, json=asked), httpx.Response(200, json=completion())]
    first = await router.aresponses("Kimi K2", "Weather in Paris?", tools=[WEATHER])
    (function_call,) = [item for item in first.output if item.type == "function_call"]
    again = [
        {"role": "user", "content": "Weather in Paris?"},
        *first.output,  # handed back as litellm gave them
        {"type": "function_call_output", "call_id": function_call.call_id, "output": "sunny"},
    ]

    await router.aresponses("Kimi K2", again, tools=[WEATHER])

    messages = body(groq)["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_7"
    assert messages[2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_7"}


async def test_aresponses__streams_litellms_responses_events(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, headers=EVENT_STREAM, content=sse("Hel", "lo"))

    stream = await router.aresponses("Kimi K2", CONTENT, USER, stream=True)
    events = [event async for event in stream]

    types = [str(getattr(e.type, "value", e.type)) for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello"
    assert events[-1].response.store is False
    assert stream._hidden_params["policy_router"]["route"] == "kimi-k2/groq"
    attempt = audit.events("route.attempt")[-1]
    assert (attempt["api"], attempt["outcome"]) == ("responses", "ok")


async def test_aresponses__a_stream_closed_early_is_audited_as_cancelled(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, headers=EVENT_STREAM, content=sse("a", "b", "c"))

    stream = await router.aresponses("Kimi K2", CONTENT, USER, stream=True)
    await anext(stream)
    await stream.aclose()

    assert audit.events("route.attempt")[-1]["outcome"] == "cancelled"


async def test_aresponses__fails_over_only_to_allowed_routes_and_audits_the_api(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    await router.preferences.set(USER, Preferences(deny_providers=["nebius"]))
    groq = wire.post(KIMI["groq"]).respond(500, json={"error": {"message": "boom"}})
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion("from nebius"))
    deepinfra = wire.post(KIMI["deepinfra"]).respond(200, json=completion("from deepinfra"))

    response = await router.aresponses("kimi-k2", CONTENT, USER, request_id="req-r2")

    assert response.output_text == "from deepinfra"
    assert not nebius.called  # the user denied it: never contacted, even during failover
    assert (groq.call_count, deepinfra.call_count) == (1, 1)
    mine = [r for r in audit.records if r.get("request_id") == "req-r2"]
    assert [(r["event"], r.get("provider"), r.get("outcome")) for r in mine] == [
        ("route.decision", None, None),
        ("route.attempt", "groq", "server"),
        ("route.attempt", "deepinfra", "ok"),
    ]
    assert {r["api"] for r in mine} == {"responses"}


async def test_aresponses__a_denied_provider_is_never_contacted(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    openai = wire.post(OPENAI_CHAT).respond(200, json=completion())

    with pytest.raises(PolicyViolation):
        await router.aresponses(
            "GPT 4.1", CONTENT, USER, privacy={"deny_providers": ["openai", "azure"]}
        )

    assert not openai.called
    assert audit.events("route.refused")[-1]["api"] == "responses"


async def test_aresponses__identifiers_never_reach_an_omit_route(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    openai = wire.post(OPENAI_CHAT).respond(200, json=completion())

    await router.aresponses(
        "GPT 4.1",
        CONTENT,
        USER,
        safety_identifier=USER,
        prompt_cache_key=USER,
        metadata={"user_id": USER, "topic": "weather"},
    )

    request = openai.calls.last.request
    assert USER not in request.content.decode()
    assert all(USER not in v for v in request.headers.values())
    assert USER not in str(request.url)
    assert body(openai)["store"] is False
    removed = audit.events("route.attempt")[-1]["scrubbed_removed"]
    assert sorted(removed) == [
        "prompt_cache_key",
        "safety_identifier",
        "user",
    ]  # metadata: consumed


async def test_aresponses__a_pseudonymous_route_gets_the_pseudonym_not_the_id(
    tmp_path: Path, audit: Audit, keys: None, wire: respx.MockRouter
) -> None:
    (tmp_path / "catalog.yaml").write_text(PSEUDO_CATALOG)
    (tmp_path / "routes.yaml").write_text(PSEUDO_DEPLOYMENT)
    openai = wire.post(OPENAI_CHAT).respond(200, json=completion())
    router = make_router(
        tmp_path, audit, catalog=tmp_path / "catalog.yaml", deployment=tmp_path / "routes.yaml"
    )
    try:
        await router.aresponses("Model M", CONTENT, USER, safety_identifier=USER)
    finally:
        await router.aclose()

    sent = body(openai)
    assert USER not in openai.calls.last.request.content.decode()
    assert sent["user"].startswith("u-")
    assert sent["safety_identifier"] == sent["user"]


@pytest.mark.parametrize(
    ("model", "privacy", "url"),
    [
        pytest.param("o3 pro", None, OPENAI_RESPONSES, id="o3 pro at OpenAI, path litellm"),
        pytest.param(
            "GPT 5 Codex", {"deny_providers": ["openai"]},
            "https://fake-azure.openai.azure.com/openai/v1/responses", id="GPT 5 Codex at Azure",
        ),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("litellm_path")
async def test_aresponses__the_responses_bridge_is_told_not_to_store(
    tmp_path: Path,
    audit: Audit,
    wire: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    privacy: dict[str, Any] | None,
    url: str,
) -> None:
    """Responses-native models on litellm (Azure's; OpenAI's with ``path: litellm``): litellm
    bridges the chat call to the provider's Responses API, which keeps every response unless
    told not to. (On the lean path OpenAI's go as they came: tests/apis/test_responses_native.py.)"""
    use_fake_credentials(monkeypatch)
    responses = wire.post(url).respond(200, json=responses_reply("from the bridge"))

    async with make_router(tmp_path, audit) as router:
        response = await router.aresponses(
            model, CONTENT, USER, safety_identifier=USER, privacy=privacy
        )

    sent = body(responses)
    assert sent["store"] is False
    assert USER not in responses.calls.last.request.content.decode()
    assert response.output_text == "from the bridge"


@pytest.mark.parametrize(
    ("arguments", "param", "message"),
    [
        pytest.param({"store": True}, "store", STORE_REFUSED, id="store true"),
        pytest.param({"background": True}, "background", BACKGROUND_REFUSED, id="background"),
        pytest.param({"previous_response_id": "resp_1"}, "previous_response_id", PREVIOUS_REFUSED, id="previous_response_id"),
        pytest.param({"conversation": "conv_1"}, "conversation", CONVERSATION_REFUSED, id="conversation"),
        pytest.param(
            {"truncation": "auto"}, "truncation",
            "unsupported argument 'truncation': policy-router accepts the OpenAI Responses "
            "parameters of its accepted surface only; remove it (see docs/proxy.md, 'Responses API')",
            id="an unknown parameter",
        ),
        pytest.param(
            {"tools": [WEATHER, {"type": "web_search"}]}, "tools",
            "tools[1]: the built-in tool 'web_search' is refused: built-in tools run at the "
            "provider (searching the web, reading files or vector stores kept there, running "
            "code, calling other servers), beyond what the catalog declares for the route; only "
            "function tools are accepted: declare it as {type: 'function', name, parameters} "
            "and run it yourself",
            id="a built-in tool",
        ),
        pytest.param(
            {"api_base": "https://elsewhere.example"}, "api_base",
            "the router chooses the backend from the policy; remove 'api_base'",
            id="a backend",
        ),
    ],
)  # fmt: skip
async def test_aresponses__refuses_by_name_before_anything_is_sent(
    router: PolicyRouter,
    wire: respx.MockRouter,
    audit: Audit,
    arguments: dict[str, Any],
    param: str,
    message: str,
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())

    with pytest.raises(InvalidRequest) as caught:
        await router.aresponses("Kimi K2", CONTENT, USER, request_id="req-r3", **arguments)

    assert isinstance(caught.value, litellm.BadRequestError)  # the drop-in's class too
    assert caught.value.param == param
    assert str(caught.value).startswith(message)
    assert not groq.called
    refused = audit.events("route.refused")[-1]
    assert (refused["request_id"], refused["api"]) == ("req-r3", "responses")
    assert not audit.events("route.decision")


async def test_aresponses__an_output_without_its_call_is_refused(router: PolicyRouter) -> None:
    orphan = [{"type": "function_call_output", "call_id": "call_9", "output": "sunny"}]

    with pytest.raises(InvalidRequest) as caught:
        await router.aresponses("Kimi K2", orphan)

    assert str(caught.value).startswith(
        "input[0]: this function_call_output's call_id matches no function_call item before it"
    )


async def test_aresponses__a_conflicting_fixed_parameter_names_the_responses_field(
    router: PolicyRouter,
) -> None:
    fixed = next(m for m in router.catalog.models if "reasoning_effort" in m.params)
    other = "low" if fixed.params["reasoning_effort"] != "low" else "high"

    with pytest.raises(InvalidRequest) as caught:
        await router.aresponses(fixed.slug, CONTENT, reasoning={"effort": other})

    assert caught.value.param == "reasoning"


async def test_aresponses__store_false_is_accepted_and_openai_told_so(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    openai = wire.post(OPENAI_CHAT).respond(200, json=completion())

    await router.aresponses("GPT 4.1", CONTENT, store=False, background=False)

    assert body(openai)["store"] is False
    assert SECRET not in openai.calls.last.request.content.decode()
