"""Anthropic's Messages API sent as it came (router/_upstream/anthropic.py), on the wire: URL,
headers and body as sent, ``api_base`` honoured, answers as dicts or relayed bytes, errors
mapped as on the chat lean path, the invariant on the bytes before sending.

The whole path (scrubbing, failover, audit, the proxy) is in tests/apis/test_messages_native.py
and tests/server/test_messages.py.
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx
import pytest
import respx

from router._core.invariant import Identity, messages_content
from router._errors import FailureKind, IdentifierInRequest, RequestRejected, UpstreamFailure
from router._upstream import anthropic, lean, sse
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.as_it_came import Relayed
from router._upstream.deployment import Target
from router._upstream.guard import WireCheck
from tests._support.wire import (
    FAKE_CREDENTIALS,
    SSE_HEADERS,
    WIRES,
    error_response,
    reply,
    sse_body,
    use_fake_credentials,
)

CLAUDE: Final = Target("anthropic/claude-sonnet-4-5-20250929")
REQUEST: Final = {
    "max_tokens": 64,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "Say hello."}],
    "temperature": 0.2,
    "top_k": 5,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}
URL: Final = "https://api.anthropic.com/v1/messages"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)


def messages_call(arguments: dict[str, Any] = REQUEST, **fields: Any) -> UpstreamCall:
    return UpstreamCall(CLAUDE, arguments, api="messages", **fields)


def mock(respx_mock: respx.MockRouter, response: httpx.Response, url: str = URL) -> respx.Route:
    return respx_mock.post(url).mock(return_value=response)


async def test_json__url_headers_and_body_as_it_came(respx_mock: respx.MockRouter) -> None:
    route = mock(respx_mock, httpx.Response(200, json=reply(WIRES["anthropic"])))

    answer = await complete(messages_call())

    request = route.calls.last.request
    assert str(request.url) == URL
    assert request.headers["x-api-key"] == FAKE_CREDENTIALS["ANTHROPIC_API_KEY"]
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {"model": "claude-sonnet-4-5-20250929", **REQUEST}
    assert answer == reply(WIRES["anthropic"])  # a dict, as Anthropic sent it


async def test_json__raw_relays_the_bytes(respx_mock: respx.MockRouter) -> None:
    body = json.dumps(reply(WIRES["anthropic"])).encode()
    mock(
        respx_mock, httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )

    answer = await complete(messages_call(raw=True))

    assert answer == lean.Raw(body, "application/json")


@pytest.mark.parametrize(
    ("api_base", "environ", "url"),
    [
        pytest.param("http://127.0.0.1:9/anthropic", {}, "http://127.0.0.1:9/anthropic/v1/messages", id="api_base"),
        pytest.param("http://127.0.0.1:9/v1/messages", {}, "http://127.0.0.1:9/v1/messages", id="api_base ending in /v1/messages"),
        pytest.param(None, {"ANTHROPIC_API_BASE": "http://gw.example/"}, "http://gw.example/v1/messages", id="ANTHROPIC_API_BASE"),
        pytest.param(None, {"ANTHROPIC_BASE_URL": "http://gw2.example"}, "http://gw2.example/v1/messages", id="ANTHROPIC_BASE_URL"),
    ],
)  # fmt: skip
async def test_url__api_base_honoured_as_litellm_does(
    respx_mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    api_base: str | None,
    environ: dict[str, str],
    url: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    route = mock(respx_mock, httpx.Response(200, json=reply(WIRES["anthropic"])), url)

    await complete(messages_call(api_base=api_base))

    assert route.call_count == 1


async def test_stream__events_as_dicts_and_as_relayed_bytes(respx_mock: respx.MockRouter) -> None:
    events = sse_body(WIRES["anthropic"])
    route = mock(respx_mock, httpx.Response(200, headers=SSE_HEADERS, content=events))

    dicts = [e async for e in await open_stream(messages_call())]
    reads = [e async for e in await open_stream(messages_call(raw=True))]

    assert json.loads(route.calls.last.request.content)["stream"] is True
    (read,) = reads  # respx answers in one piece: its events come together, to relay in one write
    assert isinstance(read, Relayed)
    assert b"".join(read) == events  # every event, byte for byte
    assert list(read) == [e + b"\n\n" for e in events.split(b"\n\n")[:-1]]  # one per event
    assert [e["type"] for e in dicts][:2] == ["message_start", "content_block_start"]
    assert dicts[-1] == {"type": "message_stop"}


async def test_stream__an_error_event_is_the_streams_failure(respx_mock: respx.MockRouter) -> None:
    start = sse_body(WIRES["anthropic"]).split(b"\n\n")[0] + b"\n\n"
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = start + sse.json_event(error, "error")
    mock(respx_mock, httpx.Response(200, headers=SSE_HEADERS, content=body))

    events = await open_stream(messages_call(raw=True))
    assert await anext(events) == Relayed([start])  # the events of its read before it
    with pytest.raises(UpstreamFailure) as caught:
        await anext(events)

    assert (caught.value.kind, caught.value.status_code) == (FailureKind.SERVER, 529)


async def test_stream__an_error_event_first_fails_before_the_first_event(
    respx_mock: respx.MockRouter,
) -> None:
    """Nothing came before it: the failure raises from ``open_stream`` (failover may go on)."""
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}}
    mock(
        respx_mock, httpx.Response(200, headers=SSE_HEADERS, content=sse.json_event(error, "error"))
    )

    with pytest.raises(UpstreamFailure) as caught:
        await open_stream(messages_call(raw=True))

    assert (caught.value.kind, caught.value.status_code) == (FailureKind.RATE_LIMIT, 429)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        pytest.param(400, RequestRejected, None, id="400: refused"),
        pytest.param(401, UpstreamFailure, FailureKind.AUTH, id="401: auth"),
        pytest.param(429, UpstreamFailure, FailureKind.RATE_LIMIT, id="429: rate limit"),
        pytest.param(500, UpstreamFailure, FailureKind.SERVER, id="500: server"),
        pytest.param(529, UpstreamFailure, FailureKind.SERVER, id="529: overloaded"),
    ],
)
async def test_errors__mapped_as_on_the_chat_lean_path(
    respx_mock: respx.MockRouter, status: int, error: type[Exception], kind: FailureKind | None
) -> None:
    """The same outcome and message shape as the chat lean path's (failure_for_status)."""
    mock(respx_mock, error_response(WIRES["anthropic"], status, "mocked failure"))
    chat_twin = respx_mock.post(host="api.openai.com").mock(
        return_value=error_response(WIRES["openai"], status, "mocked failure")
    )

    for stream in (False, True):
        with pytest.raises(error) as caught:
            await (open_stream if stream else complete)(messages_call())
        with pytest.raises(error) as chat:
            await complete(
                UpstreamCall(Target("openai/gpt-4.1"), {"messages": REQUEST["messages"]})
            )
        assert getattr(caught.value, "kind", None) == kind
        assert str(caught.value) == str(chat.value).replace("openai", "anthropic")
    assert chat_twin.call_count == 2


async def test_invariant__checked_on_the_bytes_and_blocked_unsent(
    respx_mock: respx.MockRouter,
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=reply(WIRES["anthropic"])))
    user = "sentinel-claude-7731"
    arguments = REQUEST | {"stop_sequences": [user]}
    check = WireCheck(Identity.of(user), messages_content(arguments))

    with pytest.raises(IdentifierInRequest):
        await complete(messages_call(arguments, check=check))

    assert (route.call_count, check.sends, check.found) == (0, 1, "$.stop_sequences[0]")


async def test_invariant__content_and_system_are_content(respx_mock: respx.MockRouter) -> None:
    mock(respx_mock, httpx.Response(200, json=reply(WIRES["anthropic"])))
    user = "sentinel-claude-7731"
    arguments = REQUEST | {
        "system": f"You help {user}.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"I am {user}"}]}],
    }
    check = WireCheck(Identity.of(user), messages_content(arguments))

    await complete(messages_call(arguments, check=check))

    assert (check.sends, check.found) == (1, None)


async def test_refusals__unknown_fields_and_missing_key_unsent(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = mock(respx_mock, httpx.Response(200, json=reply(WIRES["anthropic"])))

    with pytest.raises(RequestRejected, match="'service_tier': not a Messages field"):
        await complete(messages_call(REQUEST | {"service_tier": "auto"}))
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(UpstreamFailure, match="no credentials: set ANTHROPIC_API_KEY"):
        await complete(messages_call())

    assert route.call_count == 0


@pytest.mark.parametrize(
    ("user", "sent"),
    [
        pytest.param(None, {}, id="no user"),
        pytest.param("alice-1234", {"metadata": {"user_id": "alice-1234"}}, id="a user"),
        pytest.param("alice@example.com", {}, id="an email: litellm leaves it out"),
        pytest.param("+44 20 7946 0000", {}, id="a phone number: likewise"),
    ],
)
def test_metadata__the_end_user_as_litellm_puts_it(user: str | None, sent: dict[str, Any]) -> None:
    arguments = anthropic.metadata_for(user)
    anthropic.sendable(arguments)
    assert arguments == sent


def test_metadata__a_removed_user_id_leaves_no_empty_metadata() -> None:
    arguments: dict[str, Any] = {"max_tokens": 5, "metadata": {}}
    anthropic.sendable(arguments)
    assert arguments == {"max_tokens": 5}
