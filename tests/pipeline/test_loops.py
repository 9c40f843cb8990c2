"""The sync API: completion, responses and messages, from any thread and inside a running loop."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import respx

from router import PolicyRouter
from tests import test_router
from tests.test_router import KIMI, MESSAGES, USER, Audit, completion, make_router, sse

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


@pytest.fixture
def policy_router(tmp_path: Path, audit: Audit, keys: None) -> PolicyRouter:
    return make_router(tmp_path, audit)


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_completion__from_a_plain_thread_and_close_stops_its_loop(
    policy_router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    response = policy_router.completion("Kimi K2", MESSAGES, USER)
    assert response.choices[0].message.content == "hello from upstream"
    assert "policy-router" in _threads()
    assert USER not in wire.calls.last.request.content.decode()
    policy_router.close()
    assert "policy-router" not in _threads()
    assert [a["route"] for a in audit.events("route.attempt")] == ["kimi-k2/groq"]


def test_completion__from_worker_threads_at_once(
    policy_router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda i: policy_router.completion("Kimi K2", MESSAGES, f"user-{i}"), range(8))
        )
    policy_router.close()
    assert {a.choices[0].message.content for a in answers} == {"hello from upstream"}
    assert len(audit.events("route.attempt")) == 8


async def test_completion__from_code_already_inside_a_running_event_loop(
    policy_router: PolicyRouter, wire: respx.MockRouter
) -> None:
    """A notebook cell, or a framework's async code calling a sync library."""
    wire.post(KIMI["groq"]).respond(200, json=completion())
    response = policy_router.completion("Kimi K2", MESSAGES, USER)
    assert response.choices[0].message.content == "hello from upstream"
    await policy_router.aclose()
    assert "policy-router" not in _threads()


def test_completion__a_stream_is_a_sync_iterator_with_the_routers_attributes(
    policy_router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse("one two three")
    )
    with policy_router.completion("Kimi K2", MESSAGES, USER, stream=True) as stream:
        assert stream._hidden_params["policy_router"]["route"] == "kimi-k2/groq"
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == "one two three"
    policy_router.close()


def test_responses_and_messages__sync(policy_router: PolicyRouter, wire: respx.MockRouter) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    answer = policy_router.responses("Kimi K2", "hi", USER)
    assert answer.output[0].content[0].text == "hello from upstream"
    message = policy_router.messages(
        model="Kimi K2", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert message["content"][0]["text"] == "hello from upstream"
    policy_router.close()


def test_completion__errors_are_raised_in_the_callers_thread(
    policy_router: PolicyRouter, wire: respx.MockRouter
) -> None:
    from router import UnknownModel

    with pytest.raises(UnknownModel):
        policy_router.completion("no such model", MESSAGES, USER)
    assert not wire.calls
    policy_router.close()


async def test_sync_and_async_calls_on_one_router_read_the_same_stored_preferences(
    policy_router: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    await policy_router.preferences.set(USER, {"max_retention": "none"})
    await policy_router.acompletion("Kimi K2", MESSAGES, USER)
    policy_router.completion("Kimi K2", MESSAGES, USER)  # on its own loop, in its own thread
    await policy_router.acompletion("Kimi K2", MESSAGES, USER)
    await policy_router.aclose()
    decisions = audit.events("route.decision")
    assert [d["preferences"]["max_retention"] for d in decisions] == ["none"] * 3
    assert len(audit.events("route.attempt")) == 3


def test_a_sync_call_from_the_routers_own_loop_is_refused_not_deadlocked(
    policy_router: PolicyRouter, wire: respx.MockRouter
) -> None:
    from router import RouterError

    async def inside() -> object:  # e.g. sync code run by something the routed call awaits
        return policy_router.completion("Kimi K2", MESSAGES, USER)

    with pytest.raises(RouterError, match="from the router's own event loop"):
        policy_router._sync.run(inside())
    assert not wire.calls
    policy_router.close()
