"""A fault-injecting fake provider on loopback, and the audit accounting it is checked against.

``FaultUpstream`` speaks OpenAI's chat-completion wire format (what litellm sends to Groq,
Together, DeepInfra and other OpenAI-compatible providers) on 127.0.0.1, in a thread with its
own event loop. It counts every request it receives in full, keyed by the request's marker
(the ``[req-…]`` tag a test puts in the message), and answers each with a fault:

    ok        200, the completion (or its SSE stream)
    500/429/503   an error in OpenAI's shape, whose message echoes the request's content
    close     the connection closed without an answer
    reset     the connection reset (RST) without an answer
    drop      a stream cut after its first chunk (JSON: cut mid-body)
    slow      ``ok`` after ``slow_seconds``
    hang      no answer until the client gives up
    stall     (chosen only, never drawn) a stream's first chunk, then nothing until the client
              goes away

A fixed fault is chosen with ``[fault:<name>]`` in the message; otherwise one is drawn at
random with the given weights (``Faults.random``). Used by tests/server/test_faults.py and by
bench/adversarial.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

FAULTS: Final = ("ok", "500", "429", "503", "close", "reset", "drop", "slow", "hang")
MARKER: Final = re.compile(rb"\[req-([0-9a-z-]+)\]")
FORCED: Final = re.compile(rb"\[fault:([0-9a-z]+)\]")
SENTINEL_ECHO: Final = "the provider says: your message was "


def _chunk(delta: Mapping[str, str], finish: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fault-model",
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


COMPLETION: Final = json.dumps(
    {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fault-model",
        "service_tier": "on_demand",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()
CHUNKS: Final = (
    _chunk({"role": "assistant", "content": "o"}, None),
    _chunk({"content": "k"}, None),
    _chunk({}, "stop"),
    b"data: [DONE]\n\n",
)


@dataclass(frozen=True)
class Faults:
    """How faults are drawn: weights per fault name (missing names never happen)."""

    weights: Mapping[str, float] = field(default_factory=lambda: {"ok": 1.0})
    seed: int = 0

    @classmethod
    def random(cls, seed: int = 0) -> Faults:
        """Half the answers fine, the rest spread over every fault."""
        faults = dict.fromkeys(FAULTS[1:], 1.0)
        return cls({"ok": 8.0, **faults}, seed)


@dataclass
class FaultUpstream:
    """The fake provider; ``start()`` it, point routes at ``base_url``, read ``received``."""

    faults: Faults = field(default_factory=Faults)
    slow_seconds: float = 0.3
    port: int = 0
    received: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.received.values())

    def wait_for(self, count: int, seconds: float) -> bool:
        """Block until ``count`` requests have been received (False after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while self.total < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def start(self) -> FaultUpstream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        rng = random.Random(self.faults.seed)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(lambda r, w: self._serve(r, w, rng), "127.0.0.1", self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
    ) -> None:
        try:
            while await self._one(reader, writer, rng):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the fake stops
        finally:
            writer.close()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
    ) -> bool:
        """Read one request and answer it; False once the connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        marker = MARKER.search(body)
        key = marker.group(1).decode() if marker else "?"
        with self._lock:
            self.received[key] += 1
            self.bodies.append(body)
        forced = FORCED.search(body)
        fault = forced.group(1).decode() if forced else self._draw(rng)
        stream = b'"stream": true' in body or b'"stream":true' in body
        return await self._answer(fault, stream, body, key, writer)

    def _draw(self, rng: random.Random) -> str:
        names, weights = zip(*self.faults.weights.items(), strict=True)
        return rng.choices(names, weights)[0]

    async def _answer(
        self, fault: str, stream: bool, body: bytes, key: str, writer: asyncio.StreamWriter
    ) -> bool:
        if fault in {"500", "429", "503"}:
            echo = SENTINEL_ECHO + body.decode(errors="replace")[:300]
            error = {"error": {"message": echo, "type": "server_error", "code": fault}}
            await _send(writer, int(fault), "application/json", [json.dumps(error).encode()])
        elif fault == "close":
            return False
        elif fault == "reset":
            _reset(writer)
            return False
        elif fault == "hang":
            await asyncio.sleep(3600)
        elif fault == "stall":
            await _send(writer, 200, _kind(True), [CHUNKS[0]], length=None)
            await asyncio.sleep(3600)
        elif fault == "drop":
            parts = [CHUNKS[0]] if stream else [COMPLETION[: len(COMPLETION) // 2]]
            await _send(writer, 200, _kind(stream), parts, length=None if stream else 10_000)
            return False
        else:
            if fault == "slow":
                await asyncio.sleep(self.slow_seconds)
            await _send(writer, 200, _kind(stream), list(CHUNKS) if stream else [COMPLETION])
        with self._lock:
            self.answered[key] += 1
        return True


def _kind(stream: bool) -> str:
    return "text/event-stream" if stream else "application/json"


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    kind: str,
    parts: Iterable[bytes],
    length: int | None = -1,
) -> None:
    parts = list(parts)
    size = sum(map(len, parts)) if length == -1 else length
    framing = f"Content-Length: {size}\r\n" if size is not None else "Connection: close\r\n"
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n{framing}\r\n"
    writer.write(head.encode())
    for part in parts:
        writer.write(part)
        await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock: socket.socket | None = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- the audit accounting --------------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    """What the audit says happened, checked against what the fake provider received."""

    ids: Mapping[str, str]  # marker -> request id
    decisions: Counter[str]
    refusals: Counter[str]
    attempts: Counter[str]
    outcomes: Counter[str]
    received: Counter[str]

    @classmethod
    def of(
        cls,
        records: Iterable[Mapping[str, Any]],
        request_ids: Mapping[str, str],
        upstream: FaultUpstream,
    ) -> Accounting:
        """``request_ids`` maps each request's marker to the request id its answer carried."""
        by_id = {rid: marker for marker, rid in request_ids.items()}
        decisions: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        attempts: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        for record in records:
            marker = by_id.get(record.get("request_id", ""))
            if marker is None:
                continue
            if record["event"] == "route.decision":
                decisions[marker] += 1
            elif record["event"] == "route.refused":
                refusals[marker] += 1
            elif record["event"] == "route.attempt" and record.get("outcome"):
                attempts[marker] += 1
                outcomes[record["outcome"]] += 1
        received = Counter(upstream.received)
        return cls(dict(request_ids), decisions, refusals, attempts, outcomes, received)

    def problems(self) -> list[str]:
        """Every way the audit and the provider disagree; empty when all is accounted for."""
        out = []
        for marker in self.received.keys() | self.attempts.keys():
            if self.received[marker] != self.attempts[marker]:
                out.append(
                    f"{marker}: provider received {self.received[marker]}, "
                    f"audit shows {self.attempts[marker]} attempts"
                )
        unaccounted = sorted(set(self.ids) - {m for m in self.markers() if self.accounted(m)})
        if unaccounted:
            out.append(
                f"{len(unaccounted)} requests lack exactly one decision or one refusal: "
                + ", ".join(self.ids[m] for m in unaccounted[:10])
            )
        return out

    def markers(self) -> set[str]:
        return set(self.decisions) | set(self.refusals)

    def accounted(self, marker: str) -> bool:
        """One decision (a policy refusal may follow it), or no decision and one refusal."""
        if self.decisions[marker] == 1:
            return self.refusals[marker] <= 1
        return self.decisions[marker] == 0 and self.refusals[marker] == 1

    def summary(self) -> str:
        sent = sum(self.received.values())
        audited = sum(self.attempts.values())
        decided = sum(1 for m in self.markers() if self.accounted(m))
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"requests {len(self.ids)}, with one decision or refusal {decided}; provider "
            f"requests received {sent}, audited attempts {audited} ({outcomes})"
        )


# --- the load: requests of every kind, good and bad --------------------------------------------

SENTINEL: Final = "SENTINEL-c0ffee-7"  # in every message and user id; must reach no log line
FAULT_MODEL: Final = "kimi-k2"
FAULT_PROVIDERS: Final = ("groq", "together", "deepinfra")  # kimi-k2's routes pointed at the fake


def request_for(n: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Request ``n`` of a run: mostly good (JSON or stream), some refused by policy or as bad input."""
    content = f"[req-{n}] {SENTINEL} tell me about request {n}"
    body: dict[str, Any] = {
        "model": FAULT_MODEL,
        "messages": [{"role": "user", "content": content}],
        "user": f"user-{SENTINEL}-{n % 50}",
        "stream": n % 3 == 0,
    }
    if n % 17 == 5:
        body["privacy"] = {"deny_providers": list(FAULT_PROVIDERS)}  # a policy refusal
    elif n % 19 == 7:
        body["metadata"] = [SENTINEL]  # bad input
    elif n % 23 == 11:
        body["model"] = f"no-such-model-{SENTINEL}"
    return body, {"X-Request-Id": f"adv-{n}"}


async def drive(
    base_url: str, api_key: str, count: int, concurrency: int, request_timeout: float = 60.0
) -> tuple[dict[str, str], Counter[int], Counter[str]]:
    """Send ``count`` requests, ``concurrency`` at a time; the markers' request ids, the
    statuses the client saw (0: no answer) and, for those, the client's errors."""
    import httpx

    ids: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {api_key}"}
    # Idle connections dropped before the server's idle timeout (as short as 2 s in the
    # tests): else a request sent just as the server closes one is lost on the wire.
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=1.0)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=request_timeout, trust_env=False, limits=limits
    ) as client:

        async def one(n: int) -> None:
            body, extra = request_for(n)
            async with semaphore:
                try:
                    async with client.stream(
                        "POST", "/v1/chat/completions", json=body, headers=extra
                    ) as response:
                        await response.aread()
                        ids[str(n)] = response.headers["x-request-id"]
                        statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    ids[str(n)] = extra["X-Request-Id"]
                    statuses[0] += 1
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1

        await asyncio.gather(*(one(n) for n in range(count)))
    return ids, statuses, errors


def fault_environment(upstream: FaultUpstream, credentials: Mapping[str, str]) -> dict[str, str]:
    """The serve process's settings that send kimi-k2's routes, and only them, to the fake."""
    env = {
        "POLICY_ROUTER_ORG__ALLOW_PROVIDERS": json.dumps(list(FAULT_PROVIDERS)),
        "POLICY_ROUTER_TIMEOUT": "2",
        "POLICY_ROUTER_SERVER__READ_TIMEOUT": "2",
        # One send per route, so that a share of requests fails on every route (their 503s
        # and logs are checked); the accounting held with the default 2 resends as well.
        "POLICY_ROUTER_RESENDS": "0",
    }
    for provider in FAULT_PROVIDERS:
        env[f"POLICY_ROUTER_PROVIDERS__{provider.upper()}__API_BASE"] = upstream.base_url
    return env | dict(credentials)


def scan_logs(text: str, forbidden: Iterable[str]) -> list[str]:
    """The log lines holding any forbidden text."""
    words = tuple(forbidden)
    return [line for line in text.splitlines() if any(w in line for w in words)]


# --- the kill -9 durability loop ---------------------------------------------------------------


async def write_until_killed(
    base_url: str, admin_key: str, kill: Any, writers: int, seconds: float, round_: int
) -> dict[str, int]:
    """``writers`` clients each PUT their own user's preferences in turn (``max_retention`` of
    1h, 2h, …) until ``kill()`` (a SIGKILL of the server) after ``seconds``; returns, per user,
    the last write the server acknowledged (200)."""
    import httpx

    acked: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {admin_key}"}

    async def writer(client: httpx.AsyncClient, user: str) -> None:
        for hours in range(1, 1_000_000):
            try:
                response = await client.put(
                    f"/v1/users/{user}/preferences", json={"max_retention": f"{hours}h"}
                )
            except httpx.HTTPError:
                return
            if response.status_code != 200:
                raise AssertionError(f"write refused: {response.status_code} {response.text}")
            acked[user] = hours

    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=10, trust_env=False
    ) as client:
        tasks = [
            asyncio.create_task(writer(client, f"durable-{round_}-{w}")) for w in range(writers)
        ]
        await asyncio.sleep(seconds)
        kill()
        await asyncio.gather(*tasks)
    return acked


async def lost_writes(base_url: str, admin_key: str, acked: Mapping[str, int]) -> list[str]:
    """The acknowledged writes the restarted server does not have: a user's stored value must
    be the last acknowledged one, or the one in flight when the server was killed."""
    import httpx

    from router._core.duration import Duration

    lost = []
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False) as client:
        for user, hours in acked.items():
            response = await client.get(f"/v1/users/{user}/preferences")
            stored = response.json().get("preferences", {}).get("max_retention")
            seconds = Duration.parse(stored).seconds if stored else None
            if seconds not in {hours * 3600, (hours + 1) * 3600}:
                lost.append(f"{user}: acknowledged {hours}h, stored {stored}")
    return lost
