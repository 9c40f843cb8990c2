"""The suite's checks can fail: a call that skips the gate is caught by each of them."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator

import litellm  # noqa: TID251
import pytest

from tests.frameworks.conftest import MODEL, USER, Gate, provider
from tests.test_router import Audit

pytestmark = [pytest.mark.frameworks, pytest.mark.usefixtures("default_loop")]

QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(autouse=True)
def close_unrouted_clients() -> Iterator[None]:
    """The clients plain litellm cached for these unrouted calls, closed when the test ends:
    left to the garbage collector (a later test flushes litellm's cache), their sockets warn
    (ResourceWarning), which the suite turns into an error at its end."""
    cache = litellm.in_memory_llm_clients_cache.cache_dict
    before = set(cache)
    yield
    for key in set(cache) - before:
        close = getattr(cache.pop(key), "close", None)
        if callable(close) and not inspect.iscoroutinefunction(close):
            close()


def test_checks__catch_the_raw_id_of_a_call_that_skipped_the_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with provider(monkeypatch) as upstream:
        litellm.completion(model=MODEL, messages=QUESTION, user=USER)
    assert json.loads(upstream.received[0].body)["user"] == USER
    with pytest.raises(AssertionError, match="raw user id reached the provider"):
        Gate(upstream, Audit()).assert_clean()


def test_checks__catch_an_unaudited_send_without_a_user_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with provider(monkeypatch) as upstream:
        litellm.completion(model=MODEL, messages=QUESTION)
    with pytest.raises(AssertionError, match="1 request"):
        Gate(upstream, Audit()).assert_clean()
