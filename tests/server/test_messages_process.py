"""The ``anthropic`` SDK against a real ``policy-router serve`` process, changed only in its
base URL and key, in front of a fake provider on loopback (tests/_support/fake_upstream.py)
that answers OpenAI's chat format and, on ``/messages``, Anthropic's Messages format.

GPT 4.1 (OpenAI) is served through translation; Claude 4.5 Sonnet (Anthropic) goes out as a
Messages call. Both routes omit the end user's identifier: ``metadata.user_id`` decides,
and never reaches the provider.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anthropic
import httpx2
import pytest

from router._audit import records as audit_records
from tests._support.fake_upstream import TEXT, FakeUpstream, fake_upstream
from tests._support.process import clean_environment, free_port, wait_until_healthy

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

API_KEY: Final = "messages-process-api-key-0001"
USER: Final = "sentinel-user-4b1d"
HELLO: Final = [{"role": "user", "content": "Say hello."}]


@dataclass
class Served:
    port: int
    data_dir: Path
    upstream: FakeUpstream

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def audit(self) -> list[dict[str, Any]]:
        """The server's audit records, each checked against its event's schema."""
        text = (self.data_dir / "audit.jsonl").read_text(encoding="utf-8")
        written = [json.loads(line) for line in text.splitlines()]
        assert [p for r in written for p in audit_records.problems(r)] == []
        return written

    def logs(self) -> str:
        return (self.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")


def _environment(data_dir: Path, upstream: FakeUpstream) -> dict[str, str]:
    return clean_environment(
        POLICY_ROUTER_SERVER__API_KEYS=json.dumps([API_KEY]),
        POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE=upstream.base,
        POLICY_ROUTER_PROVIDERS__ANTHROPIC__API_BASE=upstream.base.removesuffix("/v1"),
        POLICY_ROUTER_ORG__ALLOW_PROVIDERS='["openai", "anthropic"]',
        POLICY_ROUTER_DATA_DIR=str(data_dir),
        POLICY_ROUTER_AUDIT=str(data_dir / "audit.jsonl"),
        POLICY_ROUTER_PSEUDONYM_KEY="test-pseudonym-key-0123456789abcdef",
        OPENAI_API_KEY="sk-fake-upstream-key-for-the-messages-test",
        ANTHROPIC_API_KEY="sk-ant-fake-upstream-key-for-the-messages-test",
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("messages")
    with fake_upstream("ok") as upstream:
        served = Served(free_port(), data_dir, upstream)
        with (data_dir / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "serve", "--port", str(served.port)],
                env=_environment(data_dir, upstream),
                cwd=data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_healthy(served.base_url, process, served.logs)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def client(served: Served) -> Iterator[anthropic.Anthropic]:
    with httpx2.Client(trust_env=False) as http:
        yield anthropic.Anthropic(
            base_url=served.base_url, api_key=API_KEY, http_client=http, max_retries=0
        )


def _last_sent(served: Served) -> dict[str, Any]:
    return served.upstream.requests[-1]


def test_sdk__messages_create_on_a_non_anthropic_model(
    client: anthropic.Anthropic, served: Served
) -> None:
    raw = client.messages.with_raw_response.create(
        model="GPT 4.1", max_tokens=64, messages=HELLO, metadata={"user_id": USER}
    )
    reply = raw.parse()
    assert reply.content[0].type == "text"
    assert reply.content[0].text == TEXT
    assert reply.model == "GPT 4.1"
    assert reply.stop_reason == "end_turn"
    assert raw.headers["x-router-route"] == "gpt-4-1/openai"
    sent = _last_sent(served)
    assert sent["model"] == "gpt-4.1"
    assert USER not in json.dumps(sent)  # OpenAI's route omits the identifier
    request_id = raw.headers["x-request-id"]
    mine = [r for r in served.audit() if r.get("request_id") == request_id]
    assert [(r["event"], r["api"]) for r in mine] == [
        ("route.decision", "messages"),
        ("route.attempt", "messages"),
    ]


def test_sdk__messages_create_on_claude_goes_out_as_it_came(
    client: anthropic.Anthropic, served: Served
) -> None:
    reply = client.messages.create(
        model="Claude 4.5 Sonnet",
        max_tokens=64,
        system="Be brief.",
        messages=HELLO,
        metadata={"user_id": USER},
    )
    assert reply.content[0].text == TEXT
    sent = _last_sent(served)  # as it came, the route's model id, no metadata (omit)
    assert sent == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 64,
                    "system": "Be brief.", "messages": HELLO}  # fmt: skip


@pytest.mark.parametrize("model", ["GPT 4.1", "Claude 4.5 Sonnet"])
def test_sdk__messages_stream_helper(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == TEXT
    assert final.content[0].text == TEXT
    assert final.stop_reason == "end_turn"


def test_sdk__stream_true_gives_anthropics_events(client: anthropic.Anthropic) -> None:
    events = list(
        client.messages.create(model="GPT 4.1", max_tokens=64, messages=HELLO, stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds
    pieces = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(pieces) == TEXT


def test_sdk__count_tokens_contacts_no_provider(
    client: anthropic.Anthropic, served: Served
) -> None:
    sent_before = len(served.upstream.requests)
    counted = client.messages.count_tokens(model="Claude 4.5 Sonnet", messages=HELLO)
    assert counted.input_tokens > 0
    assert len(served.upstream.requests) == sent_before


async def test_sdk__async_client(served: Served) -> None:
    async with httpx2.AsyncClient(trust_env=False) as http:
        client = anthropic.AsyncAnthropic(
            base_url=served.base_url, api_key=API_KEY, http_client=http, max_retries=0
        )
        reply = await client.messages.create(model="GPT 4.1", max_tokens=64, messages=HELLO)
    assert reply.content[0].text == TEXT


def test_sdk__errors_are_the_sdks_exceptions(client: anthropic.Anthropic, served: Served) -> None:
    sent_before = len(served.upstream.requests)
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client.messages.create(
            model="Claude 4.5 Sonnet",
            max_tokens=64,
            messages=HELLO,
            extra_body={"privacy": {"deny_providers": ["anthropic"]}},
        )
    assert "no route of 'Claude 4.5 Sonnet' is allowed" in str(denied.value)
    with pytest.raises(anthropic.BadRequestError, match="server tool 'web_search_20250305'"):
        client.messages.create(
            model="GPT 4.1",
            max_tokens=64,
            messages=HELLO,
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="No Such Model", max_tokens=64, messages=HELLO)
    assert len(served.upstream.requests) == sent_before  # none of these reached a provider
    with httpx2.Client(trust_env=False) as http:
        wrong = anthropic.Anthropic(
            base_url=served.base_url, api_key="wrong-key-00000000", http_client=http, max_retries=0
        )
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.create(model="GPT 4.1", max_tokens=64, messages=HELLO)
