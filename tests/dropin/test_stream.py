"""A stream carries its route like a response does, and litellm's chunk builder takes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import litellm  # noqa: TID251
import pytest
import respx

from router import BackendUnavailable, PolicyRouter
from router._errors import UpstreamFailure
from tests import test_router
from tests.test_router import KIMI, MESSAGES, USER, Audit, make_router, sse

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures

EVENT_STREAM = {"content-type": "text/event-stream"}


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


async def test_stream__carries_its_route_on_itself_and_on_each_chunk(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(502, json={"error": {"message": "bad gateway"}})
    wire.post(KIMI["nebius"]).respond(200, headers=EVENT_STREAM, content=sse("Hel", "lo"))
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True, request_id="req-9")
    where = stream._hidden_params["policy_router"]
    assert (where["route"], where["provider"], where["request_id"]) == (
        "kimi-k2/nebius", "nebius", "req-9",
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    assert chunks
    assert all(c._hidden_params["policy_router"]["route"] == "kimi-k2/nebius" for c in chunks)


async def test_stream__chunks_build_a_response_with_stream_chunk_builder(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(200, headers=EVENT_STREAM, content=sse("Hel", "lo", "!"))
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    chunks = [chunk async for chunk in stream]
    response = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    assert response is not None
    assert response.choices[0].message.content == "Hello!"


async def test_stream__failing_before_the_first_chunk_raises_the_litellm_class(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    for url in KIMI.values():
        wire.post(url).respond(429, json={"error": {"message": "slow"}})
    with pytest.raises(litellm.RateLimitError) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    assert isinstance(caught.value, BackendUnavailable)


class _BrokenAfterFirstChunk(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse("Hel").split(b"data: [DONE]")[0]
        raise httpx.ReadError("connection reset")


async def test_stream__failing_mid_stream_raises_the_litellm_class_from_the_iteration(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).mock(
        return_value=httpx.Response(200, headers=EVENT_STREAM, stream=_BrokenAfterFirstChunk())
    )
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    first = await anext(stream)
    assert first.choices[0].delta.content == "Hel"
    with pytest.raises(litellm.APIConnectionError) as caught:
        await anext(stream)
    assert isinstance(caught.value, UpstreamFailure)
