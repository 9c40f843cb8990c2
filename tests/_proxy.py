"""The proxy in process for the newer test files: the app over httpx, the openai SDK on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from test_server import API_KEY, BASE, make_settings

from router._audit import AuditLog
from router._router import PolicyRouter
from router._server.app import create_app
from router._settings import Settings


@dataclass
class Proxy:
    router: PolicyRouter
    http: httpx.AsyncClient
    settings: Settings
    audit_lines: list[str] = field(default_factory=list)

    def sdk(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=f"{BASE}/v1", api_key=API_KEY, http_client=self.http, max_retries=0
        )


def proxy(tmp_path: Path, **overrides: Any) -> AbstractAsyncContextManager[Proxy]:
    """The proxy with test_server's settings (keys, offline, a fresh store) and ``overrides``."""
    return serve(make_settings(tmp_path, **overrides))


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Proxy]:
    lines: list[str] = []
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Proxy(router, client, settings, lines)
