"""The real ``policy-router serve`` process, over TCP, in front of a fake OpenAI upstream.

The upstream is a small HTTP server on loopback that answers in OpenAI's wire format (the
canned replies of ``tests._support.wire``); a message containing "slow" makes it wait, so a request can
be in flight when the proxy gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionUserMessageParam

from router._audit import records as audit_records
from tests._support.process import clean_environment, free_port
from tests._support.process import wait_until_healthy as shared_wait_until_healthy
from tests._support.wire import (
    CANNED_TEXT,
    STREAM_PIECES,
    WIRES,
    reply,
    sse_response,
)

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

API_KEY: Final = "process-api-key-0001"
ADMIN_KEY: Final = "process-admin-key"
UPSTREAM_KEY: Final = "sk-fake-upstream-key-for-the-process-test"
SLOW_SECONDS: Final = 3.0


@dataclass
class Upstream:
    """A fake OpenAI chat endpoint on loopback; remembers each request body it got."""

    port: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    slow_started: threading.Event = field(default_factory=threading.Event)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                upstream.bodies.append(body)
                if "slow" in json.dumps(body["messages"]):
                    upstream.slow_started.set()
                    time.sleep(SLOW_SECONDS)
                if body.get("stream"):
                    kind, content = "text/event-stream", sse_response(WIRES["openai"]).content
                else:
                    kind, content = "application/json", json.dumps(reply(WIRES["openai"])).encode()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def environment(data_dir: Path, upstream_port: int, **extra: str) -> dict[str, str]:
    """The process's environment: ours only, no developer settings or provider credentials."""
    return clean_environment(
        **{
            "POLICY_ROUTER_SERVER__API_KEYS": json.dumps([API_KEY]),
            "POLICY_ROUTER_SERVER__ADMIN_KEYS": json.dumps([ADMIN_KEY]),
            "POLICY_ROUTER_SERVER__GRACEFUL_TIMEOUT": "30",
            "POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE": f"http://127.0.0.1:{upstream_port}/v1",
            "POLICY_ROUTER_ORG__ALLOW_PROVIDERS": '["openai"]',
            "POLICY_ROUTER_DATA_DIR": str(data_dir),
            "POLICY_ROUTER_AUDIT": str(data_dir / "audit.jsonl"),
            "OPENAI_API_KEY": UPSTREAM_KEY,
            **extra,
        }
    )


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return (self.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")

    def audit(self) -> list[dict[str, Any]]:
        """The server's audit records, each checked against its event's schema."""
        text = (self.data_dir / "audit.jsonl").read_text(encoding="utf-8")
        written = [json.loads(line) for line in text.splitlines()]
        assert [p for r in written for p in audit_records.problems(r)] == []
        return written


def serve(data_dir: Path, upstream: Upstream, *args: str, **env: str) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "server.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", *args],
            env=environment(data_dir, upstream.port, **env),
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_until_healthy(served: Served) -> None:
    shared_wait_until_healthy(served.base_url, served.process, served.logs)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Served]:
    """One server process shared by the tests that do not stop it."""
    data_dir = tmp_path_factory.mktemp("served")
    port = free_port()
    served = Served(serve(data_dir, upstream, "--port", str(port)), port, data_dir)
    try:
        wait_until_healthy(served)
        yield served
    finally:
        stop(served.process)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture
async def sdk(started: Served) -> AsyncIterator[openai.AsyncOpenAI]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield openai.AsyncOpenAI(
            base_url=f"{started.base_url}/v1", api_key=API_KEY, http_client=http, max_retries=0
        )


HELLO: Final[tuple[ChatCompletionUserMessageParam, ...]] = (
    {"role": "user", "content": "Say hello."},
)


async def test_process__sdk_gets_a_completion_over_tcp(
    sdk: openai.AsyncOpenAI, started: Served, upstream: Upstream
) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(
        model="GPT 4.1", messages=list(HELLO), user="zelda"
    )
    assert raw.parse().choices[0].message.content == CANNED_TEXT
    assert upstream.bodies[-1]["model"] == "gpt-4.1"
    assert "user" not in upstream.bodies[-1]  # OpenAI routes omit the end user's id
    request_id = raw.headers["x-request-id"]
    mine = [r for r in started.audit() if r.get("request_id") == request_id]
    assert [r["event"] for r in mine] == ["route.decision", "route.attempt"]


async def test_process__sdk_streams_over_tcp(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(model="gpt-4-1", messages=list(HELLO), stream=True)
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == "".join(STREAM_PIECES)


async def test_process__models_and_preferences_over_tcp(started: Served) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=started.base_url, trust_env=False) as http:
        prefs = {"max_retention": "none"}
        put = await http.put("/v1/users/zelda/preferences", json=prefs, headers=admin)
        models = await http.get("/v1/models", params={"user": "zelda"}, headers=admin)
    assert put.status_code == 200
    assert models.status_code == 200
    assert all(m["providers"] == ["openai"] for m in models.json()["data"])


async def test_process__logs_hold_no_user_id_and_no_key(started: Served) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=started.base_url, trust_env=False) as http:
        await http.get("/v1/users/yusuf/preferences", headers=admin)
        await http.get("/v1/models", params={"user": "yusuf"}, headers=admin)
    logs = started.logs()
    assert "GET /v1/users/{user}/preferences 404" in logs
    # one start-up summary, before uvicorn says it has started (it names counts, not keys)
    assert logs.count(f"listening on {started.base_url} (1 process)") == 1
    assert logs.index("  auth: Bearer keys: ") < logs.index("Application startup complete")
    for secret in ("yusuf", "zelda", API_KEY, ADMIN_KEY, UPSTREAM_KEY):
        assert secret not in logs
    assert "zelda" not in (started.data_dir / "audit.jsonl").read_text()


async def test_process__sigterm_lets_the_request_in_flight_finish_then_exits_0(
    tmp_path: Path, upstream: Upstream
) -> None:
    port, data_dir = free_port(), tmp_path / "graceful"
    served = Served(serve(data_dir, upstream, "--port", str(port)), port, data_dir)
    try:
        wait_until_healthy(served)
        upstream.slow_started.clear()
        async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
            sdk = openai.AsyncOpenAI(
                base_url=f"{served.base_url}/v1", api_key=API_KEY, http_client=http
            )
            slow: list[ChatCompletionUserMessageParam] = [
                {"role": "user", "content": "a slow one, please"}
            ]
            in_flight = asyncio.create_task(
                sdk.chat.completions.create(model="GPT 4.1", messages=slow)
            )
            assert await asyncio.to_thread(upstream.slow_started.wait, 60)
            served.process.send_signal(signal.SIGTERM)
            completion = await in_flight
        assert completion.choices[0].message.content == CANNED_TEXT
        assert served.process.wait(timeout=60) == 0
    finally:
        stop(served.process)
    assert "Shutting down" in served.logs()


@pytest.mark.parametrize(
    ("args", "env", "refusal"),
    [
        pytest.param(
            [], {"POLICY_ROUTER_SERVER__API_KEYS": "[]", "POLICY_ROUTER_SERVER__ADMIN_KEYS": "[]"},
            "no API key is configured", id="no key",
        ),
        pytest.param(
            ["--allow-no-auth", "--host", "0.0.0.0"],  # noqa: S104  # the refusal under test
            {"POLICY_ROUTER_SERVER__API_KEYS": "[]", "POLICY_ROUTER_SERVER__ADMIN_KEYS": "[]"},
            "--allow-no-auth is allowed on a loopback host only", id="no key on every interface",
        ),
    ],
)  # fmt: skip
def test_process__refuses_to_start_without_keys(
    tmp_path: Path, upstream: Upstream, args: list[str], env: dict[str, str], refusal: str
) -> None:
    process = serve(tmp_path, upstream, "--port", str(free_port()), *args, **env)
    assert process.wait(timeout=60) == 1
    output = (tmp_path / "server.log").read_text().strip()
    assert len(output.splitlines()) == 1
    assert output.startswith("error: refusing to start: ")
    assert refusal in output
