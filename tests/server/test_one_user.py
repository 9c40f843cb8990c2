"""One user per request: a merged X-Router-User, and a request id holding the user id, are
refused with 400 and the reason, and audited under a fresh request id."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from router._audit import AuditLog
from router._router import PolicyRouter
from router._server.app import create_app
from tests.server.test_app import ADMIN_KEY, BASE, auth, chat, make_settings

USER: Final = "alice-0001"
MERGED: Final = (
    "the X-Router-User header holds a comma, as a header merged from several values does "
    "(RFC 9110 joins repeated fields with commas): whose preferences apply cannot be told; "
    "send one X-Router-User header naming one user, without a comma"
)
REQUEST_ID: Final = (
    "the X-Request-Id header holds the user id; the request id is copied into every audit "
    "record and log line, where the id must never be: send a random id (or none, and the "
    "router makes one)"
)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    lines: list[str] = []
    settings = make_settings(tmp_path)
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, lines


def _records(lines: list[str], request_id: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, lines) if r.get("request_id") == request_id]


@pytest.mark.parametrize("merged", [f"{USER}, bob-0002", f"{USER},bob-0002", f"{USER},"])
async def test_router_user__a_merged_header_is_refused_with_the_reason(
    served: tuple[httpx.AsyncClient, list[str]], merged: str
) -> None:
    http, lines = served
    headers = auth() | {"X-Router-User": merged}
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["code"], error["param"]) == (
        MERGED,
        "conflicting_user",
        "X-Router-User",
    )
    (record,) = _records(lines, response.headers["x-request-id"])
    assert (record["event"], record["detail"]) == ("route.refused", MERGED)


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/messages", "/v1/messages/count_tokens"])
async def test_router_user__a_merged_header_is_refused_on_every_endpoint(
    served: tuple[httpx.AsyncClient, list[str]], path: str
) -> None:
    http, _ = served
    body: dict[str, Any] = {"model": "GPT 4.1", "max_tokens": 8}
    body |= (
        {"input": "hi"}
        if path == "/v1/responses"
        else {"messages": [{"role": "user", "content": "hi"}]}
    )
    headers = auth() | {"X-Router-User": f"{USER}, bob-0002"}
    response = await http.post(path, json=body, headers=headers)
    assert response.status_code == 400
    assert MERGED in response.text


@pytest.mark.parametrize("given", [USER, f"req-{USER}-7"])
async def test_request_id__holding_the_user_id_is_refused_and_never_recorded(
    served: tuple[httpx.AsyncClient, list[str]], given: str
) -> None:
    http, lines = served
    headers = auth() | {"X-Request-Id": given}
    response = await http.post("/v1/chat/completions", json=chat(user=USER), headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["message"], error["code"], error["param"]) == (
        REQUEST_ID,
        "invalid_request_id",
        "X-Request-Id",
    )
    fresh = response.headers["x-request-id"]
    assert USER not in fresh
    (record,) = _records(lines, fresh)
    assert record["event"] == "route.refused"
    assert not any(USER in line for line in lines)


async def test_request_id__unrelated_to_the_user_is_kept(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    headers = auth() | {"X-Request-Id": "req-0001"}
    response = await http.post("/v1/chat/completions", json=chat(user=USER), headers=headers)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-0001"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_request_id__holding_the_user_id_is_refused_by_the_preferences_api(
    served: tuple[httpx.AsyncClient, list[str]], method: str
) -> None:
    http, lines = served
    headers = auth(ADMIN_KEY) | {"X-Request-Id": USER}
    body = {"max_retention": "30d"} if method in ("PUT", "PATCH") else None
    response = await http.request(
        method, f"/v1/users/{USER}/preferences", json=body, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request_id"
    assert USER not in response.headers["x-request-id"]
    assert not lines  # nothing was changed, so nothing was recorded
