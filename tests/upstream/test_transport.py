"""The production transports (POLICY_ROUTER_TRANSPORT=httptools, the default, and aiohttp) on a
real loopback upstream.

respx cannot see their traffic, so this test runs a tiny fake upstream on 127.0.0.1 and
checks what actually arrived there. It runs in a subprocess: litellm's transport choice is
process-wide (aiohttp for both), and the rest of the suite stays on httpx.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

USER = "sentinel-user-aio-51c0"

PROGRAM = r"""
import asyncio, json, sys

USER, TRANSPORT = sys.argv[1], sys.argv[2]
captured = []

COMPLETION = json.dumps({
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "over aiohttp"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}).encode()


async def handle(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    captured.append({"head": head.decode(), "body": body.decode()})
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 + f"content-length: {len(COMPLETION)}\r\nconnection: close\r\n\r\n".encode()
                 + COMPLETION)
    await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    from router import PolicyRouter, Settings
    from router._audit import AuditLog
    import litellm_check
    settings = Settings(
        transport=TRANSPORT,
        providers={"openai": {"api_base": f"http://127.0.0.1:{port}/v1"}},
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
    )
    router = PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda line: None))
    response = await router.acompletion(
        "GPT 4.1", [{"role": "user", "content": "hi"}], USER,
        metadata={"user_id": USER},
    )
    import router._pipeline.failover as failover
    failover.find_in_arguments = lambda *_: None  # leave it to the wire guard alone
    try:
        await router.acompletion(
            "GPT 4.1", [{"role": "user", "content": "hi"}], USER,
            response_format={"type": "json_schema", "json_schema": {"name": USER, "schema": {}}},
        )
        blocked = None
    except Exception as exc:
        blocked = type(exc).__name__
    await router.aclose()
    server.close()
    print(json.dumps({
        "content": response.choices[0].message.content,
        "captured": captured,
        "aiohttp": litellm_check.aiohttp_in_use(),
        "blocked": blocked,
    }))

asyncio.run(main())
"""

CHECK = """
def aiohttp_in_use():
    import litellm
    return litellm.disable_aiohttp_transport is False
"""


@pytest.mark.parametrize("transport", ["httptools", "aiohttp"])
def test_transport__reaches_the_upstream_without_the_user_id(
    tmp_path: Path, transport: str
) -> None:
    (tmp_path / "litellm_check.py").write_text(CHECK)
    env = dict(os.environ, OPENAI_API_KEY="sk-fake", PYTHONPATH=str(tmp_path))
    env.pop("DISABLE_AIOHTTP_TRANSPORT", None)
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", PROGRAM, USER, transport],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["aiohttp"] is True
    assert result["content"] == "over aiohttp"
    (request,) = result["captured"]
    assert request["head"].startswith("POST /v1/chat/completions HTTP/1.1")
    assert json.loads(request["body"])["messages"] == [{"role": "user", "content": "hi"}]
    assert USER not in request["head"] + request["body"]
    assert result["blocked"] == "IdentifierInRequest"  # the wire guard works on both
    assert "Unclosed" not in done.stderr  # router.aclose() closed the lean path's session
    assert "ResourceWarning" not in done.stderr  # and its connections
