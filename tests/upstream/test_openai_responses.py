"""OpenAI's Responses API sent as it came (router/_upstream/openai_responses.py), on the wire:
URL, headers and body as sent (``store: false`` whatever came), ``api_base`` honoured, answers
as dicts or relayed bytes, errors mapped as on the chat lean path, the invariant on the bytes
before sending; and which targets take this path (providers, deployment).

The whole path (scrubbing, failover, audit, the proxy) is in tests/apis/test_responses_native.py
and tests/server/test_responses.py.
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx
import pytest
import respx

from router._core.invariant import Identity, responses_content
from router._errors import (
    ConfigError,
    FailureKind,
    IdentifierInRequest,
    RequestRejected,
    UpstreamFailure,
)
from router._upstream import lean, providers, sse
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.deployment import Deployment, Target
from router._upstream.guard import WireCheck
from router._upstream.openai_responses import AsItCame
from tests._support.wire import (
    FAKE_CREDENTIALS,
    SSE_HEADERS,
    WIRES,
    error_response,
    responses_reply,
    responses_sse_body,
    use_fake_credentials,
)

O3_PRO: Final = Target("openai/o3-pro")
REQUEST: Final = {
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ],
    "instructions": "Be brief.",
    "max_output_tokens": 64,
    "reasoning": {"effort": "high"},
    "include": ["reasoning.encrypted_content"],
    "text": {"format": {"type": "text"}},
    "background": False,
}
URL: Final = "https://api.openai.com/v1/responses"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)


def responses_call(arguments: dict[str, Any] = REQUEST, **fields: Any) -> UpstreamCall:
    return UpstreamCall(O3_PRO, arguments, api="responses", **fields)


def mock(respx_mock: respx.MockRouter, response: httpx.Response, url: str = URL) -> respx.Route:
    return respx_mock.post(url).mock(return_value=response)


async def test_json__url_headers_and_body_as_it_came_store_false(
    respx_mock: respx.MockRouter,
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=responses_reply()))

    answer = await complete(responses_call())

    request = route.calls.last.request
    assert str(request.url) == URL
    assert request.headers["authorization"] == f"Bearer {FAKE_CREDENTIALS['OPENAI_API_KEY']}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"model": "o3-pro", **REQUEST, "store": False}
    assert answer == responses_reply()  # a dict, as OpenAI sent it


def test_as_it_came__the_body_is_the_callers_less_the_routers_own() -> None:
    """``store`` (even false), ``stream``, ``privacy``, the limits, ``user`` and the consumed
    bookkeeping are the router's; every other field goes as it came."""
    asked = AsItCame(
        REQUEST | {
            "model": "o3 pro", "stream": True, "store": False, "privacy": {"max_retention": "none"},
            "timeout": 5, "num_retries": 1, "max_retries": 0, "user": "alice", "metadata": {"k": "v"},
        }
    )  # fmt: skip

    assert asked.body == REQUEST
    assert asked.identified("alice") == REQUEST | {"user": "alice"}
    assert asked.identified(None) == REQUEST
    assert asked.as_chat_fixed() == REQUEST | {"reasoning_effort": "high"}


async def test_json__raw_relays_the_bytes(respx_mock: respx.MockRouter) -> None:
    body = json.dumps(responses_reply()).encode()
    mock(
        respx_mock, httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )

    answer = await complete(responses_call(raw=True))

    assert answer == lean.Raw(body, "application/json")


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        pytest.param("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/responses", id="api_base"),
        pytest.param("http://127.0.0.1:9/v1/responses/", "http://127.0.0.1:9/v1/responses", id="api_base ending in /responses"),
    ],
)  # fmt: skip
async def test_url__api_base_honoured(
    respx_mock: respx.MockRouter, api_base: str, url: str
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=responses_reply()), url)

    await complete(responses_call(api_base=api_base))

    assert route.call_count == 1


async def test_stream__events_as_dicts_and_as_relayed_bytes(respx_mock: respx.MockRouter) -> None:
    events = responses_sse_body()
    route = mock(respx_mock, httpx.Response(200, headers=SSE_HEADERS, content=events))

    dicts = [e async for e in await open_stream(responses_call())]
    relayed = b"".join([e async for e in await open_stream(responses_call(raw=True))])

    sent = json.loads(route.calls.last.request.content)
    assert (sent["stream"], sent["store"]) == (True, False)
    assert relayed == events  # every event, byte for byte
    assert [e["type"] for e in dicts][:2] == ["response.created", "response.in_progress"]
    assert dicts[-1]["type"] == "response.completed"


@pytest.mark.parametrize(
    ("name", "data", "kind", "status"),
    [
        pytest.param("error", {"type": "error", "code": "rate_limit_exceeded", "message": "slow", "param": None},
                     FailureKind.RATE_LIMIT, 429, id="an error event, by its code"),
        pytest.param("response.failed", {"type": "response.failed", "response": {"error": {"code": "server_error", "message": "boom"}}},
                     FailureKind.SERVER, 500, id="response.failed"),
        pytest.param("error", {"type": "error", "code": "unheard_of"}, FailureKind.SERVER, 500, id="an unknown code: a server error"),
    ],
)  # fmt: skip
async def test_stream__a_failure_event_is_the_streams_failure(
    respx_mock: respx.MockRouter, name: str, data: dict[str, Any], kind: FailureKind, status: int
) -> None:
    start = responses_sse_body().split(b"\n\n")[0] + b"\n\n"
    mock(
        respx_mock,
        httpx.Response(200, headers=SSE_HEADERS, content=start + sse.json_event(data, name)),
    )

    events = await open_stream(responses_call(raw=True))
    assert (await anext(events)).startswith(b"event: response.created\n")
    with pytest.raises(UpstreamFailure) as caught:
        await anext(events)

    assert (caught.value.kind, caught.value.status_code) == (kind, status)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        pytest.param(400, RequestRejected, None, id="400: refused"),
        pytest.param(401, UpstreamFailure, FailureKind.AUTH, id="401: auth"),
        pytest.param(404, UpstreamFailure, FailureKind.NOT_FOUND, id="404: not found"),
        pytest.param(429, UpstreamFailure, FailureKind.RATE_LIMIT, id="429: rate limit"),
        pytest.param(500, UpstreamFailure, FailureKind.SERVER, id="500: server"),
    ],
)
async def test_errors__mapped_as_on_the_chat_lean_path(
    respx_mock: respx.MockRouter, status: int, error: type[Exception], kind: FailureKind | None
) -> None:
    """The same outcome and message as the chat lean path's (failure_for_status)."""
    mock(respx_mock, error_response(WIRES["openai"], status, "mocked failure"))
    chat_twin = respx_mock.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=error_response(WIRES["openai"], status, "mocked failure")
    )

    for stream in (False, True):
        with pytest.raises(error) as caught:
            await (open_stream if stream else complete)(responses_call())
        with pytest.raises(error) as chat:
            await complete(
                UpstreamCall(
                    Target("openai/gpt-4.1"), {"messages": [{"role": "user", "content": "x"}]}
                )
            )
        assert getattr(caught.value, "kind", None) == kind
        assert str(caught.value) == str(chat.value)
    assert chat_twin.call_count == 2


async def test_invariant__checked_on_the_bytes_and_blocked_unsent(
    respx_mock: respx.MockRouter,
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=responses_reply()))
    user = "sentinel-resp-7731"
    arguments = REQUEST | {
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"description": user}}}
    }
    check = WireCheck(Identity.of(user), responses_content(arguments))

    with pytest.raises(IdentifierInRequest):
        await complete(responses_call(arguments, check=check))

    assert (route.call_count, check.sends, check.found) == (
        0,
        1,
        "$.text.format.schema.description",
    )


async def test_invariant__input_and_instructions_are_content(respx_mock: respx.MockRouter) -> None:
    mock(respx_mock, httpx.Response(200, json=responses_reply()))
    user = "sentinel-resp-7731"
    arguments = REQUEST | {
        "instructions": f"You help {user}.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": f"I am {user}"}]}],
    }
    check = WireCheck(Identity.of(user), responses_content(arguments))

    await complete(responses_call(arguments, check=check))

    assert (check.sends, check.found) == (1, None)


async def test_refusals__unknown_fields_and_missing_key_unsent(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=responses_reply()))

    with pytest.raises(RequestRejected, match="'service_tier': not a Responses field"):
        await complete(responses_call(REQUEST | {"service_tier": "auto"}))
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(UpstreamFailure, match="no credentials: set OPENAI_API_KEY"):
        await complete(responses_call())

    assert route.call_count == 0


# --- which targets take this path ----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "params", "as_it_came"),
    [
        pytest.param(Target("openai/o3-pro"), {}, True, id="o3 pro on openai"),
        pytest.param(Target("openai/gpt-5-codex"), {}, True, id="GPT 5 Codex on openai"),
        pytest.param(Target("openai/o3-pro", path="litellm"), {}, False, id="path litellm"),
        pytest.param(Target("openai/o3-pro"), {"reasoning_effort": "high"}, False, id="fixed params: litellm's"),
        pytest.param(Target("openai/gpt-4.1"), {}, False, id="a chat model: chat's lean path, translated"),
        pytest.param(Target("azure/gpt-5-codex"), {}, False, id="Azure: litellm's bridge"),
    ],
)  # fmt: skip
def test_serves_responses__openais_responses_models_on_the_lean_path(
    target: Target, params: dict[str, Any], as_it_came: bool
) -> None:
    assert providers.serves_responses(target, params) is as_it_came
    assert not providers.serves(target) or target.model == "openai/gpt-4.1"  # chat: litellm


def test_deployment__path_lean_valid_for_responses_models_only_where_served() -> None:
    """``path: lean`` on o3 pro is the Responses path (its chat requests stay on litellm's
    bridge); on Azure's Responses models it is refused, as before."""
    o3_pro = Target("openai/o3-pro", path="lean")
    deployment = Deployment({"o/openai": o3_pro}, {}, {"openai": frozenset({"openai"})})

    assert deployment.target("o/openai") == o3_pro
    assert providers.serves_responses(o3_pro, {})
    assert not providers.serves(o3_pro)
    with pytest.raises(ConfigError, match="path 'lean' cannot serve 'azure/gpt-5-codex'"):
        Deployment(
            {"c/azure": Target("azure/gpt-5-codex", path="lean")},
            {},
            {"azure": frozenset({"azure"})},
        )
