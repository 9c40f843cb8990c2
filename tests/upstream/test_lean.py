"""The lean path's per-provider table on the wire: URL, auth header, body as sent, renames,
``store: false``, refusals reported, the invariant before sending, raw answers for relaying.

The behaviour it shares with litellm's path (identifiers, failures, streams) is tested on both
paths in tests/upstream/test_wire.py and tests/core/test_invariant.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import httpx
import orjson
import pytest
import respx

from router._core.invariant import Identity, content_strings
from router._errors import ConfigError, IdentifierInRequest, RequestRejected, UpstreamFailure
from router._upstream import lean, providers, sse
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.deployment import Deployment, Target
from router._upstream.guard import WireCheck
from tests._support.wire import (
    CANNED_TEXT,
    FAKE_CREDENTIALS,
    SSE_HEADERS,
    WIRES,
    mock_provider,
    reply,
    sse_body,
    targets_by_prefix,
    use_fake_credentials,
)

MESSAGES: Final = [{"role": "user", "content": "Say hello."}]
TARGETS: Final = targets_by_prefix()
LEAN_PREFIXES: Final = tuple(p for p in TARGETS if providers.can_serve(TARGETS[p]))
# What each provider is sent, by the table in router/_upstream/lean.py: URL and auth header.
EXPECTED: Final = {
    "openai": ("https://api.openai.com/v1/chat/completions", "authorization", "Bearer {OPENAI_API_KEY}"),
    "azure": ("https://fake-azure.openai.azure.com/openai/deployments/o4-mini/chat/completions?api-version=2025-02-01-preview", "api-key", "{AZURE_API_KEY}"),
    "azure_ai": ("https://fake-azure-ai.services.ai.azure.com/models/chat/completions", "authorization", "Bearer {AZURE_AI_API_KEY}"),
    "mistral": ("https://api.mistral.ai/v1/chat/completions", "authorization", "Bearer {MISTRAL_API_KEY}"),
    "nebius": ("https://api.studio.nebius.ai/v1/chat/completions", "authorization", "Bearer {NEBIUS_API_KEY}"),
    "fireworks_ai": ("https://api.fireworks.ai/inference/v1/chat/completions", "authorization", "Bearer {FIREWORKS_AI_API_KEY}"),
    "together_ai": ("https://api.together.ai/v1/chat/completions", "authorization", "Bearer {TOGETHERAI_API_KEY}"),
    "groq": ("https://api.groq.com/openai/v1/chat/completions", "authorization", "Bearer {GROQ_API_KEY}"),
    "cerebras": ("https://api.cerebras.ai/v1/chat/completions", "authorization", "Bearer {CEREBRAS_API_KEY}"),
    "deepinfra": ("https://api.deepinfra.com/v1/openai/chat/completions", "authorization", "Bearer {DEEPINFRA_API_KEY}"),
    "xai": ("https://api.x.ai/v1/chat/completions", "authorization", "Bearer {XAI_API_KEY}"),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _lean(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)
    monkeypatch.setattr(providers, "DEFAULT_PATH", "lean")


def sent(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls.last.request.content)
    return body


def test_table__covers_every_openai_format_prefix_of_the_deployment() -> None:
    openai_format = {p for p, wire in WIRES.items() if wire.format == "openai"}
    assert set(LEAN_PREFIXES) == openai_format == set(EXPECTED) == set(providers.PROVIDERS)


@pytest.mark.parametrize("prefix", LEAN_PREFIXES)
async def test_url_and_auth__per_provider(respx_mock: respx.MockRouter, prefix: str) -> None:
    route = mock_provider(respx_mock, prefix)

    response = await complete(UpstreamCall(TARGETS[prefix], {"messages": MESSAGES}))

    url, header, value = EXPECTED[prefix]
    request = route.calls.last.request
    assert str(request.url) == url
    assert request.headers[header] == value.format(**FAKE_CREDENTIALS)
    assert sent(route)["model"] == TARGETS[prefix].model.split("/", 1)[1]
    assert response.choices[0].message.content == CANNED_TEXT
    assert type(response).__name__ == "ModelResponse"


@pytest.mark.parametrize("prefix", LEAN_PREFIXES)
async def test_body__sent_as_given_with_store_false_where_the_provider_stores(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    route = mock_provider(respx_mock, prefix)
    arguments = {"messages": MESSAGES, "temperature": 0.3, "top_k": 5, "seed": 7, "stop": ["x"]}

    await complete(UpstreamCall(TARGETS[prefix], arguments))

    stores = prefix in ("openai", "azure")
    expected = {"model": TARGETS[prefix].model.split("/", 1)[1], **arguments}
    assert sent(route) == expected | ({"store": False} if stores else {})


@pytest.mark.parametrize(
    ("model", "renamed"),
    [("openai/o4-mini", True), ("openai/gpt-5-mini", True), ("openai/gpt-4.1", False),
     ("openai/gpt-5-chat-latest", False), ("azure/o4-mini", True), ("groq/openai/gpt-oss-20b", False)],
)  # fmt: skip
async def test_max_tokens__renamed_for_openai_reasoning_models(
    respx_mock: respx.MockRouter, model: str, renamed: bool
) -> None:
    route = mock_provider(respx_mock, Target(model).prefix)

    await complete(UpstreamCall(Target(model), {"messages": MESSAGES, "max_tokens": 20}))

    body = sent(route)
    assert (body.get("max_completion_tokens"), body.get("max_tokens")) == (
        (20, None) if renamed else (None, 20)
    )


async def test_fixed_params__of_the_catalog_model_reach_the_body(
    respx_mock: respx.MockRouter,
) -> None:
    """Failover merges the route's fixed params into the arguments; they go out as they are."""
    route = mock_provider(respx_mock, "openai")

    await complete(UpstreamCall(Target("openai/o4-mini"), {"messages": MESSAGES,
                                                           "reasoning_effort": "high"}))  # fmt: skip

    assert sent(route)["reasoning_effort"] == "high"


async def test_rejected_parameter__is_the_providers_400_not_a_silent_drop(
    respx_mock: respx.MockRouter,
) -> None:
    route = mock_provider(respx_mock, "mistral", status=400, error="Extra inputs: 'top_k'")

    with pytest.raises(RequestRejected) as caught:
        await complete(UpstreamCall(TARGETS["mistral"], {"messages": MESSAGES, "top_k": 3}))

    assert sent(route)["top_k"] == 3
    assert str(caught.value) == "mistral (HTTP 400) refused the request: Extra inputs: 'top_k'"


async def test_invariant__blocks_before_sending(respx_mock: respx.MockRouter) -> None:
    route = mock_provider(respx_mock, "openai")
    user = "sentinel-lean-4411"
    identity = Identity.of(user)
    check = WireCheck(identity, content_strings(MESSAGES))
    arguments = {"messages": MESSAGES, "stop": [user]}

    with pytest.raises(IdentifierInRequest):
        await complete(UpstreamCall(TARGETS["openai"], arguments, check=check))

    assert (route.call_count, check.sends, check.found) == (0, 1, "$.stop[0]")


async def test_invariant__counts_a_clean_send(respx_mock: respx.MockRouter) -> None:
    mock_provider(respx_mock, "groq")
    check = WireCheck(Identity.of("sentinel-lean-4411"), content_strings(MESSAGES))

    await complete(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}, check=check))

    assert (check.sends, check.found) == (1, None)


async def test_invariant__content_made_only_for_a_body_that_holds_the_id(
    respx_mock: respx.MockRouter,
) -> None:
    """The content exemption is made (once) only when the body holds a form of the id: a
    clean body never makes it; the id in a message's text makes it, and is let through."""
    mock_provider(respx_mock, "groq")
    user = "sentinel-lean-4411"
    made: list[int] = []

    def content_of(messages: Any) -> Any:
        return lambda: made.append(1) or content_strings(messages)

    clean = WireCheck(Identity.of(user), content_of(MESSAGES))
    await complete(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}, check=clean))
    assert (clean.sends, clean.found, made) == (1, None, [])

    told = [{"role": "user", "content": f"I am {user}"}]
    holding = WireCheck(Identity.of(user), content_of(told))
    await complete(UpstreamCall(TARGETS["groq"], {"messages": told}, check=holding))
    assert (holding.sends, holding.found, made) == (1, None, [1])
    assert holding.content == content_strings(told)
    assert made == [1]  # made once


async def test_missing_credentials__an_auth_failure_unsent(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    route = mock_provider(respx_mock, "xai")

    with pytest.raises(UpstreamFailure, match="no credentials: set XAI_API_KEY"):
        await complete(UpstreamCall(TARGETS["xai"], {"messages": MESSAGES}))

    assert route.call_count == 0


async def test_raw__relays_the_upstreams_bytes(respx_mock: respx.MockRouter) -> None:
    body = orjson.dumps(reply(WIRES["openai"]))
    respx_mock.post(host="api.openai.com").respond(200, content=body,
                                                   headers={"content-type": "application/json"})  # fmt: skip

    answer = await complete(UpstreamCall(TARGETS["openai"], {"messages": MESSAGES}, raw=True))

    assert answer == lean.Raw(body, "application/json")


async def test_raw_stream__relays_each_event(respx_mock: respx.MockRouter) -> None:
    events = sse_body(WIRES["groq"])
    respx_mock.post(host="api.groq.com").respond(
        200, content=events, headers={"content-type": "text/event-stream"}
    )

    chunks = await open_stream(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}, raw=True))

    # each event's data as sent, up to [DONE]: encoded again, the stream as the upstream sent it
    batches = [c async for c in chunks]
    assert all(isinstance(b, lean.Events) for b in batches)
    relayed = b"".join(sse.encode(data) for batch in batches for data in batch) + sse.DONE
    assert relayed == events


async def test_parsed_stream__each_reads_chunks_the_last_with_the_end(
    respx_mock: respx.MockRouter,
) -> None:
    """A plain Messages stream's chunks (``chunks``): the JSON objects of each read, the read
    that brought ``[DONE]`` as ``Ended``; an error event raises after the chunks before it."""
    events = sse_body(WIRES["groq"])
    head, tail = events[: len(events) // 2], events[len(events) // 2 :]
    error = b'data: {"error": {"message": "overloaded"}}\n\n'

    async def pieces(*parts: bytes) -> Any:
        for part in parts:
            yield part

    respx_mock.post(host="api.groq.com").mock(
        side_effect=[
            httpx.Response(200, content=pieces(head, tail), headers=SSE_HEADERS),
            httpx.Response(200, content=pieces(events.split(b"\n\n", 1)[0] + b"\n\n" + error),
                           headers=SSE_HEADERS),
        ]
    )  # fmt: skip
    call = UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}, chunks=True)

    reads = [c async for c in await open_stream(call)]
    assert [type(r) for r in reads] == [lean.Chunks, lean.Ended]
    data = [e.split(b"data: ", 1)[1] for e in events.split(b"\n\n") if e.strip()]
    assert [chunk for read in reads for chunk in read] == [orjson.loads(d) for d in data[:-1]]

    failing = await open_stream(call)
    assert [type(r) for r in [await anext(failing)]] == [lean.Chunks]
    with pytest.raises(UpstreamFailure, match="overloaded"):
        await anext(failing)


async def test_stream__reads_the_whole_sse_format(respx_mock: respx.MockRouter) -> None:
    """CRLF line breaks, comments, an event name and a chunk's JSON over two data lines: the
    same chunks as the plain stream (a single-line parser took the second line as a chunk)."""
    plain = sse_body(WIRES["groq"])
    events = [e for e in plain.split(b"\n\n") if e]
    first = events[0].removeprefix(b"data: ")
    split = first.replace(b", ", b",\ndata: ", 1)  # JSON whitespace: one chunk, two lines
    assert split != first
    rest = b"".join(e + b"\r\n\r\n" for e in events[1:])
    wire = b": keep-alive\r\n\r\nevent: chunk\r\ndata: " + split + b"\r\n\r\n" + rest
    for body in (plain, wire):
        respx_mock.post(host="api.groq.com").respond(
            200, content=body, headers={"content-type": "text/event-stream"}
        )
        chunks = await open_stream(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}))
        texts = [c.choices[0].delta.content or "" async for c in chunks if c.choices]
        assert "".join(texts) == CANNED_TEXT


async def test_bad_json__is_a_bad_response(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(host="api.groq.com").respond(200, content=b"<html>")

    with pytest.raises(UpstreamFailure) as caught:
        await complete(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}))

    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize("model", ["openai/o3-pro", "openai/gpt-5-codex"])
async def test_responses_api_models__stay_on_litellm(model: str) -> None:
    assert not providers.serves(Target(model))


async def test_route_path_litellm__keeps_the_route_on_litellm(
    respx_mock: respx.MockRouter,
) -> None:
    route = mock_provider(respx_mock, "openai")

    await complete(UpstreamCall(Target("openai/gpt-4.1", path="litellm"), {"messages": MESSAGES}))

    assert not providers.serves(Target("openai/gpt-4.1", path="litellm"))
    assert "x-stainless-lang" in route.calls.last.request.headers  # the openai SDK's, via litellm


async def test_default_path__sends_without_litellm(respx_mock: respx.MockRouter) -> None:
    route = mock_provider(respx_mock, "openai")

    await complete(UpstreamCall(Target("openai/gpt-4.1"), {"messages": MESSAGES}))

    assert "x-stainless-lang" not in route.calls.last.request.headers


def test_deployment__path_lean_where_it_cannot_serve_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"path 'lean' cannot serve 'bedrock/anthropic\.claude"):
        Deployment(
            {"c/bedrock": Target("bedrock/anthropic.claude-sonnet-4-5", path="lean")},
            {},
            {"bedrock": frozenset({"bedrock"})},
        )


def test_deployment__path_lean_on_anthropic_is_its_messages_path() -> None:
    """Anthropic's Messages requests go out as they came on the lean path (its chat requests
    stay on litellm): ``path: lean`` is valid there, ``path: litellm`` turns it off."""
    lean_claude = Target("anthropic/claude-sonnet-4-5", path="lean")
    Deployment({"c/anthropic": lean_claude}, {}, {"anthropic": frozenset({"anthropic"})})
    assert providers.serves_messages(lean_claude, {})
    assert providers.serves_messages(Target("anthropic/claude-sonnet-4-5"), {})
    assert not providers.serves_messages(Target("anthropic/c", path="litellm"), {})
    assert not providers.serves_messages(Target("anthropic/c"), {"reasoning_effort": "medium"})
    assert not providers.serves_messages(Target("bedrock/anthropic.claude"), {})
    assert not providers.serves(lean_claude)  # its chat requests: litellm


async def test_httpx_failure_mid_stream__is_retryable(respx_mock: respx.MockRouter) -> None:
    class Breaks(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
            yield b'"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
            raise httpx.ReadError("reset")

    headers = {"content-type": "text/event-stream"}
    respx_mock.post(host="api.x.ai").mock(
        return_value=httpx.Response(200, headers=headers, stream=Breaks())
    )
    chunks = await open_stream(UpstreamCall(TARGETS["xai"], {"messages": MESSAGES}))

    with pytest.raises(UpstreamFailure) as caught:
        async for _chunk in chunks:
            pass

    assert (caught.value.kind, caught.value.retryable) == ("connection", True)


async def test_cookies__a_providers_cookie_is_never_sent_back(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(host="api.groq.com").respond(
        200, json=reply(WIRES["groq"]), headers={"set-cookie": "session=alice-tracker; Path=/"}
    )

    await complete(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}))
    await complete(UpstreamCall(TARGETS["groq"], {"messages": MESSAGES}))

    assert route.call_count == 2
    assert "cookie" not in route.calls.last.request.headers


# --- connections: a stream's connection is reused, on either client library ----------------


class _Counting(asyncio.Protocol):
    """A loopback OpenAI upstream that counts the connections it accepts and answers each
    request with ``answer``, keeping the connection alive."""

    accepted = 0

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        type(self).accepted += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))  # fmt: skip
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            assert self.transport is not None
            self.transport.write(self.answer)


def _chunked_sse(events: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    pieces = [e + b"\n\n" for e in events.split(b"\n\n") if e]
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_stream__reuses_its_upstream_connection(transport: lean.Transport) -> None:
    """Ten streams one after the other, read to ``[DONE]``: one connection (httpx's own
    transport opened one per stream: the chunked body's last line was left unread)."""
    counting = type("Counting", (_Counting,), {"accepted": 0})
    answer = _chunked_sse(sse_body(WIRES["openai"]))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: counting(answer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = lean.Clients(transport)
    try:
        for _ in range(10):
            call = UpstreamCall(TARGETS["openai"], {"messages": MESSAGES}, raw=True,
                                api_base=f"http://127.0.0.1:{port}/v1", clients=clients)  # fmt: skip
            events = [e async for batch in await open_stream(call) for e in batch]
            assert len(events) == answer.count(b"data: ") - 1  # every event but [DONE]
            assert all(e.startswith(b"{") for e in events)
    finally:
        await clients.aclose()
        server.close()
        await server.wait_closed()

    assert counting.accepted == 1
