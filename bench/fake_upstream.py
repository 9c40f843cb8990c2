"""A fast fake LLM upstream on loopback: fixed tiny answers, no framework.

Serves OpenAI's ``POST /v1/chat/completions`` (JSON, or SSE with ``"stream": true``), Anthropic's
``POST /v1/messages`` (JSON or SSE), OpenAI's Responses ``POST /v1/responses`` (JSON or SSE),
``GET /v1/models``, ``GET /healthz`` and ``GET /stats``
(requests served and connections accepted so far). HTTP/1.1 keep-alive on an asyncio Protocol (uvloop when installed),
so it costs a few tens of microseconds per request and does not dominate a 2-core machine.

A streamed OpenAI answer has ``--sse-chunks`` text deltas, all written at once, unless the
request body carries a marker ``[bench chunks=N pace_ms=M]`` (anywhere, e.g. in a message's
text; ``pace_ms`` optional): then N deltas, each event written M milliseconds after the one
before (0: all at once). Benchmarks pick a stream's shape per request with it, through any
proxy that relays message content (bench/lean.py's cells).

    python -m bench.fake_upstream --port 0 --latency-ms 0

prints ``READY <port>`` on stdout once it listens. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from typing import Final

HOST: Final = "127.0.0.1"
MAX_HEADER: Final = 65_536
MAX_BODY: Final = 8 * 1_048_576
MARKER: Final = re.compile(rb"\[bench chunks=(\d{1,6})(?: pace_ms=(\d{1,5}(?:\.\d+)?))?\]")

OPENAI_JSON: Final = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4.1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    },
    separators=(",", ":"),
).encode()


def _openai_chunk(delta: dict[str, str], finish: str | None, usage: bool = False) -> bytes:
    chunk: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4.1",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


OPENAI_SSE: Final = (
    _openai_chunk({"role": "assistant", "content": ""}, None),
    _openai_chunk({"content": "ok"}, None),
    _openai_chunk({}, "stop"),
    _openai_chunk({}, None, usage=True),
    b"data: [DONE]\n\n",
)

ANTHROPIC_JSON: Final = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
    separators=(",", ":"),
).encode()


def _anthropic_event(name: str, data: dict[str, object]) -> bytes:
    body = json.dumps({"type": name, **data}, separators=(",", ":")).encode()
    return b"event: " + name.encode() + b"\ndata: " + body + b"\n\n"


ANTHROPIC_SSE: Final = (
    _anthropic_event(
        "message_start",
        {
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 0},
            }
        },
    ),
    _anthropic_event(
        "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
    ),
    _anthropic_event(
        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "ok"}}
    ),
    _anthropic_event("content_block_stop", {"index": 0}),
    _anthropic_event(
        "message_delta",
        {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 1},
        },
    ),
    _anthropic_event("message_stop", {}),
)

RESPONSES_JSON: Final = json.dumps(
    {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": "o3-pro",
        "output": [
            {
                "type": "message", "id": "msg_bench", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "store": False,
        "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
    },
    separators=(",", ":"),
).encode()  # fmt: skip


def _responses_events() -> tuple[bytes, ...]:
    """OpenAI's Responses stream of one token: created, in_progress, the item, one delta,
    the item done, completed (6 events)."""
    done = json.loads(RESPONSES_JSON)
    started = done | {"status": "in_progress", "output": [], "usage": None}
    item = done["output"][0]
    bodies = (
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": item | {"content": []}},
        {"type": "response.output_text.delta", "item_id": "msg_bench", "output_index": 0,
         "content_index": 0, "delta": "ok"},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    )  # fmt: skip
    return tuple(
        _anthropic_event(str(b["type"]), {k: v for k, v in b.items() if k != "type"} | {"sequence_number": i})
        for i, b in enumerate(bodies)
    )  # fmt: skip


RESPONSES_SSE: Final = _responses_events()

MODELS_JSON: Final = json.dumps(
    {"object": "list", "data": [{"id": "gpt-4.1", "object": "model", "owned_by": "bench"}]}
).encode()


def _response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    head = (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )  # fmt: skip
    return head + body


SSE_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
LAST_CHUNK: Final = b"0\r\n\r\n"


def _chunked(event: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(event), event)


def _sse(events: tuple[bytes, ...]) -> bytes:
    """One chunked-encoding chunk per event, all written at once."""
    return SSE_HEAD + b"".join(_chunked(e) for e in events) + LAST_CHUNK


def openai_events(deltas: int) -> tuple[bytes, ...]:
    """An OpenAI stream of ``deltas`` text deltas: role, deltas, finish, usage, ``[DONE]``."""
    text = _openai_chunk({"content": "ok"}, None)
    return (OPENAI_SSE[0], *(text for _ in range(deltas)), *OPENAI_SSE[2:])


def _marked(body: bytes) -> tuple[int, float] | None:
    """The stream shape a ``[bench chunks=N pace_ms=M]`` marker asks for: (N, seconds)."""
    found = MARKER.search(body) if b"[bench " in body else None
    if found is None:
        return None
    return int(found.group(1)), float(found.group(2) or 0) / 1000


RESPONSES: Final = {
    ("POST", "/v1/chat/completions", False): _response("200 OK", OPENAI_JSON),
    ("POST", "/v1/chat/completions", True): _sse(OPENAI_SSE),
    ("POST", "/v1/messages", False): _response("200 OK", ANTHROPIC_JSON),
    ("POST", "/v1/messages", True): _sse(ANTHROPIC_SSE),
    ("POST", "/v1/responses", False): _response("200 OK", RESPONSES_JSON),
    ("POST", "/v1/responses", True): _sse(RESPONSES_SSE),
    ("GET", "/v1/models", False): _response("200 OK", MODELS_JSON),
    ("GET", "/healthz", False): _response("200 OK", b'{"status":"ok"}'),
}
NOT_FOUND: Final = _response("404 Not Found", b'{"error":{"message":"not found"}}')
BAD_REQUEST: Final = _response("400 Bad Request", b'{"error":{"message":"bad request"}}')


class Upstream:
    """Shared state of the server: the fixed latency, request and connection counters."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.served = 0
        self.connections = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parse requests from the buffer, answer each in turn."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.upstream.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            request = self._next_request()
            if request is None:
                return
            self._answer(*request)

    def _next_request(self) -> tuple[str, str, bytes, bool] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEADER:
                self._send(BAD_REQUEST, close=True)
            return None
        head = self.buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip() or 0)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length > MAX_BODY:
            self._send(BAD_REQUEST, close=True)
            return None
        total = end + 4 + length
        if len(self.buffer) < total:
            return None
        body = self.buffer[end + 4 : total]
        self.buffer = self.buffer[total:]
        return method, target.split("?", 1)[0], body, close

    def _answer(self, method: str, path: str, body: bytes, close: bool) -> None:
        self.upstream.served += 1
        if method == "GET" and path == "/stats":
            counts = (self.upstream.served, self.upstream.connections)
            payload = _response("200 OK", b'{"served":%d,"connections":%d}' % counts)
        else:
            stream = b'"stream"' in body and _wants_stream(body)
            shape = _marked(body) if stream and path == "/v1/chat/completions" else None
            if shape is not None:
                self._stream(openai_events(shape[0]), shape[1], close)
                return
            payload = RESPONSES.get((method, path, stream), NOT_FOUND)
        if self.upstream.latency > 0:
            asyncio.get_running_loop().call_later(self.upstream.latency, self._send, payload, close)
        else:
            self._send(payload, close)

    def _stream(self, events: tuple[bytes, ...], pace: float, close: bool) -> None:
        """The events after the fixed latency, all at once (``pace`` 0) or each ``pace``
        seconds after the one before, then the last chunk."""
        if pace <= 0:
            payload = _sse(events)
            if self.upstream.latency > 0:
                loop = asyncio.get_running_loop()
                loop.call_later(self.upstream.latency, self._send, payload, close)
            else:
                self._send(payload, close)
            return
        pieces = [SSE_HEAD + _chunked(events[0]), *(_chunked(e) for e in events[1:])]
        pieces[-1] += LAST_CHUNK
        self._paced(pieces, 0, pace, close, self.upstream.latency)

    def _paced(
        self, pieces: list[bytes], index: int, pace: float, close: bool, wait: float
    ) -> None:
        if wait > 0:
            loop = asyncio.get_running_loop()
            loop.call_later(wait, self._paced, pieces, index, pace, close, 0.0)
            return
        last = index == len(pieces) - 1
        self._send(pieces[index], close and last)
        if not last and self.transport is not None:
            self._paced(pieces, index + 1, pace, close, pace)

    def _send(self, payload: bytes, close: bool = False) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _wants_stream(body: bytes) -> bool:
    try:
        return json.loads(body).get("stream") is True
    except (ValueError, AttributeError):
        return False


async def serve(port: int, latency: float) -> None:
    """Listen on 127.0.0.1:``port`` (0 picks a free port) until SIGTERM or SIGINT."""
    upstream = Upstream(latency)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(upstream), HOST, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(f"SERVED {upstream.served}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay per answer")
    parser.add_argument(
        "--sse-chunks", type=int, default=1, help="text deltas per streamed OpenAI answer"
    )
    args = parser.parse_args(argv)
    if args.sse_chunks != 1:
        RESPONSES[("POST", "/v1/chat/completions", True)] = _sse(openai_events(args.sse_chunks))
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve(args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    sys.exit(main())
