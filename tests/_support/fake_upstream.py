"""A fake OpenAI-compatible provider on 127.0.0.1, in a thread: answers, 429s, streams, hangs.

A POST to a path ending in ``/messages`` is answered in Anthropic's Messages format instead
(JSON, or Anthropic's SSE events when the request streams), so Anthropic's routes can point here.
Each POST to ``/v1/chat/completions`` takes the next scripted behaviour (the last one repeats):
``"ok"`` (a JSON completion, or SSE chunks when the request streams), ``"tool"`` (a tool call),
``"429"``, ``"500"``, ``"hang"`` (no answer until the server stops), ``"stall"`` (a stream's
headers, then nothing until the server stops). Requests are recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
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


@dataclass
class FakeUpstream:
    """The script of answers and the requests received; ``base`` is the API base URL."""

    script: list[str]
    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
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


def _tool_call() -> dict[str, Any]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
    }
    return _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")


def _sse(text: str) -> bytes:
    events = []
    for i, word in enumerate(text.split(" ")):
        delta = {"role": "assistant", "content": word} if i == 0 else {"content": " " + word}
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "fake",
            "service_tier": "on_demand",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        events.append(f"data: {json.dumps(chunk)}\n\n")
    last = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake",
        "service_tier": "on_demand",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    events.append(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n")
    return "".join(events).encode()


def _handler(upstream: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            behaviour = upstream.next_behaviour(body)
            if behaviour == "hang":
                upstream.stopping.wait(30)
                return
            if behaviour == "stall":
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", "100000")
                self.end_headers()
                self.wfile.flush()
                upstream.stopping.wait(30)
                return
            if behaviour in ("429", "500"):
                error = {"error": {"message": f"fake {behaviour}", "type": "fake"}}
                self._send(int(behaviour), "application/json", json.dumps(error).encode())
            elif self.path.endswith("/messages"):
                self._anthropic(body)
            elif body.get("stream"):
                self._send(200, "text/event-stream", _sse(TEXT))
            elif behaviour == "tool" and not any(m.get("role") == "tool" for m in body["messages"]):
                self._send(200, "application/json", json.dumps(_tool_call()).encode())
            else:
                answer = _completion({"role": "assistant", "content": TEXT}, "stop")
                self._send(200, "application/json", json.dumps(answer).encode())

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

    return Handler


@contextmanager
def fake_upstream(*script: str) -> Iterator[FakeUpstream]:
    """Serve ``script`` on a free port of 127.0.0.1 until the block ends."""
    upstream = FakeUpstream(list(script) or ["ok"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        upstream.stopping.set()
        server.shutdown()
        server.server_close()
