"""The real ``policy-router serve`` process under faults, bad clients and a hard shutdown.

A fake provider on loopback (``_faults.FaultUpstream``) answers kimi-k2's three routes with
random 500 / 429 / 503 / reset / close / mid-stream drop / slow / hang; raw sockets play
clients that send no key, send slowly or not at all. Quick, bounded versions of what
bench/adversarial.py runs at length.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests._support.faults import (
    FAULT_MODEL,
    SENTINEL,
    SENTINEL_ECHO,
    Accounting,
    Faults,
    FaultUpstream,
    drive,
    fault_environment,
    scan_logs,
)
from tests._support.wire import FAKE_CREDENTIALS
from tests.server.test_process import (
    API_KEY,
    Served,
    environment,
    free_port,
    stop,
    wait_until_healthy,
)

CREDENTIALS: Final = {
    k: FAKE_CREDENTIALS[k] for k in ("GROQ_API_KEY", "TOGETHERAI_API_KEY", "DEEPINFRA_API_KEY")
}
READ_TIMEOUT: Final = 2.0


def serve_against(data_dir: Path, upstream: FaultUpstream, **env: str) -> Served:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = environment(data_dir, upstream.port) | fault_environment(upstream, CREDENTIALS)
    with (data_dir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", "--port", str(port)],
            env=settings | env,
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, port, data_dir)
    wait_until_healthy(served)
    return served


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    fake = FaultUpstream(Faults.random(seed=13), slow_seconds=0.2).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: FaultUpstream) -> Iterator[Served]:
    process = serve_against(tmp_path_factory.mktemp("faults"), upstream)
    try:
        yield process
    finally:
        stop(process.process)


# --- resources: no key, slow bodies, idle connections ------------------------------------


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def head(path: str, length: int, key: str | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}")
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_resources__no_key_is_refused_before_the_body_is_read(served: Served) -> None:
    """50 MB announced, none sent: 401 at once, and the connection closed."""
    socks = [connect(served) for _ in range(20)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(head("/v1/chat/completions", 50_000_000, key=None) + b'{"model": ')
    answers = [read_until_closed(sock) for sock in socks]
    assert time.monotonic() - started < READ_TIMEOUT
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 401 ")
        assert b'"code":"missing_api_key"' in answer
    for sock in socks:
        sock.close()


def test_resources__a_wrong_key_is_refused_before_the_body_is_read(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(head("/v1/users/a/preferences", 1_000_000, key="wrong") + b"{")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert b'"code":"invalid_api_key"' in answer


def test_resources__a_slow_body_is_cut_off(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(head("/v1/chat/completions", 1000, key=API_KEY) + b'{"model": "x"')
        started = time.monotonic()
        answer = read_until_closed(sock)
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in answer
    assert READ_TIMEOUT - 0.5 < waited < READ_TIMEOUT + 3


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "a byte at a time"])
def test_resources__a_connection_without_a_whole_request_is_closed(
    served: Served, trickle: bool
) -> None:
    with connect(served) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            if trickle:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
            sock.settimeout(0.25)
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except OSError:
                closed = True
                break
            if time.monotonic() - started > READ_TIMEOUT + 5:
                break
    assert closed
    assert time.monotonic() - started < READ_TIMEOUT + 3


# --- faults: accounting and logs -----------------------------------------------------------


async def test_faults__every_request_and_every_provider_request_is_in_the_audit(
    served: Served, upstream: FaultUpstream
) -> None:
    ids, statuses, errors = await drive(served.base_url, API_KEY, count=90, concurrency=15)
    await asyncio.sleep(0.5)  # the last records are written as the answers end
    accounting = Accounting.of(served.audit(), ids, upstream)
    assert accounting.problems() == [], accounting.summary()
    assert statuses[500] == 0, statuses
    assert statuses[0] == 0, errors
    assert sum(upstream.received.values()) >= 60  # the faults did happen
    assert {"ok", "server", "connection", "timeout"} <= accounting.outcomes.keys()


async def test_logs__no_content_user_id_or_provider_text_in_any_line(
    served: Served, upstream: FaultUpstream
) -> None:
    await drive(served.base_url, API_KEY, count=45, concurrency=15)
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http:
        await http.get(f"/v1/users/user-{SENTINEL}/preferences")  # no key: refused, logged
    logs = served.logs()
    assert "POST /v1/chat/completions 503" in logs or "POST /v1/chat/completions 502" in logs
    assert scan_logs(logs, [SENTINEL, SENTINEL_ECHO, "tell me about"]) == []


# --- shutdown past graceful_timeout --------------------------------------------------------


async def test_shutdown__in_flight_attempts_are_audited_cancelled_and_answered_in_shape(
    tmp_path: Path,
) -> None:
    hanging = FaultUpstream(Faults({"hang": 1.0})).start()
    try:
        served = serve_against(
            tmp_path / "shutdown",
            hanging,
            POLICY_ROUTER_TIMEOUT="60",
            POLICY_ROUTER_SERVER__GRACEFUL_TIMEOUT="1",
        )
        try:
            responses = await _shut_down_with_requests_in_flight(served, hanging)
            assert served.process.wait(timeout=30) == 0
        finally:
            stop(served.process)
    finally:
        hanging.stop()
    for response in responses:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "server_shutting_down"
    attempts = [r for r in served.audit() if r["event"] == "route.attempt"]
    assert len(attempts) == 3
    assert {a["outcome"] for a in attempts} == {"cancelled"}
    assert {a["request_id"] for a in attempts} == {r.headers["x-request-id"] for r in responses}
    assert scan_logs(served.logs(), [SENTINEL]) == []


async def _shut_down_with_requests_in_flight(
    served: Served, upstream: FaultUpstream
) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=served.base_url, trust_env=False, timeout=60) as http:

        async def ask(n: int) -> httpx.Response:
            body = {
                "model": FAULT_MODEL,
                "messages": [{"role": "user", "content": f"[req-{n}] {SENTINEL}"}],
                "stream": n == 2,
            }
            return await http.post("/v1/chat/completions", json=body, headers=headers)

        asks = [asyncio.create_task(ask(n)) for n in range(3)]
        assert await asyncio.to_thread(upstream.wait_for, 3, 30)
        served.process.send_signal(signal.SIGTERM)
        return list(await asyncio.gather(*asks))


# --- a client gone mid-stream ------------------------------------------------------------


async def test_client_gone__a_stream_it_left_is_audited_cancelled_at_once(tmp_path: Path) -> None:
    """A client reads a stream's first event and closes its connection while the provider
    holds the stream open (and the read timeout is a minute away): the attempt is audited
    ``cancelled`` as the client goes, not when the provider would have ended it."""
    stalling = FaultUpstream(Faults({"stall": 1.0})).start()
    try:
        served = serve_against(tmp_path / "gone", stalling, POLICY_ROUTER_TIMEOUT="60")
        try:
            request_id = await _read_the_first_event_and_leave(served)
            attempts = await asyncio.to_thread(_attempts_once_written, served, request_id)
        finally:
            stop(served.process)
    finally:
        stalling.stop()
    assert [a["outcome"] for a in attempts] == ["cancelled"]
    assert attempts[0]["chunks"] == 1


async def _read_the_first_event_and_leave(served: Served) -> str:
    body = json.dumps({"model": FAULT_MODEL, "stream": True,
                       "messages": [{"role": "user", "content": "[req-gone] hello"}]})  # fmt: skip
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(head.encode() + body.encode())
    answer = await asyncio.wait_for(reader.readuntil(b"\n\n\r\n"), 30)  # the first event's end
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    found = re.search(rb"(?im)^x-request-id: (\S+)\r$", answer)
    assert found is not None
    return found.group(1).decode()


def _attempts_once_written(served: Served, request_id: str) -> list[dict[str, Any]]:
    """The request's attempt records, once there is one (10 s at most: a guard, not a timing)."""
    deadline = time.monotonic() + 10
    while True:
        attempts = [r for r in served.audit()
                    if r["event"] == "route.attempt" and r["request_id"] == request_id]  # fmt: skip
        if attempts or time.monotonic() > deadline:
            return attempts
        time.sleep(0.05)


def test_faults__records_are_json_lines(served: Served) -> None:
    text = (served.data_dir / "audit.jsonl").read_text(encoding="utf-8")
    assert all(json.loads(line)["event"] for line in text.splitlines())
