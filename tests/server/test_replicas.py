"""Two ``policy-router serve`` processes on one PostgreSQL, as replicas behind a load balancer.

A preference set through one applies at once on the other; each writes its own audit records
(its own writer id); a kill -9 of one loses no stored preference.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests._support.stores import make_backend
from tests.server.test_process import (
    ADMIN_KEY,
    API_KEY,
    Served,
    Upstream,
    free_port,
    serve,
    stop,
    upstream,  # noqa: F401  # the module-scoped fake OpenAI upstream fixture
    wait_until_healthy,
)

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

PSEUDONYM_KEY: Final = "test-pseudonym-key-0123456789abcdef"
USER: Final = "zoe@example.com"
CHAT: Final = {"model": "GPT 4.1", "user": USER, "messages": [{"role": "user", "content": "Hi"}]}
ADMIN: Final = {"Authorization": f"Bearer {ADMIN_KEY}"}
CALLER: Final = {"Authorization": f"Bearer {API_KEY}"}


def records(served: Served, event: str) -> list[dict[str, Any]]:
    return [r for r in served.audit() if r["event"] == event]


@pytest.mark.postgres
async def test_two_replicas__share_preferences_at_once_and_each_audits(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811
) -> None:
    async with make_backend("postgres", tmp_path) as backend:
        env = {"POLICY_ROUTER_STORE_URL": backend.url, "POLICY_ROUTER_PSEUDONYM_KEY": PSEUDONYM_KEY}
        replicas = []
        for name in ("a", "b"):
            port = free_port()
            process = serve(tmp_path / name, upstream, "--port", str(port), **env)
            replicas.append(Served(process, port, tmp_path / name))
        a, b = replicas
        try:
            for replica in replicas:
                wait_until_healthy(replica)
            await _share_preferences(a, b)
        finally:
            for replica in replicas:
                stop(replica.process)
        assert records(a, "preferences.changed")
        assert records(b, "preferences.changed")
        assert (
            records(b, "route.refused")[0]["user"] == records(a, "preferences.changed")[0]["user"]
        )
        writers = {r["writer"] for r in a.audit()}, {r["writer"] for r in b.audit()}
        assert writers[0].isdisjoint(writers[1])
        assert USER not in (a.data_dir / "audit.jsonl").read_text()


async def _share_preferences(a: Served, b: Served) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        assert (
            await http.post(f"{b.base_url}/v1/chat/completions", json=CHAT, headers=CALLER)
        ).status_code == 200
        deny = {"deny_providers": ["openai"]}
        put = await http.put(f"{a.base_url}/v1/users/{USER}/preferences", json=deny, headers=ADMIN)
        assert put.status_code == 200
        refused = await http.post(f"{b.base_url}/v1/chat/completions", json=CHAT, headers=CALLER)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "policy_violation")
        deleted = await http.delete(f"{b.base_url}/v1/users/{USER}/preferences", headers=ADMIN)
        assert deleted.json()["deleted"] is True
        ok = await http.post(f"{a.base_url}/v1/chat/completions", json=CHAT, headers=CALLER)
        assert ok.status_code == 200
        put = await http.put(f"{a.base_url}/v1/users/{USER}/preferences", json=deny, headers=ADMIN)
        assert put.status_code == 200
        a.process.send_signal(signal.SIGKILL)
        assert a.process.wait(timeout=30) == -signal.SIGKILL
        stored = await http.get(f"{b.base_url}/v1/users/{USER}/preferences", headers=ADMIN)
        assert stored.json()["preferences"] == {"deny_providers": ["openai"]}
        again = await http.post(f"{b.base_url}/v1/chat/completions", json=CHAT, headers=CALLER)
        assert again.status_code == 403
        assert json.loads(again.text)["error"]["code"] == "policy_violation"


def test_workers__two_processes_on_one_socket_with_metrics_added_up(
    tmp_path: Path,
    upstream: Upstream,  # noqa: F811
) -> None:
    port = free_port()
    served = Served(
        serve(tmp_path, upstream, "--port", str(port), "--workers", "2"), port, tmp_path
    )
    try:
        wait_until_healthy(served)
        for _ in range(6):  # a new connection each: either worker may take it
            with httpx.Client(trust_env=False, timeout=30) as http:
                done = http.post(
                    f"{served.base_url}/v1/chat/completions", json=CHAT, headers=CALLER
                )
                assert done.status_code == 200
        with httpx.Client(trust_env=False, timeout=30) as http:
            metrics = http.get(f"{served.base_url}/metrics", headers=ADMIN).text
    finally:
        assert stop(served.process) == 0
    assert 'policy_router_requests_total{model="gpt-4-1",outcome="ok"} 6.0' in metrics
    logs = served.logs()
    assert logs.count("Started server process") == 2
    assert logs.count("provider openai (OpenAI):") == 2  # each worker's start-up lines
    assert logs.count(f"listening on http://127.0.0.1:{port} (2 worker processes)") == 1
    assert len(records(served, "route.decision")) == 6
