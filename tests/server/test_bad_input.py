"""Bad input at the HTTP proxy: a 4xx in OpenAI's shape and a ``route.refused`` record, never a 500.

Each case here was a 500, a silent guess, or an unbounded audit line before.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from router._audit import AuditLog
from router._router import PolicyRouter
from router._server.app import create_app
from tests.server.test_app import ADMIN_KEY, BASE, auth, chat, make_settings

BIG: Final = 200_000
MAX_TEXT: Final = 512  # router._audit.MAX_TEXT, as docs/ states it


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    lines: list[str] = []
    settings = make_settings(tmp_path)
    server = settings.server.model_copy(update={"max_body_bytes": BIG})
    settings = settings.model_copy(update={"server": server})
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client, lines


def records_of(lines: list[str], request_id: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, lines) if r.get("request_id") == request_id]


async def post_raw(http: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    headers = auth() | {"Content-Type": "application/json"} | headers
    return await http.post("/v1/chat/completions", content=body, headers=headers)


LONE_SURROGATE: Final = (
    b'{"model": "GPT 4.1", "messages": [{"role": "user", "content": "hi"}], "user": "\\ud800"}'
)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(LONE_SURROGATE, "user", id="a user with a lone surrogate"),
        pytest.param(
            json.dumps(chat(privacy={"max_retention": "1" + "0" * 400 + "d"})).encode(),
            "privacy.max_retention",
            id="a duration of 400 zeros",
        ),
        pytest.param(
            json.dumps(chat(privacy={"max_retention": "0" * 400})).encode(),
            "privacy.max_retention",
            id="400 zeros without a unit",
        ),
        pytest.param(json.dumps(chat(metadata=["a"])).encode(), "metadata", id="metadata a list"),
        pytest.param(json.dumps(chat(metadata="a")).encode(), "metadata", id="metadata a string"),
        pytest.param(json.dumps(chat(top_k="many")).encode(), "top_k", id="top_k a string"),
        pytest.param(
            json.dumps(chat(temperature="hot")).encode(), "temperature", id="a typed field"
        ),
    ],
)
async def test_bad_input__400_and_a_refusal_record(
    served: tuple[httpx.AsyncClient, list[str]], body: bytes, param: str
) -> None:
    http, lines = served
    response = await post_raw(http, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    events = [r["event"] for r in records_of(lines, response.headers["x-request-id"])]
    assert events == ["route.refused"]


async def test_bad_input__metadata_message_says_what_was_expected(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    response = await post_raw(http, json.dumps(chat(metadata=["a"])).encode())
    assert response.json()["error"]["message"] == (
        "metadata: expected an object, got a list of 1 item (see docs/library.md, 'Accepted request surface')"
    )


async def test_user__two_router_user_headers_are_refused(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, lines = served
    for users in (("alice", "bob"), ("alice", "alice")):
        headers = [*auth().items(), *(("X-Router-User", u) for u in users)]
        response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "conflicting_user"
        events = [r["event"] for r in records_of(lines, response.headers["x-request-id"])]
        assert events == ["route.refused"]
    headers = [*auth().items(), ("X-Router-User", "alice"), ("X-Router-User", "bob")]
    assert (await http.get("/v1/models", headers=headers)).status_code == 400


@pytest.mark.parametrize("user", ["%FF", "%FE", "alice%FF", "%C3"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_preferences__a_path_that_is_not_utf8_is_refused(
    served: tuple[httpx.AsyncClient, list[str]], user: str, method: str
) -> None:
    http, _ = served
    body = {"max_retention": "none"} if method == "PUT" else None
    response = await http.request(
        method, f"/v1/users/{user}/preferences", json=body, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_path"


async def test_preferences__utf8_percent_encoding_still_names_the_user(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    put = await http.put(
        "/v1/users/j%C3%BCrgen/preferences", json={"allow_training": False}, headers=auth(ADMIN_KEY)
    )
    assert put.status_code == 200
    assert put.json()["user"] == "jürgen"


@pytest.mark.parametrize(
    "given",
    ["has spaces", "x" * 129, "semi;colon", 'quote"d', "é-latin1"],
    ids=["spaces", "too long", "semicolon", "quote", "non-ascii"],
)
async def test_request_id__a_malformed_one_is_replaced_and_echoed_apart(
    served: tuple[httpx.AsyncClient, list[str]], given: str
) -> None:
    http, lines = served
    headers = [*auth().items(), ("X-Request-Id", given.encode())]
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    ours = response.headers["x-request-id"]
    assert ours != given
    assert len(ours) == 32
    echoed = response.headers["x-client-request-id"]
    assert len(echoed) <= 128
    assert echoed == "".join(c for c in given if " " <= c <= "~")[:128]  # é: not ASCII, dropped
    assert {r["request_id"] for r in map(json.loads, lines)} == {ours}


async def test_request_id__a_well_formed_one_is_kept_and_not_echoed(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    headers = auth() | {"X-Request-Id": "trace-1:abc.DEF_2"}
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    assert response.headers["x-request-id"] == "trace-1:abc.DEF_2"
    assert "x-client-request-id" not in response.headers


async def test_request_id__of_two_the_first_is_the_one_kept(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, lines = served
    headers = [*auth().items(), ("X-Request-Id", "first-1"), ("X-Request-Id", "second-2")]
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    assert response.headers["x-request-id"] == "first-1"
    assert {r["request_id"] for r in map(json.loads, lines)} == {"first-1"}


async def test_audit__an_unknown_model_is_a_keyed_hash_and_its_length(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, lines = served
    response = await http.post(
        "/v1/chat/completions", json=chat(model="m" * 100_000), headers=auth()
    )
    assert response.status_code == 404
    (refused,) = [line for line in lines if '"route.refused"' in line]
    assert len(refused) < 4 * MAX_TEXT
    assert "mmm" not in refused
    assert "mmm" not in response.text
    record = json.loads(refused)
    assert record["model"] is None
    assert record["asked"]["length"] == 100_000
    assert re.fullmatch("name-[0-9a-f]{20}", record["asked"]["hash"])


async def test_wrong_method__allow_names_every_method_of_the_path(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    response = await http.request("OPTIONS", "/v1/users/alice/preferences", headers=auth())
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"


async def test_preferences__json_types_are_not_coerced(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    response = await http.put(
        "/v1/users/alice/preferences", json={"allow_training": 0}, headers=auth(ADMIN_KEY)
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "allow_training"


async def test_query__an_unknown_parameter_is_refused(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    response = await http.get("/v1/models", params={"usr": "alice"}, headers=auth())
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "unknown query parameter 'usr'; this endpoint takes 'user'"
    )


async def test_chat__an_integral_float_is_an_integer(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    http, _ = served
    body = chat(max_tokens=16.0, n=1e0, top_k=5.0)
    assert (await http.post("/v1/chat/completions", json=body, headers=auth())).status_code == 200
    body = chat(max_tokens=16.5)
    assert (await http.post("/v1/chat/completions", json=body, headers=auth())).status_code == 400


async def test_openapi__the_chat_request_is_the_accepted_surface(
    served: tuple[httpx.AsyncClient, list[str]],
) -> None:
    """The document names every field the proxy accepts, each with its shape, and no other."""
    from router._core.surface import PARAMETERS

    http, _ = served
    document = (await http.get("/openapi.json")).json()
    chat_request = document["components"]["schemas"]["ChatCompletionRequest"]
    accepted = {name for name, p in PARAMETERS.items() if p.proxy}
    assert chat_request["additionalProperties"] is False
    assert set(chat_request["properties"]) == accepted
