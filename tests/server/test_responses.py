"""``POST /v1/responses`` in process: the openai SDK's ``responses.create`` over the ASGI app,
providers mocked with respx, so the request each route really receives is checked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import openai
import pytest
import respx

from router._core.responses import (
    BACKGROUND_REFUSED,
    CONVERSATION_REFUSED,
    PREVIOUS_REFUSED,
    STORE_REFUSED,
)
from tests._support.proxy import ADMIN_KEY, Proxy, auth, proxy, put_prefs, records
from tests._support.wire import (
    CANNED_TEXT,
    SSE_HEADERS,
    STREAM_PIECES,
    WIRES,
    reply,
    sse_body,
    tool_call_reply,
    use_fake_credentials,
)

OPENAI: Final = "https://api.openai.com/v1/chat/completions"
AZURE: Final = "https://fake-azure.openai.azure.com/openai/deployments/gpt-4.1/chat/completions"
USER: Final = "sentinel-user-5e7a"
HELLO: Final = {"model": "GPT 4.1", "input": "Say hello."}
WEATHER: Final = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


@pytest.fixture
async def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxy]:
    use_fake_credentials(monkeypatch)
    async with proxy(tmp_path, offline=False) as served:
        yield served


@pytest.fixture
def wire() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


def answered(route: respx.Route, text: str = CANNED_TEXT) -> respx.Route:
    """``route`` answers JSON, or SSE when the request streams."""

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers=SSE_HEADERS, content=sse_body(WIRES["openai"]))
        return httpx.Response(200, json=reply(WIRES["openai"], text))

    return route.mock(side_effect=answer)


def mine(served: Proxy, request_id: str) -> list[dict[str, Any]]:
    return [r for r in records(served.audit_lines) if r.get("request_id") == request_id]


async def test_responses__sdk_gets_a_response_with_its_route(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = answered(wire.post(OPENAI))

    raw = await online.sdk().responses.with_raw_response.create(
        model="GPT 4.1", input="Say hello.", instructions="Be brief.", user=USER
    )

    response = raw.parse()
    assert response.output_text == CANNED_TEXT
    assert response.model == "GPT 4.1"  # the name the caller asked for
    assert response.store is False
    assert (raw.headers["x-router-route"], raw.headers["x-router-provider"]) == (
        "gpt-4-1/openai", "openai",
    )  # fmt: skip
    sent = json.loads(openai_route.calls.last.request.content)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["store"] is False
    records_of_request = mine(online, raw.headers["x-request-id"])
    assert [(r["event"], r["api"]) for r in records_of_request] == [
        ("route.decision", "responses"),
        ("route.attempt", "responses"),
    ]


@pytest.mark.parametrize(
    "include",
    [[], ["reasoning.encrypted_content"], ["message.output_text.logprobs"]],
    ids=["empty (openai-agents' default)", "encrypted reasoning", "logprobs"],
)
async def test_responses__include_that_keeps_nothing_at_the_provider_is_accepted(
    online: Proxy, wire: respx.MockRouter, include: list[str]
) -> None:
    openai_route = answered(wire.post(OPENAI))

    response = await online.sdk().responses.create(
        model="GPT 4.1", input="Say hello.", include=include, user=USER
    )

    assert response.output_text == CANNED_TEXT
    sent = json.loads(openai_route.calls.last.request.content)
    assert "include" not in sent
    assert sent["store"] is False


async def test_responses__sdk_streams_openais_events(online: Proxy, wire: respx.MockRouter) -> None:
    answered(wire.post(OPENAI))

    stream = await online.sdk().responses.create(model="GPT 4.1", input="Say hello.", stream=True)
    events = [event async for event in stream]

    assert [e.type for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "".join(STREAM_PIECES)
    assert events[-1].response.output_text == "".join(STREAM_PIECES)
    assert events[-1].response.model == "GPT 4.1"
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_responses__sse_names_each_event(online: Proxy, wire: respx.MockRouter) -> None:
    answered(wire.post(OPENAI))

    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True}, headers=auth()
    )

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-router-provider"] == "openai"
    blocks = [b for b in response.text.split("\n\n") if b]
    first_line, data = blocks[0].split("\n")
    assert first_line == "event: response.created"
    assert json.loads(data.removeprefix("data: "))["type"] == "response.created"
    assert blocks[-1].startswith("event: response.completed\n")


async def test_responses__a_denied_provider_is_never_contacted(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = answered(wire.post(OPENAI))
    azure = answered(wire.post(AZURE), "from azure")
    assert (await put_prefs(online.http, USER, deny_providers=["openai"])).status_code == 200

    response = await online.sdk().responses.create(
        model="GPT 4.1", input="Say hello.", extra_headers={"X-Router-User": USER}
    )
    stream = await online.sdk().responses.create(
        model="GPT 4.1", input="Say hello.", user=USER, stream=True
    )
    events = [event async for event in stream]

    assert response.output_text == "from azure"
    assert events[-1].type == "response.completed"
    assert not openai_route.called
    assert azure.call_count == 2


async def test_responses__no_allowed_route_is_403_and_nothing_is_sent(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = answered(wire.post(OPENAI))
    azure = answered(wire.post(AZURE))

    with pytest.raises(openai.PermissionDeniedError) as caught:
        await online.sdk().responses.create(
            model="GPT 4.1",
            input="Say hello.",
            extra_body={"privacy": {"deny_providers": ["openai", "azure"]}},
        )

    assert caught.value.code == "policy_violation"
    assert not openai_route.called
    assert not azure.called


async def test_responses__identifiers_never_reach_the_wire_raw(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = answered(wire.post(OPENAI))

    for stream in (False, True):
        response = await online.http.post(
            "/v1/responses",
            json=HELLO
            | {
                "user": USER,
                "safety_identifier": USER,
                "prompt_cache_key": USER,
                "metadata": {"user_id": USER, "topic": "greeting"},
                "stream": stream,
            },
            headers=auth() | {"X-Router-User": USER},
        )
        assert response.status_code == 200

    assert openai_route.call_count == 2
    for call in openai_route.calls:
        request = call.request
        assert USER not in request.content.decode()
        assert USER not in str(request.url)
        assert all(USER not in value for value in request.headers.values())
        assert json.loads(request.content)["store"] is False
    assert USER not in "".join(online.audit_lines)


async def test_responses__fails_over_to_another_allowed_route(
    online: Proxy, wire: respx.MockRouter
) -> None:
    wire.post(OPENAI).respond(503, json={"error": {"message": "overloaded"}})
    azure = answered(wire.post(AZURE), "from azure")

    response = await online.http.post("/v1/responses", json=HELLO, headers=auth())

    assert response.json()["output"][0]["content"][0]["text"] == "from azure"
    assert json.loads(azure.calls.last.request.content)["store"] is False  # Azure stores too
    attempts = [
        (r["provider"], r["outcome"], r["api"])
        for r in mine(online, response.headers["x-request-id"])
        if r["event"] == "route.attempt"
    ]
    assert attempts == [("openai", "server", "responses"), ("azure", "ok", "responses")]


class _ErrorAfterFirstChunk(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse_body(WIRES["openai"]).split(b"\n\n")[0] + b"\n\n"
        error = {"error": {"message": "overloaded", "type": "server_error"}}
        yield b"data: " + json.dumps(error).encode() + b"\n\n"


class _BrokenAfterFirstChunk(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse_body(WIRES["openai"]).split(b"\n\n")[0] + b"\n\n"
        raise httpx.ReadError("connection reset")


async def test_responses__a_stream_asks_for_usage_and_reports_it(
    online: Proxy, wire: respx.MockRouter
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    body = sse_body(WIRES["openai"], usage=usage)
    route = wire.post(OPENAI).mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=body)
    )
    stream = await online.sdk().responses.create(model="GPT 4.1", input="Say hello.", stream=True)
    events = [event async for event in stream]
    sent = json.loads(route.calls[0].request.content)
    assert sent["stream_options"] == {"include_usage": True}  # OpenAI sends usage if asked
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (
        11,
        7,
    )


async def test_responses__a_failure_mid_stream_ends_with_an_error_event(
    online: Proxy, wire: respx.MockRouter
) -> None:
    wire.post(OPENAI).mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, stream=_BrokenAfterFirstChunk())
    )

    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True}, headers=auth()
    )

    last = response.text.strip().split("\n\n")[-1]
    name, data = last.split("\n")
    assert name == "event: error"
    error = json.loads(data.removeprefix("data: "))
    assert (error["type"], error["code"]) == ("error", "upstream_failure")
    assert "response.completed" not in response.text


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        pytest.param({"store": True}, "store", STORE_REFUSED, id="store true"),
        pytest.param({"background": True}, "background", BACKGROUND_REFUSED, id="background"),
        pytest.param({"previous_response_id": "resp_1"}, "previous_response_id", PREVIOUS_REFUSED, id="previous_response_id"),
        pytest.param({"conversation": {"id": "conv_1"}}, "conversation", CONVERSATION_REFUSED, id="conversation"),
        pytest.param(
            {"truncation": "auto"}, "truncation",
            "unsupported argument 'truncation': the proxy forwards the OpenAI Responses "
            "parameters of its accepted surface only; remove it (see docs/proxy.md, 'Responses API')",
            id="an unknown parameter",
        ),
        pytest.param(
            {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools",
            "tools[0]: the built-in tool 'file_search' is refused: built-in tools run at the provider",
            id="a built-in tool",
        ),
        pytest.param(
            {"timeout": 5}, "timeout",
            "'timeout' is not accepted by the proxy: the operator's settings bound every call",
            id="a library-only parameter",
        ),
        pytest.param(
            {"input": [{"type": "item_reference", "id": "msg_1"}]}, "input",
            "input[0]: an item_reference names an item stored at the provider",
            id="an item reference",
        ),
        pytest.param(
            {"input": None}, "input",
            "'input' is required: a string, or a list of input items (see docs/proxy.md, 'Responses API')",
            id="no input",
        ),
        pytest.param(
            {"include": ["file_search_call.results"]}, "include",
            "include[0]: 'file_search_call.results' is the output of a built-in tool, and built-in tools are refused",
            id="an include of a built-in tool's output",
        ),
        pytest.param(
            {"include": ["reasoning.encrypted_contnt"]}, "include",
            "include[0]: not an include value the router accepts",
            id="an unknown include value",
        ),
        pytest.param(
            {"tools": [WEATHER], "tool_choice": {"type": "web_search_preview"}}, "tool_choice",
            "tool_choice.type: expected one of 'function', got a string of 18 characters",
            id="a built-in tool choice",
        ),
    ],
)  # fmt: skip
async def test_responses__refused_by_name_with_the_reason(
    online: Proxy, wire: respx.MockRouter, fields: dict[str, Any], param: str, message: str
) -> None:
    openai_route = answered(wire.post(OPENAI))

    response = await online.http.post(
        "/v1/responses", json=HELLO | fields, headers=auth() | {"X-Router-User": USER}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "invalid_value")
    assert error["message"].startswith(message)
    assert not openai_route.called
    (refused,) = mine(online, response.headers["x-request-id"])
    assert (refused["event"], refused["api"], refused["reason"]) == (
        "route.refused", "responses", "InvalidRequest",
    )  # fmt: skip
    assert refused["user"] == online.router.pipeline._pseudonymizer.for_audit(USER)  # never the id


@pytest.mark.parametrize(
    ("content", "headers", "param", "message"),
    [
        pytest.param(b"{not json", {}, None, "the request body is not valid JSON", id="not JSON"),
        pytest.param(b"[1]", {}, None, "the request body must be a JSON object", id="not an object"),
        pytest.param(b'{"input": "hi"}', {}, "model", "model: expected the name of a catalog model", id="no model"),
        pytest.param(b'{"model": "GPT 4.1", "input": "hi", "user": 7}', {}, "user", "user: expected a string", id="a user that is no string"),
        pytest.param(b'{"model": "GPT 4.1", "input": "hi", "privacy": []}', {}, "privacy", "privacy: expected an object", id="privacy that is no object"),
        pytest.param(
            b'{"model": "GPT 4.1", "input": "hi", "user": "ann"}', {"X-Router-User": "bob"}, "user",
            "the end user is named twice and differently", id="two users",
        ),
        pytest.param(
            b'{"model": "GPT 4.1", "input": "hi", "privacy": {"max_retention": "soon"}}', {}, "privacy.max_retention",
            "privacy.max_retention: 'max_retention'", id="a bad privacy field",
        ),
    ],
)  # fmt: skip
async def test_responses__bad_input_is_400_and_audited(
    online: Proxy, content: bytes, headers: dict[str, str], param: str | None, message: str
) -> None:
    response = await online.http.post(
        "/v1/responses",
        content=content,
        headers=auth() | headers | {"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert message in error["message"]
    refusals = [
        r for r in mine(online, response.headers["x-request-id"]) if r["event"] == "route.refused"
    ]
    assert [r["api"] for r in refusals] == ["responses"]


async def test_responses__unknown_model_is_404(online: Proxy) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await online.sdk().responses.create(model="no such model", input="hi")

    assert caught.value.code == "model_not_found"


async def test_responses__needs_a_key(online: Proxy) -> None:
    response = await online.http.post("/v1/responses", json=HELLO)

    assert response.status_code == 401


async def test_responses__offline_answers_without_a_provider(tmp_path: Path) -> None:
    async with proxy(tmp_path) as served:
        response = await served.sdk().responses.create(model="GPT 4.1", input="hi")

    assert response.output_text.startswith("[offline] policy-router chose")


async def test_responses__the_admin_key_may_ask_too(online: Proxy, wire: respx.MockRouter) -> None:
    answered(wire.post(OPENAI))

    response = await online.http.post("/v1/responses", json=HELLO, headers=auth(ADMIN_KEY))

    assert response.status_code == 200


async def test_responses__offline_streams_without_a_provider(tmp_path: Path) -> None:
    async with proxy(tmp_path) as served:
        stream = await served.sdk().responses.create(model="GPT 4.1", input="hi", stream=True)
        events = [event async for event in stream]

    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text.startswith("[offline] policy-router chose")


async def test_responses__sdk_tool_loop_hands_the_output_back(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = wire.post(OPENAI)
    openai_route.side_effect = [
        httpx.Response(200, json=tool_call_reply("call_3", "get_weather")),
        httpx.Response(200, json=reply(WIRES["openai"])),
    ]
    sdk = online.sdk()
    first = await sdk.responses.create(model="GPT 4.1", input="Weather?", tools=[WEATHER])
    (function_call,) = [item for item in first.output if item.type == "function_call"]

    second = await sdk.responses.create(
        model="GPT 4.1",
        input=[
            {"role": "user", "content": "Weather?"},
            *first.output,
            {"type": "function_call_output", "call_id": function_call.call_id, "output": "sunny"},
        ],
        tools=[WEATHER],
    )

    assert second.output_text == CANNED_TEXT
    messages = json.loads(openai_route.calls.last.request.content)["messages"]
    assert messages[-1] == {"role": "tool", "content": "sunny", "tool_call_id": "call_3"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-tool",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "canned-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def test_responses__a_streamed_tool_call_arrives_as_function_call_events(
    online: Proxy, wire: respx.MockRouter
) -> None:
    call = {"index": 0, "id": "call_5", "type": "function"}
    events = (
        _chunk({"role": "assistant", "tool_calls": [call | {"function": {"name": "get_weather", "arguments": ""}}]})
        + _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})
        + _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})
        + _chunk({}, "tool_calls")
        + "data: [DONE]\n\n"
    )  # fmt: skip
    wire.post(OPENAI).respond(200, headers=SSE_HEADERS, content=events.encode())

    stream = await online.sdk().responses.create(
        model="GPT 4.1", input="Weather?", tools=[WEATHER], stream=True
    )
    received = [event async for event in stream]

    deltas = [e.delta for e in received if e.type == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"city":"Paris"}'
    (done,) = [e.item for e in received if e.type == "response.output_item.done"]
    assert (done.type, done.call_id, done.name) == ("function_call", "call_5", "get_weather")
    assert received[-1].type == "response.completed"


# --- a plain request, rendered by the router (router/_upstream/responses_plain.py) -----------


async def test_responses__a_plain_request_streams_the_bridges_events_with_usage(
    online: Proxy, wire: respx.MockRouter
) -> None:
    """Text in, text out, OpenAI's usage chunk: the events the bridge gave, numbered."""
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    wire.post(OPENAI).mock(
        return_value=httpx.Response(
            200, headers=SSE_HEADERS, content=sse_body(WIRES["openai"], usage=usage)
        )
    )
    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True, "instructions": "Be brief."}, headers=auth()
    )
    events = [
        json.loads(block.split("\n")[1].removeprefix("data: "))
        for block in response.text.split("\n\n")
        if block
    ]
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added",
    ]  # fmt: skip
    assert kinds[-4:] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["instructions"] == "Be brief."
    completed = events[-1]["response"]
    assert (completed["model"], completed["status"], completed["store"]) == (
        "GPT 4.1", "completed", False,
    )  # fmt: skip
    assert completed["output"][0]["content"][0]["text"] == "".join(STREAM_PIECES)
    assert completed["usage"]["total_tokens"] == 18


async def test_responses__a_plain_requests_answer_beyond_text_is_the_bridges(
    online: Proxy, wire: respx.MockRouter
) -> None:
    """An answer the router does not render (here, a refusal) is litellm's bridge's."""
    answer = reply(WIRES["openai"], "I cannot.")
    answer["choices"][0]["message"]["refusal"] = "I cannot."
    wire.post(OPENAI).mock(return_value=httpx.Response(200, json=answer))

    response = await online.http.post("/v1/responses", json=HELLO, headers=auth())

    body = response.json()
    assert body["output"][0]["content"][0]["text"] == "I cannot."
    assert (body["model"], body["store"]) == ("GPT 4.1", False)


async def test_responses__an_error_object_mid_stream_is_the_attempts_failure(
    online: Proxy, wire: respx.MockRouter
) -> None:
    """Relayed to be rendered, a plain stream's events are checked as litellm's chunks were:
    an error object ends the stream with an error event, and the attempt records it."""
    wire.post(OPENAI).mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, stream=_ErrorAfterFirstChunk())
    )
    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True}, headers=auth()
    )
    name, data = response.text.strip().split("\n\n")[-1].split("\n")
    assert name == "event: error"
    assert json.loads(data.removeprefix("data: "))["code"] == "upstream_failure"
    attempts = [r for r in records(online.audit_lines) if r["event"] == "route.attempt"]
    assert [a["outcome"] for a in attempts] == ["server"]
