"""Resends on the same route (router/_core/resend.py, router/_pipeline/failover.py): a transient failure
is sent again after a backoff, honouring retry-after, by default twice, each resend its own
audited attempt; then failover; the caller's deadline bounds it all. The pause is injected:
no test waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import litellm  # noqa: TID251
import pytest
import respx

from router import BackendUnavailable, PolicyRouter, RequestRejected
from router._core.resend import delay, resends
from tests import test_router
from tests._support.wire import WIRES, reply
from tests.test_router import KIMI, MESSAGES, USER, Audit, completion, make_router, sse

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures

ANTHROPIC = "https://api.anthropic.com/v1/messages"
SLOW = {"error": {"message": "slow down"}}


class Pauses:
    """The failover's sleep: records each pause instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def router(
    tmp_path: Path, audit: Audit, keys: None, resending: None
) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


@pytest.fixture
def pauses(router: PolicyRouter) -> Pauses:
    recorded = Pauses()
    router.loaded.failover._sleep = recorded
    router.loaded.failover._jitter = lambda: 0.5
    return recorded


def attempts(audit: Audit) -> list[tuple[str, int, str, int]]:
    return [
        (a["route"], a["attempt"], a["outcome"], a["sends"]) for a in audit.events("route.attempt")
    ]


async def test_a_429_once_on_the_only_route__is_resent_and_answers(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    groq = wire.post(KIMI["groq"])
    groq.side_effect = [httpx.Response(429, json=SLOW), httpx.Response(200, json=completion())]

    response = await router.acompletion("groq/kimi-k2", MESSAGES, USER)  # Groq's route only

    assert response.choices[0].message.content == "hello from upstream"
    assert groq.call_count == 2
    assert attempts(audit) == [
        ("kimi-k2/groq", 1, "rate_limit", 1),
        ("kimi-k2/groq", 2, "ok", 1),
    ]
    assert pauses.seconds == [0.5 * (1 - 0.25 * 0.5)]  # the first backoff, with its jitter


async def test_backoff__doubles_then_fails_over_after_two_resends(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    groq = wire.post(KIMI["groq"]).respond(503, json={"error": {"message": "down"}})
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion("from nebius"))

    response = await router.acompletion("kimi-k2", MESSAGES, USER)

    assert response.choices[0].message.content == "from nebius"
    assert (groq.call_count, nebius.call_count) == (3, 1)
    assert [(a[0], a[2]) for a in attempts(audit)] == [
        ("kimi-k2/groq", "server"),
        ("kimi-k2/groq", "server"),
        ("kimi-k2/groq", "server"),
        ("kimi-k2/nebius", "ok"),
    ]
    assert pauses.seconds == [0.4375, 0.875]  # 0.5 s, then 1 s, less a quarter of the jitter


@pytest.mark.parametrize(
    ("headers", "paused"),
    [
        pytest.param({"retry-after": "3"}, 3.0, id="retry-after in seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="retry-after-ms"),
        pytest.param({"retry-after": "120"}, 0.4375, id="longer than 60 s: the backoff instead"),
    ],
)
async def test_retry_after__is_honoured_when_bounded(
    router: PolicyRouter,
    wire: respx.MockRouter,
    pauses: Pauses,
    headers: dict[str, str],
    paused: float,
) -> None:
    groq = wire.post(KIMI["groq"])
    groq.side_effect = [
        httpx.Response(429, json=SLOW, headers=headers),
        httpx.Response(200, json=completion()),
    ]

    await router.acompletion("groq/kimi-k2", MESSAGES, USER)

    assert pauses.seconds == [paused]


async def test_retry_after__is_read_on_the_litellm_path_too(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    anthropic = wire.post(ANTHROPIC)
    anthropic.side_effect = [
        httpx.Response(
            429,
            json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            headers={"retry-after": "2"},
        ),
        httpx.Response(200, json=reply(WIRES["anthropic"], "from claude")),
    ]

    response = await router.acompletion("anthropic/claude-4-5-sonnet", MESSAGES, USER)

    assert response.choices[0].message.content == "from claude"
    assert pauses.seconds == [2.0]
    assert [a[2:] for a in attempts(audit)] == [("rate_limit", 1), ("ok", 1)]


async def test_a_400__is_not_resent(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    groq = wire.post(KIMI["groq"]).respond(400, json={"error": {"message": "bad"}})

    with pytest.raises(RequestRejected):
        await router.acompletion("kimi-k2", MESSAGES, USER)

    assert groq.call_count == 1
    assert pauses.seconds == []
    assert len(audit.events("route.attempt")) == 1


async def test_deadline__no_resend_whose_wait_would_reach_it(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    groq = wire.post(KIMI["groq"]).respond(429, json=SLOW, headers={"retry-after": "30"})

    with pytest.raises(litellm.RateLimitError) as caught:
        await router.acompletion("groq/kimi-k2", MESSAGES, USER, timeout=10)

    assert isinstance(caught.value, BackendUnavailable)
    assert groq.call_count == 1
    assert pauses.seconds == []
    assert len(audit.events("route.attempt")) == 1


async def test_stream__a_failure_before_the_first_chunk_is_resent(
    router: PolicyRouter, wire: respx.MockRouter, audit: Audit, pauses: Pauses
) -> None:
    groq = wire.post(KIMI["groq"])
    groq.side_effect = [
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse("hi")),
    ]

    stream = await router.acompletion("groq/kimi-k2", MESSAGES, USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])

    assert text == "hi"
    assert [a[2] for a in attempts(audit)] == ["server", "ok"]
    assert len(pauses.seconds) == 1


@pytest.mark.parametrize(
    ("limits", "sends"),
    [
        pytest.param({"max_retries": 0}, 1, id="max_retries=0: the openai SDK's no resend"),
        pytest.param({"max_retries": 1}, 2, id="max_retries=1"),
        pytest.param({"num_retries": 1, "max_retries": 0}, 2, id="litellm's num_retries on top"),
        pytest.param({"num_retries": 1}, 4, id="num_retries on top of the default 2"),
        pytest.param({}, 3, id="the default: 2 resends"),
    ],
)
async def test_num_retries_and_max_retries__count_resends_to_the_same_route(
    router: PolicyRouter,
    wire: respx.MockRouter,
    pauses: Pauses,
    limits: dict[str, int],
    sends: int,
) -> None:
    groq = wire.post(KIMI["groq"]).respond(500, json={"error": {"message": "boom"}})

    with pytest.raises(BackendUnavailable) as caught:
        await router.acompletion("groq/kimi-k2", MESSAGES, USER, **limits)

    assert groq.call_count == sends
    assert len(caught.value.attempts) == sends


# --- the pure rules ----------------------------------------------------------------------


def test_resends__as_litellm_and_the_openai_sdk_count_them() -> None:
    assert resends(None, None, 2) == 2
    assert resends(3, None, 2) == 5
    assert resends(0, 0, 2) == 0


def test_delay__backs_off_exponentially_up_to_eight_seconds() -> None:
    assert [delay(n, None, 0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert delay(0, None, 0.999) == pytest.approx(0.375, abs=0.001)
    assert delay(3, 60.0, 0.5) == 60.0
    assert delay(0, 0.0, 0.0) == 0.5  # retry-after 0: the backoff
