"""The proxy in process for the newer test files: the app over httpx, the openai SDK on it,
and the request helpers they share (self-contained: nothing imported from other test files)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import openai

from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.app import create_app

API_KEY: Final = "test-api-key-0001-long"
ADMIN_KEY: Final = "test-admin-key-1"
BASE: Final = "http://proxy"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Offline, an API key and an admin key, a fresh SQLite store; ``overrides`` win."""
    fields: dict[str, Any] = {
        "offline": True,
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
        "server": {"api_keys": [API_KEY], "admin_keys": [ADMIN_KEY], "max_body_bytes": 20_000},
    }
    return Settings(**(fields | overrides))


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "GPT 4.1", "messages": [{"role": "user", "content": "Say hello."}]} | fields


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


async def put_prefs(http: httpx.AsyncClient, user: str, **prefs: Any) -> httpx.Response:
    return await http.put(f"/v1/users/{user}/preferences", json=prefs, headers=auth(ADMIN_KEY))


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
