"""The hand-written bad-input table, run against all four POST endpoints.

Every row is bad input in one way (a lone surrogate in a model, content, a tool name, a
metadata key or the user; nesting past the declared limit; a merged X-Router-User; a request
id that holds the user id; a body that is no JSON object; a value of the wrong type; an
unknown model or field). Each is sent to /v1/chat/completions, /v1/responses, /v1/messages and
/v1/messages/count_tokens, and must get a 4xx (never 500 or above) and exactly one
``route.decision`` or ``route.refused`` record under its request id, with neither the raw user
id nor the request's content in any record or in the answer. docs/audit.md states the figures.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from router._audit import AuditLog
from router._router import PolicyRouter
from router._server.app import create_app
from tests.server.test_app import BASE, auth, make_settings

USER: Final = "table-user-7f3e91"
CONTENT: Final = "my diagnosis is table-content-55c1"
BAD: Final = "\ud800"  # a lone surrogate; json.dumps writes it as the escape \ud800
ENDPOINTS: Final = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1/messages/count_tokens",
)


def deep(levels: int) -> Any:
    """A value nested ``levels`` lists deep."""
    value: Any = CONTENT
    for _ in range(levels):
        value = [value]
    return value


def base(path: str) -> dict[str, Any]:
    """A good request for ``path``, naming USER and holding CONTENT."""
    if path == "/v1/responses":
        return {"model": "GPT 4.1", "input": CONTENT, "user": USER}
    if path.startswith("/v1/messages"):
        body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": CONTENT}]}
        return body | {"metadata": {"user_id": USER}, "max_tokens": 16}
    return {"model": "GPT 4.1", "messages": [{"role": "user", "content": CONTENT}], "user": USER}


def _content(path: str, value: Any) -> dict[str, Any]:
    body = base(path)
    if path == "/v1/responses":
        return body | {"input": [{"role": "user", "content": value}]}
    return body | {"messages": [{"role": "user", "content": value}]}


def _tool(path: str, name: str, parameters: Any) -> dict[str, Any]:
    body = base(path)
    if path == "/v1/responses":
        tool = {"type": "function", "name": name, "parameters": parameters}
    elif path.startswith("/v1/messages"):
        tool = {"name": name, "input_schema": parameters}
    else:
        tool = {"type": "function", "function": {"name": name, "parameters": parameters}}
    return body | {"tools": [tool]}


def _metadata(path: str, metadata: dict[str, Any]) -> dict[str, Any]:
    body = base(path)
    if path.startswith("/v1/messages"):
        return body | {"metadata": {"user_id": USER} | metadata}
    return body | {"metadata": metadata}


def _user(path: str, user: Any) -> dict[str, Any]:
    body = base(path)
    if path.startswith("/v1/messages"):
        return body | {"metadata": {"user_id": user}}
    return body | {"user": user}


@dataclass(frozen=True)
class Row:
    """One bad input: the body for an endpoint (bytes: sent as they are), and headers."""

    body: Callable[[str], dict[str, Any] | bytes]
    headers: dict[str, str] | None = None


def _raw(text: str) -> Callable[[str], bytes]:
    return lambda path: text.encode()


def _very_deep(path: str, levels: int) -> bytes:
    """A body nested past what a JSON reader's stack holds (written as text: json.dumps
    cannot write it either)."""
    text = json.dumps(_content(path, "__deep__"))
    return text.replace('"__deep__"', "[" * levels + '"x"' + "]" * levels).encode()


OBJECT: Final = {"type": "object", "properties": {}}
TABLE: Final[dict[str, Row]] = {
    "a lone surrogate in the model": Row(lambda p: base(p) | {"model": "GPT" + BAD}),
    "a lone surrogate in the content": Row(lambda p: _content(p, CONTENT + BAD)),
    "a lone surrogate in a tool name": Row(lambda p: _tool(p, "lookup" + BAD, OBJECT)),
    "a lone surrogate in a metadata key": Row(lambda p: _metadata(p, {"k" + BAD: "v"})),
    "a lone surrogate in the user": Row(lambda p: _user(p, USER + BAD)),
    "nesting 65 levels in the content": Row(lambda p: _content(p, deep(63))),
    "nesting 2,000 levels in the content": Row(lambda p: _very_deep(p, 2000)),
    "nesting 65 levels in a tool's schema": Row(lambda p: _tool(p, "lookup", deep(62))),
    "an unknown model": Row(lambda p: base(p) | {"model": CONTENT}),
    "a model that is a number": Row(lambda p: base(p) | {"model": 4}),
    "an unknown field": Row(lambda p: base(p) | {"contents": CONTENT}),
    "an unknown field whose name is the user id": Row(lambda p: base(p) | {USER: 1}),
    "a user that is a number": Row(lambda p: _user(p, 7)),
    "a merged X-Router-User header": Row(
        lambda p: {k: v for k, v in base(p).items() if k != "user"},
        {"X-Router-User": f"{USER}, other-user-0001"},
    ),
    "an X-Request-Id equal to the user id": Row(base, {"X-Request-Id": USER}),
    "an X-Request-Id holding the user id": Row(base, {"X-Request-Id": f"req-{USER}-1"}),
    "a body that is not JSON": Row(_raw("{not json")),
    "a body that is a JSON list": Row(_raw("[1, 2]")),
    "a NaN literal": Row(lambda p: json.dumps(base(p)).replace("}", ', "temperature": NaN}', 1).encode()),
    "a privacy value that does not parse": Row(
        lambda p: base(p) | {"privacy": {"max_retention": CONTENT}}
    ),
    "a privacy field whose name is content": Row(lambda p: base(p) | {"privacy": {CONTENT: True}}),
    "an unknown provider in privacy": Row(
        lambda p: base(p) | {"privacy": {"deny_providers": [CONTENT]}}
    ),
}  # fmt: skip
REQUESTS: Final = len(TABLE) * len(ENDPOINTS)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    lines: list[str] = []
    settings = make_settings(tmp_path)
    server = settings.server.model_copy(update={"max_body_bytes": 200_000})
    settings = settings.model_copy(update={"server": server})
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, lines


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("row", list(TABLE))
async def test_bad_input_table__a_4xx_and_exactly_one_record_holding_no_caller_text(
    served: tuple[httpx.AsyncClient, list[str]], row: str, path: str
) -> None:
    http, lines = served
    case = TABLE[row]
    body = case.body(path)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = auth() | {"Content-Type": "application/json"} | (case.headers or {})
    response = await http.post(path, content=content, headers=headers)

    assert 400 <= response.status_code < 500, response.text
    request_id = response.headers["x-request-id"]
    assert USER not in request_id
    records = [r for r in map(json.loads, lines) if r.get("request_id") == request_id]
    outcomes = [r["event"] for r in records if r["event"] in ("route.decision", "route.refused")]
    assert len(outcomes) == 1, records
    evidence = "\n".join(lines)
    assert USER not in evidence
    assert "diagnosis" not in evidence
    assert "diagnosis" not in response.text
    assert "GPT\\ud800" not in evidence


def test_bad_input_table__figures() -> None:
    """The figures docs/audit.md states: rows and requests of the table."""
    assert (len(TABLE), REQUESTS) == (22, 88)
