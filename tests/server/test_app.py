"""The HTTP proxy in process: the real ``openai`` SDK and httpx talk to the ASGI app.

The router runs offline (litellm's mock response, no network) unless a test mocks the
providers' wire with respx to make backends fail.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import openai
import pytest
import respx
from fastapi import FastAPI
from openai.types.chat import ChatCompletionUserMessageParam

from router._audit import AuditLog
from router._config.settings import ServerSettings, Settings
from router._errors import ConfigError, FailureKind, RouterError, UpstreamFailure
from router._pipeline.failover import Answered
from router._router import PolicyRouter
from router._server.app import check_auth_settings, create_app, is_loopback
from tests._support.wire import mock_provider, use_fake_credentials

API_KEY: Final = "test-api-key-0001-long"
ADMIN_KEY: Final = "test-admin-key-1"
BASE: Final = "http://proxy"
EVERY_INTERFACE: Final = "0.0.0.0"  # noqa: S104  # what the refusal tests bind to
HELLO: Final[tuple[ChatCompletionUserMessageParam, ...]] = (
    {"role": "user", "content": "Say hello."},
)
OFFLINE_TEXT: Final = "[offline] policy-router chose OpenAI for GPT 4.1; no provider was contacted."


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    server = {
        "api_keys": [API_KEY],
        "admin_keys": ["other-admin-key-0001", ADMIN_KEY],
        "max_body_bytes": 20_000,
    }
    fields: dict[str, Any] = {
        "offline": True,
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
        "server": server,
    }
    return Settings(**(fields | overrides))


@pytest.fixture
def audit_lines() -> list[str]:
    return []


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def router(settings: Settings, audit_lines: list[str]) -> AsyncIterator[PolicyRouter]:
    async with PolicyRouter.from_settings(
        settings, audit_log=AuditLog(audit_lines.append)
    ) as built:
        yield built


@pytest.fixture
def app(router: PolicyRouter, settings: Settings) -> FastAPI:
    return create_app(router, settings)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


@pytest.fixture
def sdk(http: httpx.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{BASE}/v1", api_key=API_KEY, http_client=http, max_retries=0
    )


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "GPT 4.1", "messages": list(HELLO)} | fields


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


async def put_prefs(http: httpx.AsyncClient, user: str, **prefs: Any) -> httpx.Response:
    return await http.put(f"/v1/users/{user}/preferences", json=prefs, headers=auth(ADMIN_KEY))


# --- chat completions -----------------------------------------------------------------------


async def test_chat__openai_sdk_gets_a_completion(sdk: openai.AsyncOpenAI) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(
        model="GPT 4.1", messages=list(HELLO), user="alice"
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == OFFLINE_TEXT
    assert raw.headers["x-router-route"] == "gpt-4-1/openai"
    assert raw.headers["x-router-provider"] == "openai"
    assert raw.headers["x-request-id"]


async def test_chat__openai_sdk_streams_chunks(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(model="gpt-4-1", messages=list(HELLO), stream=True)
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert len(pieces) > 1
    assert "".join(pieces) == OFFLINE_TEXT


async def test_chat__sse_events_end_with_done(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=chat(stream=True), headers=auth())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"


async def test_chat__admin_key_may_chat_too(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=chat(), headers=auth(ADMIN_KEY))
    assert response.status_code == 200


async def test_chat__raw_user_reaches_no_audit_record(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    headers = auth() | {"X-Router-User": "alice@example.com"}
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    assert response.status_code == 200
    assert audit_lines
    assert not any("alice@example.com" in line for line in audit_lines)


# --- request ids ----------------------------------------------------------------------------


async def test_request_id__every_audit_record_of_a_request_carries_the_response_header(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    response = await http.post("/v1/chat/completions", json=chat(user="alice"), headers=auth())
    request_id = response.headers["x-request-id"]
    events = records(audit_lines)
    assert {e["event"] for e in events} == {"route.decision", "route.attempt"}
    assert {e["request_id"] for e in events} == {request_id}


async def test_request_id__refused_request_is_audited_under_its_id(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    response = await http.post("/v1/chat/completions", json=chat(model="GPT 9"), headers=auth())
    assert response.status_code == 404
    events = records(audit_lines)
    assert [e["event"] for e in events] == ["route.refused"]
    assert events[0]["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("trace-42:abc.DEF_9", True, id="a well-formed id from the caller is kept"),
        pytest.param("bad id\twith spaces", False, id="a malformed id is replaced"),
        pytest.param("x" * 129, False, id="an overlong id is replaced"),
    ],
)
async def test_request_id__callers_id_is_kept_only_when_well_formed(
    http: httpx.AsyncClient, given: str, kept: bool
) -> None:
    response = await http.get("/healthz", headers={"X-Request-Id": given})
    assert (response.headers["x-request-id"] == given) is kept


async def test_request_id__on_errors_too(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=chat())
    assert response.status_code == 401
    assert response.headers["x-request-id"]


# --- errors ---------------------------------------------------------------------------------


async def test_policy_violation__403_with_reasons_and_alternatives(
    http: httpx.AsyncClient, sdk: openai.AsyncOpenAI
) -> None:
    assert (await put_prefs(http, "alice", max_retention="none")).status_code == 200
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await sdk.chat.completions.create(
            model="Claude 4.5 Sonnet", messages=list(HELLO), user="alice"
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "policy_violation"
    assert error["type"] == "permission_error"
    assert {r["provider"] for r in error["rejected"]} == {"anthropic", "bedrock"}
    assert all(
        any("but max_retention allows" in reason for reason in r["reasons"])
        for r in error["rejected"]
    )
    assert error["alternatives"]
    assert "Claude 4.5 Sonnet" not in error["alternatives"]


async def test_chat__a_litellm_model_string_is_routed_to_its_provider(
    sdk: openai.AsyncOpenAI,
) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(
        model="azure/gpt-4.1", messages=list(HELLO)
    )

    assert raw.headers["x-router-route"] == "gpt-4-1/azure"  # not OpenAI, the first route
    assert raw.parse().model == "azure/gpt-4.1"  # the name the caller asked for


async def test_chat__an_unknown_parameter_gets_the_closest_name(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/chat/completions",
        json={"model": "GPT 4.1", "messages": list(HELLO), "temprature": 0.2},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )

    assert response.status_code == 400
    assert "did you mean 'temperature'?" in response.json()["error"]["message"]


async def test_unknown_model__404_model_not_found(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(model="GPT 9", messages=list(HELLO))
    assert caught.value.body == {
        "message": (
            "unknown model (a name of 5 characters): name a model of the catalog by display name, "
            "alias, slug, a provider's model id, or a litellm model string such as "
            "'openai/gpt-4.1' (see 'policy-router models'); closest catalog names: GPT 5, GPT 4.1"
        ),
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        pytest.param(
            chat(privacy={"max_retention": "soon"}),
            "privacy.max_retention",
            "privacy.max_retention: 'max_retention' must be 'none', a duration like '24h', "
            "'30d', '90d' or '2y', or 'unlimited' (got a string of 4 characters)",
            id="a privacy value that does not parse",
        ),
        pytest.param(
            chat(privacy={"max_retension": "none"}),
            "privacy.max_retension",
            "privacy.max_retension: Extra inputs are not permitted",
            id="a misspelt privacy field",
        ),
        pytest.param(
            chat(privacy={"allow_providers": ["Nowhere Inc"]}),
            "privacy",
            None,
            id="an unknown provider in privacy",
        ),
        pytest.param(
            chat(api_base="http://elsewhere.example"),
            "api_base",
            "the router chooses the backend from the policy; remove 'api_base' (set provider "
            "endpoints with POLICY_ROUTER_PROVIDERS__<SLUG>__API_BASE and credentials with the "
            "provider's usual environment variable, e.g. OPENAI_API_KEY, instead)",
            id="a field that would choose the backend",
        ),
        pytest.param(
            chat(store=True),
            "store",
            "store: expected false: a stored completion outlives the retention the catalog "
            "declares for the route; remove 'store' (the router sends store: false where a "
            "provider stores by default), got true (see docs/library.md, 'Accepted request surface')",
            id="storage at the provider",
        ),
        pytest.param(
            chat(user_id="x"),
            "user_id",
            "unsupported argument 'user_id': the proxy forwards OpenAI chat-completion "
            "parameters and a few reviewed extras only; remove it (see docs/library.md, 'Accepted "
            "request surface')",
            id="a field the proxy does not forward",
        ),
        pytest.param(
            chat(timeout=600),
            "timeout",
            "'timeout' is not accepted by the proxy: the operator's settings bound every call",
            id="a timeout of the caller's own (the operator's setting bounds every call)",
        ),
        pytest.param(
            {"model": "GPT 4.1"},
            "messages",
            "'messages' is required (see docs/library.md, 'Accepted request surface')",
            id="messages missing",
        ),
        pytest.param(
            chat(messages=[]),
            "messages",
            "messages: expected a list of at least 1 item(s), got a list of 0 items (see docs/library.md, 'Accepted "
            "request surface')",
            id="no messages",
        ),
        pytest.param(
            chat(temperature="hot"),
            "temperature",
            "temperature: expected a number, got a string of 3 characters (see docs/library.md, 'Accepted request "
            "surface')",
            id="a typed OpenAI field of the wrong type",
        ),
    ],
)
async def test_bad_input__400_names_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], param: str, message: str | None
) -> None:
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    if message is not None:
        assert error["message"] == message


async def test_bad_input__body_that_is_not_json(http: httpx.AsyncClient) -> None:
    headers = auth() | {"Content-Type": "application/json"}
    response = await http.post("/v1/chat/completions", content=b"{nope", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the request body is not valid JSON"


async def test_bad_input__two_different_users_are_refused(http: httpx.AsyncClient) -> None:
    headers = auth() | {"X-Router-User": "bob"}
    response = await http.post("/v1/chat/completions", json=chat(user="alice"), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "conflicting_user"


async def test_user__header_and_body_may_name_the_same_user(http: httpx.AsyncClient) -> None:
    headers = auth() | {"X-Router-User": "alice"}
    response = await http.post("/v1/chat/completions", json=chat(user="alice"), headers=headers)
    assert response.status_code == 200


async def test_user__header_alone_applies_that_users_preferences(
    http: httpx.AsyncClient,
) -> None:
    await put_prefs(http, "carol", deny_providers=["openai", "azure"])
    headers = auth() | {"X-Router-User": "carol"}
    response = await http.post("/v1/chat/completions", json=chat(), headers=headers)
    assert response.status_code == 403


async def test_unknown_path__404_in_openai_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/nothing", headers=auth())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method__405_in_openai_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/chat/completions", headers=auth())
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_unexpected_error__500_without_traceback(
    http: httpx.AsyncClient, router: PolicyRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(router.pipeline, "route", broken)
    response = await http.post("/v1/chat/completions", json=chat(), headers=auth())
    assert response.status_code == 500
    assert "secret-internal-detail" not in response.text
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"]


class _Chunk:
    def model_dump(self, **_: Any) -> dict[str, Any]:
        delta = {"index": 0, "delta": {"content": "hi"}}
        return {"object": "chat.completion.chunk", "choices": [delta]}


async def test_stream__failure_after_first_chunk_ends_with_an_error_event(
    http: httpx.AsyncClient, router: PolicyRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def chunks() -> AsyncIterator[Any]:
        yield _Chunk()
        raise UpstreamFailure(
            "openai: timeout: key sk-secret",
            kind=FailureKind.TIMEOUT,
            status_code=None,
            provider="openai",
        )

    async def streaming(*_: Any, **__: Any) -> Any:
        return chunks(), Answered("req", router.catalog.routes_of("GPT 4.1")[0], offline=True)

    monkeypatch.setattr(router.pipeline, "route", streaming)
    response = await http.post("/v1/chat/completions", json=chat(stream=True), headers=auth())
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert json.loads(events[0])["choices"][0]["delta"]["content"] == "hi"
    assert json.loads(events[-1])["error"] == {
        "message": "the backend failed (timeout) and no other route could take over; try again later",
        "type": "server_error",
        "param": None,
        "code": "upstream_failure",
    }
    assert "[DONE]" not in events
    assert "sk-secret" not in response.text


async def test_stream__sdk_raises_on_the_error_event(
    sdk: openai.AsyncOpenAI, router: PolicyRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def chunks() -> AsyncIterator[Any]:
        yield _Chunk()
        raise RouterError("something unexpected")

    async def streaming(*_: Any, **__: Any) -> Any:
        return chunks(), Answered("req", router.catalog.routes_of("GPT 4.1")[0], offline=True)

    monkeypatch.setattr(router.pipeline, "route", streaming)
    stream = await sdk.chat.completions.create(model="GPT 4.1", messages=list(HELLO), stream=True)
    with pytest.raises(openai.APIError, match="internal error"):
        async for _ in stream:
            pass


# --- backends failing (real litellm request building, respx on the wire) --------------------


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    use_fake_credentials(monkeypatch)
    return make_settings(tmp_path, offline=False)


@pytest.fixture
async def online_http(online: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with PolicyRouter.from_settings(online, audit_log=AuditLog(lambda _: None)) as router:
        transport = httpx.ASGITransport(app=create_app(router, online))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client


@pytest.fixture
def wire() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


async def test_backends_down__503_with_every_attempt(
    online_http: httpx.AsyncClient, wire: respx.MockRouter
) -> None:
    mock_provider(wire, "openai", status=500, error="upstream exploded")
    mock_provider(wire, "azure", status=503, error="upstream exploded")
    response = await online_http.post("/v1/chat/completions", json=chat(), headers=auth())
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "backends_unavailable"
    assert [(a["provider"], a["outcome"]) for a in error["attempts"]] == [
        ("openai", "server"),
        ("azure", "server"),
    ]
    assert "upstream exploded" not in response.text
    assert "fake" not in response.text  # no credential, not even a fake one


@pytest.mark.parametrize(
    ("privacy", "answers", "retry_after"),
    [
        ({}, {"openai": (500, {}), "azure": (429, {"retry-after": "17"})}, "17"),
        ({"deny_providers": ["azure"]}, {"openai": (429, {"retry-after-ms": "2500"})}, "3"),
        ({"deny_providers": ["azure"]}, {"openai": (429, {})}, None),
    ],
    ids=["litellm's path, after a 500", "the lean path, in milliseconds", "no wait given"],
)
async def test_backends_down__last_attempt_rate_limited_is_429_and_a_rate_limit_error(
    online_http: httpx.AsyncClient,
    wire: respx.MockRouter,
    privacy: dict[str, Any],
    answers: dict[str, tuple[int, dict[str, str]]],
    retry_after: str | None,
) -> None:
    for prefix, (status, headers) in answers.items():
        route = mock_provider(wire, prefix, status=status, error="upstream exploded")
        route.mock(return_value=httpx.Response(status, headers=headers, json={"error": {}}))
    sdk = openai.AsyncOpenAI(
        base_url=f"{BASE}/v1", api_key=API_KEY, http_client=online_http, max_retries=0
    )
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(
            model="GPT 4.1", messages=HELLO, extra_body={"privacy": privacy}
        )
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers.get("retry-after") == retry_after
    error = response.json()["error"]
    assert error["code"] == "backends_unavailable"
    assert [a["outcome"] for a in error["attempts"]][-1] == "rate_limit"
    assert [a["provider"] for a in error["attempts"]] == list(answers)


async def test_backend_rejects_request__its_400_class_status(
    online_http: httpx.AsyncClient, wire: respx.MockRouter
) -> None:
    route = mock_provider(wire, "openai", status=400, error="max_tokens is too large")
    response = await online_http.post("/v1/chat/completions", json=chat(), headers=auth())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected_by_provider"
    assert route.call_count == 1


# --- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "missing_api_key", id="no key"),
        pytest.param(auth("wrong"), "invalid_api_key", id="a wrong key"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, "missing_bearer", id="not bearer"),
        pytest.param({"Authorization": API_KEY}, "missing_bearer", id="a bare key"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/v1/chat/completions", id="chat"),
        pytest.param("GET", "/v1/models", id="models"),
        pytest.param("GET", "/v1/users/alice/preferences", id="preferences"),
    ],
)
async def test_auth__401_without_a_valid_key(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], code: str
) -> None:
    response = await http.request(method, path, json=chat(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"],
        "type": "authentication_error",
        "param": None,
        "code": code,
    }
    assert API_KEY not in response.text  # the caller's value is never quoted


@pytest.mark.parametrize(
    ("first", "then", "status"),
    [
        pytest.param(API_KEY, "wrong", 200, id="the first is ours: served"),
        pytest.param("wrong", API_KEY, 401, id="a later one is ours: refused"),
    ],
)
async def test_auth__of_two_authorization_headers_the_first_decides(
    http: httpx.AsyncClient, first: str, then: str, status: int
) -> None:
    headers = [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {then}")]
    response = await http.get("/v1/models", headers=headers)
    assert response.status_code == status


async def test_auth__a_key_without_bearer__names_the_missing_scheme(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/v1/chat/completions", json=chat(), headers={"Authorization": API_KEY}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "the Authorization header lacks the 'Bearer' scheme: send 'Authorization: Bearer <key>' "
        "(the word Bearer, a space, then the key)"
    )


async def test_auth__sdk_with_a_wrong_key_raises_authentication_error(
    http: httpx.AsyncClient,
) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{BASE}/v1", api_key="wrong", http_client=http)
    with pytest.raises(openai.AuthenticationError):
        await sdk.chat.completions.create(model="GPT 4.1", messages=list(HELLO))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_auth__api_key_may_not_touch_preferences(
    http: httpx.AsyncClient, method: str
) -> None:
    response = await http.request(method, "/v1/users/alice/preferences", json={}, headers=auth())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_key_required"


async def test_auth__health_needs_no_key(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200


async def test_auth__no_keys_on_loopback_with_allow_no_auth_serves_everything(
    tmp_path: Path,
) -> None:
    server = {"allow_no_auth": True, "host": "127.0.0.1"}
    settings = make_settings(tmp_path, server=server)
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda _: None)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            assert (await client.post("/v1/chat/completions", json=chat())).status_code == 200
            put = await client.put("/v1/users/dan/preferences", json={"allow_training": False})
            assert put.status_code == 200


# --- refusing to start ----------------------------------------------------------------------


NO_KEY: Final = (
    "refusing to start: no API key is configured; set POLICY_ROUTER_SERVER__API_KEYS='[\"<key>\"]' "
    "(and POLICY_ROUTER_SERVER__ADMIN_KEYS for the preference endpoints), or for local "
    "development on a loopback host pass --allow-no-auth"
)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        pytest.param({}, NO_KEY, id="no key and no allow_no_auth"),
        pytest.param({"host": "127.0.0.1"}, NO_KEY, id="no key on loopback without the flag"),
        pytest.param(
            {"allow_no_auth": True, "host": EVERY_INTERFACE},
            "refusing to start: --allow-no-auth is allowed on a loopback host only (127.0.0.1, "
            "::1, localhost), not '0.0.0.0'; set POLICY_ROUTER_SERVER__API_KEYS to serve on it",
            id="allow_no_auth on every interface",
        ),
        pytest.param(
            {"allow_no_auth": True, "host": "192.168.1.10"},
            None,
            id="allow_no_auth on a LAN address",
        ),
        pytest.param(
            {"api_keys": [" "]},
            "refusing a weak key: POLICY_ROUTER_SERVER__API_KEYS entry 1 has 0 characters (not "
            "counting spaces); a key needs at least 16 (make one with: openssl rand -hex 16)",
            id="an empty key",
        ),
    ],
)
def test_startup__refused(server: dict[str, Any], message: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        check_auth_settings(ServerSettings(**server))
    assert "\n" not in str(caught.value)
    if message is not None:
        assert str(caught.value) == message


@pytest.mark.parametrize(
    "server",
    [
        pytest.param({"allow_no_auth": True, "host": "127.0.0.1"}, id="no key on 127.0.0.1"),
        pytest.param({"allow_no_auth": True, "host": "::1"}, id="no key on ::1"),
        pytest.param({"allow_no_auth": True, "host": "localhost"}, id="no key on localhost"),
        pytest.param(
            {"api_keys": [API_KEY], "host": EVERY_INTERFACE}, id="a key on every interface"
        ),
        pytest.param(
            {"admin_keys": ["test-admin-key-0001-long"], "host": EVERY_INTERFACE},
            id="an admin key alone",
        ),
    ],
)
def test_startup__allowed(server: dict[str, Any]) -> None:
    check_auth_settings(ServerSettings(**server))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("LOCALHOST", True),
     (EVERY_INTERFACE, False), ("::", False), ("10.0.0.1", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_startup__create_app_refuses_too(tmp_path: Path, router: PolicyRouter) -> None:
    settings = make_settings(tmp_path, server={})
    with pytest.raises(ConfigError):
        create_app(router, settings)


# --- body size ------------------------------------------------------------------------------


async def test_body_limit__declared_length_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    body = chat(messages=[{"role": "user", "content": "x" * 30_000}])
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert response.headers["x-request-id"]


async def test_body_limit__streamed_body_is_counted(http: httpx.AsyncClient) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b'{"model": "GPT 4.1", "messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}]}'

    headers = auth() | {"Content-Type": "application/json"}
    response = await http.post("/v1/chat/completions", content=pieces(), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_body_limit__body_under_the_limit_is_served(http: httpx.AsyncClient) -> None:
    body = chat(messages=[{"role": "user", "content": "x" * 10_000}])
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 200


# --- models ---------------------------------------------------------------------------------


async def test_models__sdk_lists_every_model_with_an_allowed_route(
    sdk: openai.AsyncOpenAI, router: PolicyRouter
) -> None:
    listed = [m async for m in sdk.models.list()]
    assert {m.id for m in listed} == {m.slug for m in router.catalog.models}
    gpt = next(m for m in listed if m.id == "gpt-4-1")
    assert gpt.model_extra is not None
    assert gpt.model_extra["name"] == "GPT 4.1"
    assert gpt.model_extra["providers"] == ["openai", "azure"]


@pytest.mark.parametrize("via", ["header", "query"])
async def test_models__filtered_by_the_users_preferences(http: httpx.AsyncClient, via: str) -> None:
    await put_prefs(http, "erin", allow_providers=["OpenAI"])
    if via == "header":
        response = await http.get("/v1/models", headers=auth() | {"X-Router-User": "erin"})
    else:
        response = await http.get("/v1/models", params={"user": "erin"}, headers=auth())
    models = {m["id"]: m for m in response.json()["data"]}
    assert "claude-4-5-sonnet" not in models
    assert models["gpt-4-1"]["providers"] == ["openai"]
    assert {m["routes"][0]["provider"] for m in models.values()} == {"openai"}


async def test_models__route_facts_are_listed(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/models", headers=auth())
    claude = next(m for m in response.json()["data"] if m["id"] == "claude-4-5-sonnet")
    anthropic = next(r for r in claude["routes"] if r["provider"] == "anthropic")
    assert anthropic == {
        "provider": "anthropic",
        "provider_name": "Anthropic",
        "retention": "30d",
        "flagged_retention": "2y",
        "trains_on_api_data": False,
        "user_identifier": "omit",
    }


# --- preferences ----------------------------------------------------------------------------


async def test_preferences__put_get_delete_round_trip(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    put = await put_prefs(http, "frank", max_retention="30 days", allow_providers=["Groq"])
    stored = {"max_retention": "30d", "allow_providers": ["groq"]}
    assert put.status_code == 200
    report = {"user": "frank", "preferences": stored, "effective": stored, "without_effect": []}
    assert put.json() == report
    got = await http.get("/v1/users/frank/preferences", headers=auth(ADMIN_KEY))
    assert got.json() == report
    deleted = await http.delete("/v1/users/frank/preferences", headers=auth(ADMIN_KEY))
    assert deleted.json() == {"user": "frank", "deleted": True}
    again = await http.delete("/v1/users/frank/preferences", headers=auth(ADMIN_KEY))
    assert again.json() == {"user": "frank", "deleted": False}
    gone = await http.get("/v1/users/frank/preferences", headers=auth(ADMIN_KEY))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "preferences_not_found"


async def test_preferences__audit_names_the_admin_key_by_index_never_the_key(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    await put_prefs(http, "gina", allow_training=False)
    await http.delete("/v1/users/gina/preferences", headers=auth(ADMIN_KEY))
    changes = [e for e in records(audit_lines) if e["event"] == "preferences.changed"]
    assert [(e["action"], e["actor"]) for e in changes] == [
        ("set", "admin-key-1"),
        ("delete", "admin-key-1"),
    ]
    assert not any(ADMIN_KEY in line or "gina" in line for line in audit_lines)


async def test_preferences__user_ids_with_slashes_and_spaces(http: httpx.AsyncClient) -> None:
    put = await put_prefs(http, "team/a b", allow_training=False)
    assert put.status_code == 200
    assert put.json()["user"] == "team/a b"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"max_retention": "later"}, "max_retention", id="a value that does not parse"),
        pytest.param({"retention": "none"}, "retention", id="an unknown field"),
        pytest.param({"allow_training": "perhaps"}, "allow_training", id="not a boolean"),
        pytest.param({"deny_providers": ["Nowhere"]}, None, id="an unknown provider"),
    ],
)
async def test_preferences__bad_body_is_400_and_stores_nothing(
    http: httpx.AsyncClient, body: dict[str, Any], param: str | None
) -> None:
    response = await put_prefs(http, "hank", **body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    got = await http.get("/v1/users/hank/preferences", headers=auth(ADMIN_KEY))
    assert got.status_code == 404


# --- health ---------------------------------------------------------------------------------


async def test_readyz__503_when_the_store_cannot_be_reached(
    tmp_path: Path, audit_lines: list[str]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    settings = make_settings(tmp_path, store_url=f"sqlite:///{tmp_path / 'file' / 'p.sqlite3'}")
    async with PolicyRouter.from_settings(
        settings, audit_log=AuditLog(audit_lines.append)
    ) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            ready = await client.get("/readyz")
            chat_response = await client.post(
                "/v1/chat/completions", json=chat(user="ivy"), headers=auth()
            )
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "catalog": "ok",
        "preference_store": "unavailable",
        "backends": "ok",
    }
    assert str(tmp_path) not in ready.text
    assert chat_response.status_code == 503
    assert chat_response.json()["error"]["code"] == "preference_store_unavailable"
    assert str(tmp_path) not in chat_response.text


# --- OpenAPI --------------------------------------------------------------------------------


async def test_openapi__every_route_with_its_methods(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/openapi.json")).json()
    methods = {path: set(ops) for path, ops in doc["paths"].items()}
    assert methods == {
        "/v1/chat/completions": {"post"},
        "/v1/responses": {"post"},
        "/v1/messages": {"post"},
        "/v1/messages/count_tokens": {"post"},
        "/v1/models": {"get"},
        "/v1/users/{user}/preferences": {"get", "put", "patch", "delete"},
        "/v1/users": {"get"},
        "/v1/models/{model}": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
        "/admin/reload": {"post"},
    }


async def test_openapi__errors_documented_in_openai_shape(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/openapi.json")).json()
    chat_op = doc["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "401", "403", "404", "413", "503"} <= set(chat_op["responses"])
    assert "422" not in json.dumps(doc["paths"])
    assert chat_op["security"] == [{"HTTPBearer": []}]
    assert "text/event-stream" in chat_op["responses"]["200"]["content"]
    assert "ErrorResponse" in doc["components"]["schemas"]


HTTP_USER = "sentinel-http-user-5d1e"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        pytest.param({"service_tier": HTTP_USER}, "service_tier", id="service_tier"),
        pytest.param({"stream_options": {"include_usage": True, "user": HTTP_USER}}, "stream_options", id="stream_options.user"),
        pytest.param({"thinking": {"type": "enabled", "user": HTTP_USER}}, "thinking", id="thinking.user"),
        pytest.param({"web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": HTTP_USER}}}}, "web_search_options", id="web_search_options"),
        pytest.param({"logit_bias": {HTTP_USER: 1}}, "logit_bias", id="a logit_bias key"),
        pytest.param({"response_format": {"type": "json_schema", "json_schema": {"name": HTTP_USER, "schema": {}}}}, "response_format", id="a response_format schema name"),
    ],
)  # fmt: skip
async def test_user_id_in_other_fields__400_and_nothing_sent(
    online_http: httpx.AsyncClient, wire: respx.MockRouter, fields: dict[str, Any], param: str
) -> None:
    """Over HTTP the id passed in these fields before; now each is refused or blocked."""
    route = mock_provider(wire, "openai")
    body = chat(user=HTTP_USER, **fields)
    response = await online_http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not route.calls


class _Server:
    """The server's side of one ASGI request: the body to receive, the messages sent."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.messages: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


async def _served(app: FastAPI, path: str, body: bytes) -> weakref.ref[_Server]:
    """One request to ``app`` as a server makes it; a weak reference to that server's side."""
    server = _Server(body)
    headers = [(b"authorization", f"Bearer {API_KEY}".encode()),
               (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    await app(scope, server.receive, server.send)
    assert server.messages[0]["status"] == 200
    return weakref.ref(server)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_leaves_nothing_for_the_collector(app: FastAPI, stream: bool) -> None:
    """Once a request is answered, what it held is freed by reference counting: a cycle through
    the scope would keep it (and uvicorn's per-request objects) until the collector's next
    pass, which under load is a pause of tens of milliseconds (bench/README, open loop)."""
    body = json.dumps(chat(stream=stream)).encode()
    await _served(app, "/v1/chat/completions", body)  # warm: first-use caches
    gc.collect()
    gc.disable()
    try:
        server = await _served(app, "/v1/chat/completions", body)
        for _ in range(3):  # what the request left to the loop (a generator's close) runs
            await asyncio.sleep(0)
        assert server() is None
    finally:
        gc.enable()
