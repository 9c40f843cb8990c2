"""``timeout`` is the deadline of the whole call; ``num_retries`` and ``max_retries`` count
resends to the same route, as in litellm (tests/pipeline/test_resend.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import litellm  # noqa: TID251
import openai
import pytest
import respx

from router import BackendUnavailable, InvalidRequest, PolicyRouter
from router._audit import AuditLog
from router._config.settings import Settings
from tests import test_router
from tests._support.fake_upstream import fake_upstream
from tests.test_router import KIMI, MESSAGES, USER, Audit, completion, make_router

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


@pytest.mark.parametrize(
    ("behaviour", "stream"),
    [("hang", False), ("hang", True), ("stall", True)],
    ids=["no answer", "no answer to a stream", "a stream's headers, then no first chunk"],
)
async def test_timeout__bounds_the_whole_call_failover_included(
    tmp_path: Path,
    audit: Audit,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: str,
    stream: bool,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "sk-fake")
    monkeypatch.setenv("NEBIUS_API_KEY", "sk-fake")
    with fake_upstream(behaviour) as upstream:
        settings = Settings(
            store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
            pseudonym_key="test-pseudonym-key-0123456789abcdef",
            timeout=5,  # each attempt's own limit; the caller's timeout is the shorter one
            providers={"groq": {"api_base": upstream.base}, "nebius": {"api_base": upstream.base}},
        )
        router = PolicyRouter.from_settings(settings, audit_log=AuditLog(audit.lines.append))
        started = time.monotonic()
        try:
            with pytest.raises(litellm.Timeout) as caught:
                await router.acompletion("kimi-k2", MESSAGES, USER, timeout=1, stream=stream)
        finally:
            elapsed = time.monotonic() - started
            await router.aclose()
    error: Any = caught.value
    assert isinstance(error, BackendUnavailable)
    assert isinstance(error, openai.APITimeoutError)
    assert error.status_code == 408
    assert elapsed < 3, f"the call took {elapsed:.1f} s with timeout=1"
    attempts = [(a["provider"], a["outcome"]) for a in audit.events("route.attempt")]
    assert attempts == [("groq", "timeout")]  # no attempt starts after the deadline
    assert len(upstream.requests) == 1


async def test_num_retries__resends_to_each_allowed_route_then_fails_over(
    router: PolicyRouter,
    wire: respx.MockRouter,
    audit: Audit,
) -> None:
    """As in litellm, num_retries resends the call to the same backend (tests/pipeline/test_resend.py
    has the rest); every allowed route is still tried after its resends."""
    router.loaded.failover._sleep = _no_wait
    routes = {slug: wire.post(url).respond(429, json={"error": {"message": "slow"}}) for slug, url in KIMI.items()}  # fmt: skip
    with pytest.raises(litellm.RateLimitError) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, num_retries=1)
    tried = [a.route.provider.slug for a in caught.value.attempts]  # type: ignore[attr-defined]
    assert tried == [slug for slug in KIMI for _ in range(2)]
    # one send per attempt: litellm never retried by itself
    assert {slug: r.call_count for slug, r in routes.items()} == dict.fromkeys(KIMI, 2)
    assert len(audit.events("route.attempt")) == 10


async def _no_wait(_seconds: float) -> None:
    return None


async def test_max_retries_0__sends_once_to_a_route_then_fails_over(
    router: PolicyRouter,
    wire: respx.MockRouter,
) -> None:
    groq = wire.post(KIMI["groq"]).respond(503, json={"error": {"message": "down"}})
    nebius = wire.post(KIMI["nebius"]).respond(200, json=completion())
    await router.acompletion("kimi-k2", MESSAGES, USER, max_retries=0)
    assert (groq.call_count, nebius.call_count) == (1, 1)


async def test_num_retries__an_answer_after_a_failover_is_returned(
    router: PolicyRouter,
    wire: respx.MockRouter,
) -> None:
    wire.post(KIMI["groq"]).respond(429, json={"error": {"message": "slow"}})
    wire.post(KIMI["nebius"]).respond(200, json=completion("from nebius"))
    response = await router.acompletion("kimi-k2", MESSAGES, USER, num_retries=0, timeout=30)
    assert response.choices[0].message.content == "from nebius"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"timeout": "soon"}, "'timeout' must be a finite number of seconds"),
        ({"timeout": float("nan")}, "'timeout' must be a finite number of seconds"),
        ({"timeout": 0}, "'timeout' must be more than 0 seconds"),
        ({"num_retries": -1}, "'num_retries' must be a whole number of 0 or more"),
        ({"max_retries": 1.5}, "'max_retries' must be a whole number of 0 or more (got a number)"),
    ],
    ids=["a timeout that is not a number", "a NaN timeout", "a zero timeout",
         "negative retries", "fractional retries"],
)  # fmt: skip
async def test_limits__bad_values_are_refused_before_anything_is_sent(
    router: PolicyRouter,
    wire: respx.MockRouter,
    audit: Audit,
    arguments: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, **arguments)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, litellm.BadRequestError)
    assert not wire.calls
    assert audit.events("route.refused")[0]["reason"] == "InvalidRequest"
