"""What ``serve`` loads at start-up: litellm only when a route or an API needs its translation.

Each server here is the real ``policy-router serve`` process, run by a probe that, when the
process exits after SIGTERM's graceful shutdown, writes whether litellm was ever imported
(``"litellm" in sys.modules``: a module once imported stays there). The upstream is a fake
OpenAI provider on loopback. The start-up summary's litellm line is checked in the log; the
line itself, per deployment, in the table below.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest

from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.startup import litellm_use
from tests._support.fake_upstream import TEXT, FakeUpstream, fake_upstream
from tests._support.process import clean_environment, free_port, wait_until_healthy

API_KEY: Final = "startup-api-key-0001"
ADMIN_KEY: Final = "startup-admin-key-0001"
# Runs ``policy-router serve`` and, at the process's exit, writes whether litellm was imported.
_SERVE_PROBE: Final = """
import atexit, json, runpy, sys
report, port = sys.argv[1], sys.argv[2]
def write():
    with open(report, 'w') as out:
        json.dump({'litellm': 'litellm' in sys.modules}, out)
atexit.register(write)
sys.argv = ['policy-router', 'serve', '--port', port]
runpy.run_module('router.cli', run_name='__main__')
"""
LEAN_ONLY: Final = """
reaches: {openai: [openai]}
credentials: {openai: [[OPENAI_API_KEY]]}
routes:
  gpt-4-1: {openai: openai/gpt-4.1}
"""
WITH_A_LITELLM_ROUTE: Final = LEAN_ONLY.replace(
    "openai/gpt-4.1}", "{model: openai/gpt-4.1, path: litellm}}"
)
CHAT: Final = {"model": "GPT 4.1", "messages": [{"role": "user", "content": "Say hello."}]}


@dataclass
class Served:
    http: httpx.Client
    data_dir: Path

    def log(self) -> str:
        return (self.data_dir / "server.log").read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream("ok") as fake:
        yield fake


@contextmanager
def served(tmp_path: Path, deployment: str, upstream: FakeUpstream) -> Iterator[Served]:
    """``serve`` with ``deployment``, until the block ends; then the probe's report is read
    into ``imported.json``."""
    (tmp_path / "routes.yaml").write_text(deployment, encoding="utf-8")
    env = clean_environment(
        POLICY_ROUTER_SERVER__API_KEYS=json.dumps([API_KEY]),
        POLICY_ROUTER_SERVER__ADMIN_KEYS=json.dumps([ADMIN_KEY]),
        POLICY_ROUTER_DEPLOYMENT=str(tmp_path / "routes.yaml"),
        POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE=upstream.base,
        POLICY_ROUTER_DATA_DIR=str(tmp_path),
        POLICY_ROUTER_AUDIT=str(tmp_path / "audit.jsonl"),
        OPENAI_API_KEY="sk-fake-upstream-key-for-the-startup-test",
    )
    port = free_port()
    command = [sys.executable, "-c", _SERVE_PROBE, str(tmp_path / "imported.json"), str(port)]
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    server = Served(httpx.Client(base_url=base, trust_env=False, timeout=60), tmp_path)
    try:
        wait_until_healthy(base, process, server.log)
        yield server
    finally:
        server.http.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, server.log()


def imported_litellm(tmp_path: Path) -> bool:
    report: dict[str, bool] = json.loads((tmp_path / "imported.json").read_text())
    return report["litellm"]


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def post(server: Served, path: str, body: Mapping[str, object]) -> httpx.Response:
    response = server.http.post(path, json=body, headers=auth())
    assert response.status_code == 200, response.text
    return response


@pytest.mark.slow
def test_serve__lean_only_deployment_answers_and_never_imports_litellm(tmp_path: Path) -> None:
    """Answers, streams, the provider's failures, refusals and the operator's endpoints: none
    of them imports litellm."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with (
        fake_upstream("ok", "ok", "500") as upstream,
        served(tmp_path, LEAN_ONLY, upstream) as server,
    ):
        answer = post(server, "/v1/chat/completions", CHAT | {"user": "alice", "temperature": 0.2})
        stream = post(server, "/v1/chat/completions", CHAT | {"stream": True})
        failed = server.http.post("/v1/chat/completions", json=CHAT, headers=auth())
        refused = [
            server.http.post("/v1/chat/completions", json=body, headers=auth()).status_code
            for body in (CHAT | {"model": "no such model"}, CHAT | {"seed": "x"}, CHAT | {"x": 1})
        ]
        unconfigured = server.http.post(
            "/v1/chat/completions", json=CHAT | {"model": "Claude 4.5 Sonnet"}, headers=auth()
        )
        reads = [
            server.http.get("/v1/models", headers=auth()).status_code,
            server.http.get("/openapi.json").status_code,
            server.http.get("/readyz").status_code,
            server.http.get("/metrics", headers=admin).status_code,
            server.http.put("/v1/users/bob/preferences", json={"max_retention": "none"},
                            headers=admin).status_code,
        ]  # fmt: skip
        log = server.log()
    assert answer.json()["choices"][0]["message"]["content"] == TEXT
    assert stream.text.endswith("data: [DONE]\n\n")
    assert upstream.requests[0]["model"] == "gpt-4.1"
    assert (failed.status_code, failed.json()["error"]["code"]) == (503, "backends_unavailable")
    assert refused == [404, 400, 400]
    assert unconfigured.json()["error"]["code"] == "backends_unconfigured"
    assert reads == [200, 200, 200, 200, 200]
    assert "  litellm: not loaded: no servable route needs it (the lean path serves them)" in log
    assert imported_litellm(tmp_path) is False


@pytest.mark.slow
def test_serve__lean_only_deployment_answers_a_plain_messages_request_without_litellm(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """A plain (text-only) /v1/messages request to a chat route is translated, and its JSON
    answer and its stream rendered, by the router itself (router/_upstream/messages_plain.py,
    messages_stream.py): litellm is never imported."""
    messages = {"model": "GPT 4.1", "max_tokens": 16, "messages": CHAT["messages"]}
    with served(tmp_path, LEAN_ONLY, upstream) as server:
        post(server, "/v1/chat/completions", CHAT)
        answer = post(server, "/v1/messages", messages | {"system": "Be brief."})
        streamed = post(server, "/v1/messages", messages | {"stream": True})
    assert answer.json()["content"] == [{"type": "text", "text": TEXT}]
    texts = [
        json.loads(line.removeprefix("data: "))["delta"]["text"]
        for line in streamed.text.splitlines()
        if line.startswith('data: {"type":"content_block_delta"')
    ]
    assert "".join(texts) == TEXT
    assert streamed.text.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert imported_litellm(tmp_path) is False


@pytest.mark.slow
def test_serve__lean_only_deployment_loads_litellm_on_the_first_other_messages_request(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """A /v1/messages request that is not plain (a tool) translates with litellm's adapter:
    its first request imports it."""
    tool = {"name": "get_time", "input_schema": {"type": "object"}}
    messages = {"model": "GPT 4.1", "max_tokens": 16, "messages": CHAT["messages"]}
    with served(tmp_path, LEAN_ONLY, upstream) as server:
        post(server, "/v1/chat/completions", CHAT)
        answer = post(server, "/v1/messages", messages | {"tools": [tool]})
    assert answer.json()["content"] == [{"type": "text", "text": TEXT}]
    assert imported_litellm(tmp_path) is True


@pytest.mark.slow
def test_serve__a_plain_responses_request_to_a_lean_route_never_imports_litellm(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """/v1/responses with text only is translated, and its answer rendered, by the router
    (router/_upstream/responses_plain.py), as litellm's bridge would: no litellm."""
    plain = {"model": "GPT 4.1", "input": "Say hello.", "instructions": "Be brief."}
    with served(tmp_path, LEAN_ONLY, upstream) as server:
        answer = post(server, "/v1/responses", plain | {"max_output_tokens": 16})
    body = answer.json()
    assert body["output"][0]["content"][0]["text"] == TEXT
    assert (body["model"], body["status"], body["store"]) == ("GPT 4.1", "completed", False)
    assert upstream.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert upstream.requests[-1]["max_tokens"] == 16
    assert imported_litellm(tmp_path) is False


@pytest.mark.slow
def test_serve__a_litellm_route_loads_litellm_at_start_up(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    with served(tmp_path, WITH_A_LITELLM_ROUTE, upstream) as server:
        answer = post(server, "/v1/chat/completions", CHAT)
        log = server.log()
    assert answer.json()["choices"][0]["message"]["content"] == TEXT
    assert "  litellm: loaded at start-up: 1 servable route(s) need it (gpt-4-1/openai);" in log
    assert imported_litellm(tmp_path) is True


# --- the summary's line ---------------------------------------------------------------------


def _router(tmp_path: Path, deployment: str, **settings: object) -> PolicyRouter:
    (tmp_path / "routes.yaml").write_text(deployment, encoding="utf-8")
    return PolicyRouter.from_settings(
        Settings(
            deployment=tmp_path / "routes.yaml",
            data_dir=tmp_path,
            pseudonym_key="test-pseudonym-key-0123456789abcdef",
            **settings,
        ),
        audit_log=AuditLog(lambda _: None),
    )


SIX_LITELLM_ROUTES: Final = """
reaches: {openai: [openai], anthropic: [anthropic]}
routes:
  gpt-4-1: {openai: {model: openai/gpt-4.1, path: litellm}}
  o3-pro: {openai: openai/o3-pro}
  claude-4-5-sonnet: {anthropic: anthropic/claude-sonnet-4-5}
  claude-4-5-haiku: {anthropic: anthropic/claude-haiku-4-5}
  claude-4-1-opus: {anthropic: anthropic/claude-opus-4-1}
  claude-4-5-sonnet-reasoning: {anthropic: anthropic/claude-sonnet-4-5}
"""

APIS: Final = (
    "/v1/responses to a route other than OpenAI's Responses-API models, "
    "and /v1/messages with more than text to a route other than Anthropic's, translate with it"
)
LITELLM_LINES = [
    pytest.param(
        LEAN_ONLY,
        False,
        1,
        "not loaded: no servable route needs it (the lean path serves them); "
        + APIS
        + ", so their first request loads it (in a worker thread)",
        id="lean only: not loaded",
    ),
    pytest.param(
        WITH_A_LITELLM_ROUTE,
        True,
        1,
        "loaded at start-up: 1 servable route(s) need it (gpt-4-1/openai); " + APIS,
        id="a litellm route: loaded at start-up",
    ),
    pytest.param(
        WITH_A_LITELLM_ROUTE,
        False,
        4,
        "loaded at start-up by each worker: 1 servable route(s) need it (gpt-4-1/openai); " + APIS,
        id="the supervisor of workers: each worker loads it",
    ),
    pytest.param(
        SIX_LITELLM_ROUTES,
        True,
        1,
        "loaded at start-up: 6 servable route(s) need it (claude-4-5-sonnet/anthropic, "
        "claude-4-5-sonnet-reasoning/anthropic, claude-4-1-opus/anthropic, "
        "claude-4-5-haiku/anthropic, gpt-4-1/openai and 1 more); " + APIS,
        id="six routes: five named, in the catalog's order",
    ),
]


@pytest.mark.parametrize(("deployment", "loaded", "processes", "line"), LITELLM_LINES)
def test_litellm_use__says_what_needs_litellm_and_whether_it_is_loaded(
    tmp_path: Path, deployment: str, loaded: bool, processes: int, line: str
) -> None:
    router = _router(tmp_path, deployment, offline=True)
    assert litellm_use(router.loaded, loaded=loaded, processes=processes) == line


def test_litellm_use__a_litellm_route_without_credentials_needs_nothing(tmp_path: Path) -> None:
    """Only servable routes count: without OPENAI_API_KEY the litellm route cannot be used."""
    router = _router(tmp_path, WITH_A_LITELLM_ROUTE, offline=False)
    assert router.loaded.litellm_routes == frozenset({"gpt-4-1/openai"})
    assert router.loaded.servable_litellm_routes == ()
    assert litellm_use(router.loaded, loaded=False).startswith(
        "not loaded: no servable route needs it (the lean path serves them);"
    )
