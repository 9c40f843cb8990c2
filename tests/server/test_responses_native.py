"""``POST /v1/responses`` to an OpenAI Responses-API model (o3 pro) in process: the request goes
out as it came, ``store: false``, and OpenAI's answer is relayed as bytes, JSON and SSE, with
``model`` naming the model asked for. The openai SDK and plain HTTP over the ASGI app;
providers mocked with respx, so the request each route receives is checked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import respx

from router._upstream import sse
from tests._support.proxy import API_KEY, Proxy, auth, make_settings, proxy, records, serve
from tests._support.wire import (
    CANNED_TEXT,
    SSE_HEADERS,
    mock_provider,
    places,
    responses_reply,
    responses_sse_body,
    use_fake_credentials,
    wire_text,
)

USER: Final = "sentinel-user-6f1b"
OPENAI_RESPONSES: Final = "https://api.openai.com/v1/responses"
HELLO: Final = {"model": "o3 pro", "input": "Say hello."}


@pytest.fixture
async def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxy]:
    use_fake_credentials(monkeypatch)
    async with proxy(tmp_path, offline=False) as served:
        yield served


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


def attempts(served: Proxy) -> list[dict[str, Any]]:
    return [r for r in records(served.audit_lines) if r["event"] == "route.attempt"]


async def test_json__sdk_request_goes_out_as_it_came_the_answer_relayed(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = mock_provider(wire, "openai")
    fields = {
        "instructions": "Be brief.",
        "reasoning": {"effort": "high"},
        "include": ["reasoning.encrypted_content"],
        "max_output_tokens": 64,
    }

    raw = await online.sdk().responses.with_raw_response.create(
        model="o3 pro", input="Say hello.", user=USER, safety_identifier=USER, store=False,
        **fields,
    )  # fmt: skip

    assert raw.headers["x-router-route"] == "o3-pro/openai"
    assert json.loads(raw.content) == responses_reply() | {"model": "o3 pro"}  # name asked
    assert raw.parse().output_text == CANNED_TEXT
    request = openai_route.calls.last.request
    assert str(request.url) == OPENAI_RESPONSES
    assert API_KEY not in wire_text(request)  # the caller's key stays here
    sent = json.loads(request.content)
    assert sent == {"model": "o3-pro", "input": "Say hello.", **fields, "store": False}
    assert places(request, USER) == set()  # omit: user and safety_identifier removed
    (attempt,) = attempts(online)
    assert (attempt["api"], attempt["outcome"], attempt["sends"]) == ("responses", "ok", 1)
    assert sorted(attempt["scrubbed_removed"]) == ["safety_identifier", "user"]


async def test_stream__openais_events_relayed_as_they_came(
    online: Proxy, wire: respx.MockRouter
) -> None:
    openai_route = mock_provider(wire, "openai", stream=True)

    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True}, headers=auth()
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    upstream = responses_sse_body().split(b"\n\n")[:-1]
    relayed = response.content.split(b"\n\n")[:-1]
    assert len(relayed) == len(upstream)
    for got, sent in zip(relayed, upstream, strict=True):
        (event,) = sse.Decoder().feed(sent + b"\n\n")
        data = json.loads(event.data)
        if "response" in data:  # response.created, .in_progress, .completed: the name asked
            (ours,) = sse.Decoder().feed(got + b"\n\n")
            assert ours.event == event.event
            assert json.loads(ours.data) == data | {
                "response": data["response"] | {"model": "o3 pro"}
            }
        else:
            assert got == sent  # byte for byte
    body = json.loads(openai_route.calls.last.request.content)
    assert (body["stream"], body["store"]) == (True, False)
    (attempt,) = attempts(online)
    assert (attempt["api"], attempt["outcome"], attempt["chunks"]) == (
        "responses", "ok", len(relayed),
    )  # fmt: skip


async def test_stream__the_sdk_reads_the_relayed_events(
    online: Proxy, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "openai", stream=True)

    stream = await online.sdk().responses.create(model="o3 pro", input="Say hello.", stream=True)
    events = [event async for event in stream]

    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == CANNED_TEXT
    assert events[-1].response.model == "o3 pro"


async def test_stream__a_failure_mid_stream_ends_with_an_error_event_numbered_next(
    online: Proxy, wire: respx.MockRouter
) -> None:
    start = responses_sse_body().split(b"\n\n")[0] + b"\n\n"
    failed = sse.json_event({"type": "error", "code": "server_error", "message": "boom"}, "error")
    wire.post(OPENAI_RESPONSES).mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, content=start + failed)
    )

    response = await online.http.post(
        "/v1/responses", json=HELLO | {"stream": True}, headers=auth()
    )

    last = response.text.strip().split("\n\n")[-1]
    name, data = last.split("\n")
    assert name == "event: error"
    error = json.loads(data.removeprefix("data: "))
    assert (error["type"], error["code"], error["sequence_number"]) == (
        "error", "upstream_failure", 1,
    )  # fmt: skip
    assert "boom" not in response.text  # never the provider's own text


async def test_errors__a_400_is_the_callers_in_openais_shape(
    online: Proxy, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "openai", status=400, error="max_output_tokens: too large")

    response = await online.http.post("/v1/responses", json=HELLO, headers=auth())

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    (attempt,) = attempts(online)
    assert (attempt["outcome"], attempt["api"]) == ("rejected", "responses")


CATALOG: Final = """
version: test-1
effective: 2026-01-01
providers:
  openai: {name: OpenAI}
  mistral: {name: Mistral}
models:
  m: {name: Model M}
routes:
  - models: [m]
    providers: [openai, mistral]
    policy: {trains_on_api_data: false, retention: none, user_identifier: pseudonymous}
"""
DEPLOYMENT: Final = """
reaches: {openai: [openai], mistral: [mistral]}
routes:
  m: {openai: openai/o3-pro, mistral: mistral/mistral-small-latest}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_failover__openai_down_a_chat_route_answers_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, stream: bool
) -> None:
    use_fake_credentials(monkeypatch)
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "routes.yaml").write_text(DEPLOYMENT)
    settings = make_settings(
        tmp_path, offline=False, catalog=tmp_path / "catalog.yaml",
        deployment=tmp_path / "routes.yaml",
    )  # fmt: skip
    openai_route = mock_provider(wire, "openai", status=503)
    mistral = mock_provider(wire, "mistral", stream=True)
    async with serve(settings) as served:
        body = {"model": "Model M", "input": "Say hello.", "user": USER, "stream": stream}
        response = await served.http.post("/v1/responses", json=body, headers=auth())
        pseudonym = served.router.pipeline._pseudonymizer.for_provider(USER, "openai")
    assert response.status_code == 200, response.text
    assert response.headers["x-router-provider"] == "mistral"
    if stream:
        assert "event: response.completed" in response.text
    else:
        assert response.json()["output"][0]["content"][0]["text"] == CANNED_TEXT
    as_it_came = openai_route.calls.last.request
    assert json.loads(as_it_came.content)["user"] == pseudonym  # pseudonymous, as it came
    assert places(as_it_came, USER) == set()
    assert "messages" in json.loads(mistral.calls.last.request.content)  # translated
    assert [(r["provider"], r["outcome"], r["api"]) for r in attempts(served)] == [
        ("openai", "server", "responses"),
        ("mistral", "ok", "responses"),
    ]
