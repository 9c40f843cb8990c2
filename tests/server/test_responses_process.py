"""The openai SDK's ``responses.create`` against a real ``policy-router serve`` process, over
TCP, in front of the fake OpenAI upstream of tests/server/test_process.py (its fixtures)."""

from __future__ import annotations

import json
from typing import Final

import openai
import pytest

from tests._support.wire import CANNED_TEXT, STREAM_PIECES
from tests.server import test_process
from tests.server.test_process import Served, Upstream

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

upstream, started, sdk = test_process.upstream, test_process.started, test_process.sdk  # fixtures
USER: Final = "sentinel-user-91c3"


async def test_responses_process__sdk_gets_a_response(
    sdk: openai.AsyncOpenAI, started: Served, upstream: Upstream
) -> None:
    raw = await sdk.responses.with_raw_response.create(
        model="GPT 4.1",
        input="Say hello.",
        user=USER,
        safety_identifier=USER,
        prompt_cache_key=USER,
        metadata={"user_id": USER},
    )

    assert raw.parse().output_text == CANNED_TEXT
    sent = upstream.bodies[-1]
    assert sent["model"] == "gpt-4.1"
    assert sent["store"] is False
    assert USER not in json.dumps(sent)  # OpenAI routes see no identifier at all
    request_id = raw.headers["x-request-id"]
    mine = [r for r in started.audit() if r.get("request_id") == request_id]
    assert [(r["event"], r["api"]) for r in mine] == [
        ("route.decision", "responses"),
        ("route.attempt", "responses"),
    ]


async def test_responses_process__sdk_streams_events(
    sdk: openai.AsyncOpenAI, upstream: Upstream
) -> None:
    stream = await sdk.responses.create(model="GPT 4.1", input="Say hello.", user=USER, stream=True)
    events = [event async for event in stream]

    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "".join(STREAM_PIECES)
    assert USER not in json.dumps(upstream.bodies[-1])


async def test_responses_process__a_denied_provider_is_never_contacted(
    sdk: openai.AsyncOpenAI, upstream: Upstream
) -> None:
    before = len(upstream.bodies)

    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError):
            await sdk.responses.create(
                model="GPT 4.1",
                input="Say hello.",
                stream=stream,
                extra_body={"privacy": {"deny_providers": ["openai"]}},
            )

    assert len(upstream.bodies) == before
