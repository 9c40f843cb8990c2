"""What the tests of requests sent as they came share (tests/apis/test_messages_native.py,
tests/apis/test_responses_native.py): the audit lines and records, a router on a catalog of
two providers, the strategies of the identifier property, and the wire text outside content."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from hypothesis import strategies as st

from router import PolicyRouter
from router._audit import AuditLog
from router._config.settings import Settings
from tests._support.wire import use_fake_credentials


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def records(lines: list[str], event: str | None = None) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in lines]
    return [r for r in parsed if event is None or r["event"] == event]


def two_provider_router(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    rule: str,
    catalog: str,
    deployment: str,
) -> PolicyRouter:
    """A router on ``catalog`` (its ``RULE`` the identifier rule) and ``deployment``."""
    use_fake_credentials(monkeypatch)
    folder = tmp_path / rule
    folder.mkdir(exist_ok=True)
    (folder / "catalog.yaml").write_text(catalog.replace("RULE", rule))
    (folder / "routes.yaml").write_text(deployment)
    config = Settings(
        catalog=folder / "catalog.yaml",
        deployment=folder / "routes.yaml",
        store_url="sqlite:///:memory:",
        pseudonym_key="property-test-key-" + "0" * 16,
    )
    return PolicyRouter.from_settings(config, audit_log=AuditLog(lines.append))


def text(user: str) -> st.SearchStrategy[str]:
    """A string that may be the user id, hold it, or not."""
    plain = st.text(alphabet="abcdefxyz ", min_size=1, max_size=6)
    return st.one_of(plain, st.just(user), plain.map(lambda s: f"{s}{user}"))


def integer(user: str) -> st.SearchStrategy[int]:
    """An integer that may be a numeric user id."""
    return st.integers(1, 1000) | (st.just(int(user)) if user.isdigit() else st.just(7))


def outside_content(wire_text: str, content: Iterable[str]) -> str:
    """The wire text with every content string removed (raw and as JSON escapes it)."""
    for piece in sorted(content, key=len, reverse=True):
        if piece:
            wire_text = wire_text.replace(json.dumps(piece)[1:-1], "").replace(piece, "")
    return wire_text
