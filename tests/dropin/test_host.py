"""The router leaves the application's own litellm settings working, and stays out of them.

The application's callbacks and log handlers survive the router's first use and keep firing
for the application's own ``litellm.acompletion`` calls; they see nothing of routed calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import litellm  # noqa: TID251
import pytest
import respx
from litellm.caching.caching import Cache  # noqa: TID251
from litellm.integrations.custom_logger import CustomLogger  # noqa: TID251

from router import PolicyRouter
from router._upstream.callbacks import CALLBACK_LISTS, HostCallbacks, hidden_from_callbacks
from tests import test_router
from tests.test_router import CONTENT, KIMI, MESSAGES, USER, Audit, completion, make_router, sse

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


class Recorder(CustomLogger):
    """An application's callback: records every success it is told about, with its messages."""

    def __init__(self) -> None:
        super().__init__()
        self.successes: list[str] = []

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.successes.append(repr(kwargs.get("messages")))

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self.successes.append("pre:" + repr(messages))


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, logging.Handler]]:
    """An application that registered a litellm callback and a handler on litellm's logger."""
    for name in CALLBACK_LISTS:
        monkeypatch.setattr(litellm, name, list(getattr(litellm, name)))
    recorder = Recorder()
    litellm.callbacks.append(recorder)
    handler = logging.NullHandler()
    logger = logging.getLogger("LiteLLM")
    logger.addHandler(handler)
    try:
        yield recorder, handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


APPLICATION = textwrap.dedent(
    """
    import asyncio, logging
    import litellm
    from litellm.integrations.custom_logger import CustomLogger
    from router import PolicyRouter

    seen = []

    class Recorder(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            seen.append(kwargs["messages"][0]["content"])

    async def on_success(kwargs, response, start_time, end_time):
        seen.append("function:" + kwargs["messages"][0]["content"])

    litellm.callbacks.append(Recorder())
    litellm.success_callback.append(on_success)
    handler = logging.StreamHandler()
    logging.getLogger("LiteLLM").addHandler(handler)

    async def main():
        router = PolicyRouter.from_settings(offline=True, pseudonym_key="test-pseudonym-key-0123456789abcdef")
        await router.acompletion("Kimi K2", [{"role": "user", "content": "routed"}], user="u")
        await router.aclose()
        own = [{"role": "user", "content": "own"}]
        await litellm.acompletion(model="gpt-4.1", messages=own, mock_response="hi")
        await asyncio.sleep(0.5)  # litellm logs success from a task and a thread
        print(sorted(seen), handler in logging.getLogger("LiteLLM").handlers)

    asyncio.run(main())
    """
)


def test_the_applications_callbacks_and_log_handler_survive_the_routers_first_use(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "POLICY_ROUTER_AUDIT": str(tmp_path / "audit.jsonl")}
    done = subprocess.run(
        [sys.executable, "-c", APPLICATION], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # its own call reached both callbacks; the routed call reached neither
    assert done.stdout.strip() == "['function:own', 'own'] True"


async def test_the_applications_callback_sees_nothing_of_routed_calls(
    host: tuple[Recorder, logging.Handler], router: PolicyRouter, wire: respx.MockRouter
) -> None:
    recorder, _ = host
    before = {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS}
    wire.post(KIMI["groq"]).respond(200, json=completion(CONTENT))
    for _ in range(3):
        await router.acompletion("kimi-k2", MESSAGES, USER)
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=sse(CONTENT)
    )
    stream = await router.acompletion("kimi-k2", MESSAGES, USER, stream=True)
    _ = [chunk async for chunk in stream]
    await asyncio.sleep(0.1)

    assert recorder.successes == []
    assert {name: list(getattr(litellm, name)) for name in CALLBACK_LISTS} == before


async def test_the_applications_litellm_cache_neither_answers_nor_keeps_a_routed_call_even_asked(
    host: tuple[Recorder, logging.Handler],  # its callback lists are restored afterwards
    router: PolicyRouter,
    wire: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(litellm, "cache", Cache(type="local"))  # registers its own callbacks
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    asking = {"cache": {"no-cache": False, "no-store": False}, "caching": True}  # consumed
    await router.acompletion("kimi-k2", MESSAGES, USER, **asking)
    await router.acompletion("kimi-k2", MESSAGES, USER, **asking)
    assert groq.call_count == 2  # each call reached the route and was audited as an attempt


def test_host_callbacks__read_as_empty_only_inside_a_routed_call() -> None:
    callbacks = HostCallbacks(["a", "b"])
    with hidden_from_callbacks():
        inside = (list(callbacks), len(callbacks), bool(callbacks), "a" in callbacks)
        joined = (callbacks + ["c"], ["c"] + callbacks)  # noqa: RUF005 (what litellm does)
        assert (callbacks[:], *joined, callbacks.copy()) == ([], ["c"], ["c"], [])
        with pytest.raises(IndexError):
            callbacks[0]
        callbacks.append("added during the call")
    assert inside == ([], 0, False, False)
    assert list(callbacks) == ["a", "b", "added during the call"]
    assert callbacks[0] == "a"
