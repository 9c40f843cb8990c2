"""``PolicyRouter.amessages``: the Messages API in the library, on the chat policy path
(router/_apis/messages.py). Offline: litellm answers itself, no provider is contacted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import openai
import pytest

from router import InvalidRequest, PolicyRouter, PolicyViolation, UnknownModel
from router._audit import AuditLog
from router._config.settings import Settings

USER: Final = "sentinel-user-4b1d"
HELLO: Final = [{"role": "user", "content": "Say hello."}]
OFFLINE_TEXT: Final = "[offline] policy-router chose OpenAI for GPT 4.1; no provider was contacted."


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
async def router(tmp_path: Path, lines: list[str]) -> AsyncIterator[PolicyRouter]:
    settings = Settings(
        offline=True,
        store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
    )
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as built:
        yield built


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


async def test_amessages__answers_a_messages_response(
    router: PolicyRouter, lines: list[str]
) -> None:
    reply = await router.amessages(
        model="GPT 4.1", max_tokens=32, messages=HELLO, metadata={"user_id": USER}
    )
    assert reply["type"] == "message"
    assert reply["model"] == "GPT 4.1"
    assert reply["content"] == [{"type": "text", "text": OFFLINE_TEXT}]
    assert reply["stop_reason"] == "end_turn"
    decision, attempt = records(lines)
    assert (decision["event"], decision["api"]) == ("route.decision", "messages")
    assert (attempt["event"], attempt["api"], attempt["outcome"]) == (
        "route.attempt",
        "messages",
        "ok",
    )
    assert decision["user"] == router.pipeline._pseudonymizer.for_audit(
        USER
    )  # metadata.user_id decides


async def test_amessages__streams_anthropics_sse_events(router: PolicyRouter) -> None:
    stream = await router.amessages(model="GPT 4.1", max_tokens=32, messages=HELLO, stream=True)
    events = [event async for event in stream]
    assert events[0].startswith(b"event: message_start\ndata: {")
    assert events[1] == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert events[-1] == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    deltas = [
        json.loads(e.split(b"data: ", 1)[1])
        for e in events
        if e.startswith(b"event: content_block_delta")
    ]
    assert "".join(d["delta"]["text"] for d in deltas) == OFFLINE_TEXT


async def test_amessages__refuses_outside_its_surface_as_a_bad_request(
    router: PolicyRouter, lines: list[str]
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await router.amessages(model="GPT 4.1", max_tokens=32, messages=HELLO, top_logprobs=2)
    assert isinstance(refused.value, openai.BadRequestError)  # litellm's callers catch these
    assert refused.value.param == "top_logprobs"
    (record,) = records(lines)
    assert (record["event"], record["api"], record["model"]) == (
        "route.refused",
        "messages",
        "gpt-4-1",
    )


async def test_amessages__the_policy_path_is_chats(router: PolicyRouter) -> None:
    with pytest.raises(UnknownModel):
        await router.amessages(model="No Such Model", max_tokens=32, messages=HELLO)
    with pytest.raises(PolicyViolation) as denied:
        await router.amessages(
            model="GPT 4.1",
            max_tokens=32,
            messages=HELLO,
            privacy={"deny_providers": ["openai", "azure"]},
        )
    assert "Claude 4.5 Sonnet" in denied.value.alternatives
