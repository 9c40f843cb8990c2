"""The framework suite's harness: a fake OpenAI on loopback, the router installed as the gate.

Each test runs one framework's own code, unchanged, after ``router.install()``: its usual
model string (``openai/gpt-4.1``), its own way of passing a user id. The catalog's route for
GPT 4.1 on OpenAI is ``user_identifier: omit``, so the router must scrub the id before it
sends. The fake provider also stands where the openai SDK and litellm would go on their own
(``OPENAI_BASE_URL``, ``OPENAI_API_BASE``): a send that skips the router lands there too,
unaudited, and the count below catches it. Every test ends with the same checks:

- the raw user id is nowhere in any request the fake received (path, headers, body);
- every request the fake received is one audited ``route.attempt`` of exactly one send,
  so nothing was sent outside the router;
- every call was decided and attempted for this user (by the audit's pseudonym), on the
  route the policy allows, and nothing was refused.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import router
from router._core.pseudonym import Pseudonymizer
from tests._support.fake_upstream import Answer, FakeUpstream, fake_upstream
from tests._support.wire import FAKE_CREDENTIALS
from tests.test_router import Audit, make_router

# Frameworks read these at import or first use; the suite never leaves loopback.
os.environ.setdefault("DSPY_CACHEDIR", str(Path(tempfile.gettempdir()) / "dspy-cache"))
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # its exporter posts traces to OpenAI
os.environ["HF_HUB_OFFLINE"] = "1"

USER = "alice-frameworks-4242"
MODEL = "openai/gpt-4.1"  # litellm's model string, as each framework's documentation writes it
PSEUDONYM_KEY = "test-pseudonym-key-0123456789abcdef"
ANSWER = "It is sunny in Paris."


class Weather(BaseModel):
    """The structured output every framework asks for."""

    city: str
    sky: str


PARIS = Weather(city="Paris", sky="sunny")


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A model with a ``get_weather`` tool: it calls the tool until the tool has answered, then
    answers in text; JSON when a schema is asked for."""
    if body.get("response_format"):
        return {"content": PARIS.model_dump_json()}
    if body.get("tools") and not any(m["role"] == "tool" for m in body["messages"]):
        return {"tool_calls": [("get_weather", {"city": "Paris"})]}
    return {"content": ANSWER}


@dataclass
class Gate:
    """The fake provider and the audit records of one test."""

    upstream: FakeUpstream
    audit: Audit

    def serve(self, *script: str, answer: Answer | None = None) -> None:
        """Answer the next requests with ``script`` (the last repeats), messages by ``answer``."""
        self.upstream.script[:] = list(script) or ["ok"]
        self.upstream.answer = answer

    def attempts(self) -> list[dict[str, Any]]:
        return self.audit.events("route.attempt")

    def assert_recovered(self, status: int) -> None:
        """One call: the provider's ``status`` once, then the router's resend on the same route."""
        (decision,) = self.audit.events("route.decision")  # the framework called once
        first, second = self.attempts()
        assert (first["status_code"], second["outcome"]) == (status, "ok")
        assert first["request_id"] == second["request_id"] == decision["request_id"]
        assert first["route"] == second["route"]

    def assert_clean(self) -> None:
        """The checks every test ends with (see the module's docstring)."""
        received = self.upstream.received
        assert received, "the framework sent nothing"
        leaks = [r.path for r in received if USER in r.text()]
        assert not leaks, f"the raw user id reached the provider in {len(leaks)} request(s)"
        attempts = self.attempts()
        sends = [a["sends"] for a in attempts]
        assert sends == [1] * len(received), (
            f"{len(received)} request(s) reached the provider; the audit accounts for {sends}"
        )
        assert not self.audit.events("route.refused")
        audit_user = Pseudonymizer(PSEUDONYM_KEY.encode()).for_audit(USER)
        for record in [*self.audit.events("route.decision"), *attempts]:
            assert record["user"] == audit_user, "the framework's user id did not reach the router"
        for attempt in attempts:
            assert (attempt["route"], attempt["identifier_rule"]) == ("gpt-4-1/openai", "omit")


@pytest.fixture
def default_loop() -> Iterator[None]:
    """Closes the thread's default event loop when the test ends: openai-agents' ``run_sync``
    makes one and leaves it open for its next call, as a script's would be, and so does a sync
    ``litellm.completion`` that litellm itself sends (its service logger asks for one); left
    to the garbage collector, it warns (ResourceWarning) inside a later test."""
    yield
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:  # none was left (the thread's loop was set to None before)
        return
    loop.close()
    policy.set_event_loop(None)


@contextmanager
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    """The fake OpenAI, where the router's route and every unrouted OpenAI client would go."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_CREDENTIALS["OPENAI_API_KEY"])
    with fake_upstream("ok") as upstream:
        monkeypatch.setenv("OPENAI_BASE_URL", upstream.base)
        monkeypatch.setenv("OPENAI_API_BASE", upstream.base)
        yield upstream


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gate]:
    """The router installed in front of a fake OpenAI; the checks run when the test ends."""
    # resends as a user gets them (the setting's default), which the rest of the suite turns off
    monkeypatch.delenv("POLICY_ROUTER_RESENDS", raising=False)
    with provider(monkeypatch) as upstream:
        audit = Audit()
        policy_router = make_router(
            tmp_path, audit, providers={"openai": {"api_base": upstream.base}}
        )
        router.install(policy_router)
        try:
            yield Gate(upstream, audit)
        finally:
            router.uninstall()
            policy_router.close()
        Gate(upstream, audit).assert_clean()
