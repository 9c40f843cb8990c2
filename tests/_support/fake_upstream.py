"""A fake OpenAI-compatible provider on 127.0.0.1, in a thread: answers, 429s, streams, hangs.

A POST to a path ending in ``/messages`` is answered in Anthropic's Messages format instead
(JSON, or Anthropic's SSE events when the request streams), so Anthropic's routes can point here.
Each POST to ``/v1/chat/completions`` takes the next scripted behaviour (the last one repeats):
``"ok"`` (a JSON completion, or SSE chunks when the request streams), ``"tool"`` (a tool call),
``"429"``, ``"500"``, ``"hang"`` (no answer until the server stops), ``"stall"`` (a stream's
headers, then nothing until the server stops). Requests are recorded: ``requests`` holds the
JSON bodies, ``received`` every request of any method as it arrived (path, headers, bytes).

``answer``, when given, writes the assistant's message for an ``"ok"`` or ``"tool"`` turn from
the request's body: ``{"content": text}`` or ``{"tool_calls": [(name, arguments), ...]}``, sent
as JSON or, when the request streams, as SSE chunks (frameworks' own prompts and tool loops).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests._support.wire import WIRES, reply, sse_body

TEXT = "hello from the fake upstream"


def _words(text: str) -> list[str]:
    """``text`` in pieces that join back to it."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Received:
    """One request as it arrived on the socket."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def text(self) -> str:
        """Everything of the request, as one string to search."""
        headers = "\n".join(f"{name}: {value}" for name, value in self.headers)
        return f"{self.method} {self.path}\n{headers}\n\n{self.body.decode('utf-8', 'replace')}"


@dataclass
class FakeUpstream:
    """The script of answers and the requests received; ``base`` is the API base URL."""

    script: list[str]
    base: str = ""
    answer: Answer | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self, body: dict[str, Any]) -> str:
        with self.lock:
            self.requests.append(body)
            index = min(len(self.requests), len(self.script)) - 1
            return self.script[index]


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake",
        "service_tier": "on_demand",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def _scripted(behaviour: str, body: dict[str, Any]) -> dict[str, Any]:
    """The message of an ``"ok"`` or ``"tool"`` turn: a tool call until the tool has answered."""
    answered = any(m.get("role") == "tool" for m in body.get("messages", ()))
    if behaviour == "tool" and not body.get("stream") and not answered:
        return {"tool_calls": [("get_weather", {"city": "Paris"})]}
    return {"content": TEXT}


def _answered(message: dict[str, Any]) -> dict[str, Any]:
    """An ``answer``'s message in OpenAI's shape, with its finish reason."""
    calls = [
        {
            "id": f"call_{i + 1}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for i, (name, arguments) in enumerate(message.get("tool_calls", ()))
    ]
    if calls:
        return _completion(
            {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
        )
    return _completion({"role": "assistant", "content": message["content"]}, "stop")


def _chunk(delta: dict[str, Any], finish: str | None) -> str:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake",
        "service_tier": "on_demand",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


def _sse(text: str) -> bytes:
    events = [
        _chunk({"role": "assistant", "content": word} if i == 0 else {"content": " " + word}, None)
        for i, word in enumerate(text.split(" "))
    ]
    events.append(_chunk({}, "stop") + "data: [DONE]\n\n")
    return "".join(events).encode()


def _sse_calls(completion: dict[str, Any]) -> bytes:
    """A tool-calling completion as SSE chunks: each call whole in one delta."""
    calls = completion["choices"][0]["message"]["tool_calls"]
    events = [
        _chunk({"role": "assistant", "tool_calls": [{"index": i, **call}]}, None)
        for i, call in enumerate(calls)
    ]
    events.append(_chunk({}, "tool_calls") + "data: [DONE]\n\n")
    return "".join(events).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: FakeUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return

    def _receive(self) -> bytes:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        seen = Received(self.command, self.path, tuple(self.headers.items()), raw)
        with self.server.upstream.lock:
            self.server.upstream.received.append(seen)
        return raw

    def do_GET(self) -> None:
        self._receive()
        self._send(404, "application/json", b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        body = json.loads(self._receive() or b"{}")
        behaviour = self.server.upstream.next_behaviour(body)
        if behaviour in ("hang", "stall"):
            self._hold(behaviour)
        elif behaviour in ("429", "500"):
            error = {"error": {"message": f"fake {behaviour}", "type": "fake"}}
            self._send(int(behaviour), "application/json", json.dumps(error).encode())
        elif self.path.endswith("/messages"):
            self._anthropic(body)
        else:
            answer = self.server.upstream.answer or (lambda body: _scripted(behaviour, body))
            self._answer(answer(body), stream=bool(body.get("stream")))

    def _hold(self, behaviour: str) -> None:
        """No answer (``hang``) or a stream's headers only (``stall``) until the server stops."""
        if behaviour == "stall":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", "100000")
            self.end_headers()
            self.wfile.flush()
        self.server.upstream.stopping.wait(30)

    def _answer(self, message: dict[str, Any], *, stream: bool) -> None:
        completion = _answered(message)
        if not stream:
            self._send(200, "application/json", json.dumps(completion).encode())
        elif "tool_calls" in message:
            self._send(200, "text/event-stream", _sse_calls(completion))
        else:
            self._send(200, "text/event-stream", _sse(message["content"]))

    def _anthropic(self, body: dict[str, Any]) -> None:
        wire = WIRES["anthropic"]
        if body.get("stream"):
            self._send(200, "text/event-stream", sse_body(wire, tuple(_words(TEXT))))
        else:
            self._send(200, "application/json", json.dumps(reply(wire, TEXT)).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def fake_upstream(*script: str, answer: Answer | None = None) -> Iterator[FakeUpstream]:
    """Serve ``script`` on a free port of 127.0.0.1 until the block ends."""
    upstream = FakeUpstream(list(script) or ["ok"], answer=answer)
    server = _Server(upstream)
    upstream.base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # a short poll: the block ends within 50 ms of its last request, not the default 500
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.stopping.set()
        server.shutdown()
        server.server_close()
