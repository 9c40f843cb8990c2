"""The suite's checks can fail: a call that skips the gate is caught by each of them."""

from __future__ import annotations

import json

import litellm  # noqa: TID251
import pytest

from tests.frameworks.conftest import MODEL, USER, Gate, provider
from tests.test_router import Audit

pytestmark = [pytest.mark.frameworks, pytest.mark.usefixtures("default_loop")]

QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


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
