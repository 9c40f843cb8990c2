"""Test-wide setup: litellm offline and on httpx (so respx sees its traffic), settings isolated."""

from __future__ import annotations

import os

# Before anything imports litellm: no network fetch of price maps, httpx transport (respx-visible).
os.environ["LITELLM_OFFLINE_MODE"] = "true"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "True"

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from tests._support.repo import REPO

# Every variable config/routes.yaml names as a provider credential: a developer's real keys
# must never decide a test's outcome (or reach a mocked request).
PROVIDER_CREDENTIALS = frozenset(
    name
    for options in yaml.safe_load((REPO / "config" / "routes.yaml").read_text())[
        "credentials"
    ].values()
    for option in options
    for name in option
)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's POLICY_ROUTER_* settings, provider keys or .env file."""
    for name in list(os.environ):
        if name.startswith("POLICY_ROUTER_") or name in PROVIDER_CREDENTIALS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLICY_ROUTER_DATA_DIR", str(tmp_path / "data"))
    # Provider calls on httpx, where respx sees them (production's default is aiohttp).
    monkeypatch.setenv("POLICY_ROUTER_TRANSPORT", "httpx")
    # One send per route: the suite's failover tests count sends route by route. Resends on
    # the same route, at their default of 2, have their own tests (tests/pipeline/test_resend.py),
    # which set this back with the `resending` fixture.
    monkeypatch.setenv("POLICY_ROUTER_RESENDS", "0")


@pytest.fixture
def resending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resends as a user gets them: the setting's default (2)."""
    monkeypatch.delenv("POLICY_ROUTER_RESENDS")


@pytest.fixture(autouse=True)
def _audit_records_follow_their_schema(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every audit record this process writes during a test is checked against its event's
    schema (router/_audit/records.py) as it is sealed; a test that wrote an invalid one fails.
    Tests of the writer or the verifier that write hand-made records say so with
    ``@pytest.mark.audit_free_form``."""
    if request.node.get_closest_marker("audit_free_form"):
        yield
        return
    from router._audit import chain, records

    seal = chain.seal
    invalid: list[str] = []

    def checked(body: bytes, value: str) -> bytes:
        line = seal(body, value)
        record = orjson.loads(line)
        found = records.problems(record)
        if found:
            invalid.append(f"{record.get('event')}: {'; '.join(found)}")
        return line

    monkeypatch.setattr(chain, "seal", checked)
    yield
    assert invalid == [], "audit records that do not follow router/_audit/records.py"


@pytest.fixture
def claude_chat_lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain chat to Claude on Anthropic on the router's own path (router/_upstream/chat_claude.py)
    whatever litellm is installed: for tests of what the router does with it. Only the litellm
    it reproduces takes it in use (tests/upstream/test_chat_claude.py)."""
    from router._upstream import chat_claude

    monkeypatch.setattr(chat_claude, "LITELLM", chat_claude.installed_litellm())
