"""The ceiling: a minimal forwarder, no policy, on the fastest stack measured here.

A raw ASGI app on uvicorn with uvloop and httptools, and one pooled aiohttp client. Per
request it does the essential work of a router in the path and nothing more: read and parse
the body (orjson), check the bearer key, look the model up in a dict, remove the identifier
fields, forward the body, write one JSON audit line, and relay the upstream's JSON body or
SSE bytes. Every benchmark of ``serve`` compares against it in the same run.

    python -m bench.reference --upstream http://127.0.0.1:PORT/v1 --port 8400 --key KEY
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import uvicorn

# The same model names the benchmarks send to `serve` ("GPT 4.1") and to LiteLLM's proxy.
MODELS: Final = {"GPT 4.1": "gpt-4.1", "gpt-4.1": "gpt-4.1", "gpt-4-1": "gpt-4.1"}
IDENTIFIERS: Final = ("user", "safety_identifier", "prompt_cache_key", "metadata")
JSON: Final = [(b"content-type", b"application/json")]
SSE: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Reference:
    def __init__(self, upstream: str, key: str, audit: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.auth = f"Bearer {key}".encode()
        self.audit = Path(audit).open("ab", buffering=1 << 16)  # noqa: SIM115  the app's lifetime
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["path"] == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}', JSON)
            return
        if dict(scope["headers"]).get(b"authorization") != self.auth:
            await _respond(send, 401, b'{"error":{"message":"bad key"}}', JSON)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request = orjson.loads(body)
            model = MODELS[request["model"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await _respond(send, 400, b'{"error":{"message":"bad request"}}', JSON)
            return
        for name in IDENTIFIERS:
            request.pop(name, None)
        request["model"] = model
        await self._forward(request, send)

    async def _forward(self, request: dict[str, Any], send: Any) -> None:
        assert self.session is not None
        started = time.perf_counter()
        stream = bool(request.get("stream"))
        async with self.session.post(
            self.url, data=orjson.dumps(request), headers={"Content-Type": "application/json"}
        ) as response:
            if not stream or response.status != 200:
                data = await response.read()
                await _respond(send, response.status, data, JSON)
            else:
                await send({"type": "http.response.start", "status": 200, "headers": SSE})
                async for piece in response.content.iter_any():
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        record = {
            "event": "request",
            "id": uuid.uuid4().hex,
            "model": request["model"],
            "status": response.status,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        }
        self.audit.write(orjson.dumps(record) + b"\n")

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=1000)
                self.session = aiohttp.ClientSession(connector=connector)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                self.audit.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Any, status: int, body: bytes, headers: list[Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the reference forwarder (no policy)")
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:9/v1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--key", default="bench-api-key-0123456789")
    parser.add_argument("--audit", default="/dev/null")
    args = parser.parse_args(argv)
    app = Reference(args.upstream, args.key, args.audit)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
        log_level="warning", access_log=False, lifespan="on",
    )  # fmt: skip
    sys.exit(0)


if __name__ == "__main__":
    main()
