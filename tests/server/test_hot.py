"""The proxy's chat endpoint (router/_server/chat.py) on both forwarding paths.

On the lean path the upstream's JSON body and SSE events reach the client byte for byte; on
litellm's path (a route whose deployment says ``path: litellm``) litellm's objects are
rendered as before. Requests the quick checks cannot take go through the pydantic model.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from router._audit import AuditLog
from router._config.settings import Settings
from router._router import PolicyRouter
from router._server.app import create_app
from tests._support.wire import CANNED_TEXT, WIRES, reply, sse_body, use_fake_credentials

API_KEY: Final = "test-api-key-0001-long"
BODY: Final = orjson.dumps(reply(WIRES["openai"]))  # orjson: bytes unlike the proxy's own JSON
EVENTS: Final = sse_body(WIRES["openai"])


def deployment(tmp_path: Path, path: str) -> Path:
    file = tmp_path / "routes.yaml"
    file.write_text(
        "reaches: {openai: [openai]}\n"
        "credentials: {openai: [[OPENAI_API_KEY]]}\n"
        f"routes:\n  gpt-4-1: {{openai: {{model: openai/gpt-4.1, path: {path}}}}}\n"
    )
    return file


@pytest.fixture(params=["lean", "litellm"])
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> AsyncIterator[httpx.AsyncClient]:
    use_fake_credentials(monkeypatch)
    settings = Settings(
        deployment=deployment(tmp_path, path),
        store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
        server={"api_keys": [API_KEY]},
    )
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda _: None)) as router:
        transport = httpx.ASGITransport(app=create_app(router, settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            yield client


def post(http: httpx.AsyncClient, **fields: Any) -> Any:
    body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": "hi"}]} | fields
    return http.post(
        "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )


async def test_json__lean_relays_the_upstream_bytes(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, path: str
) -> None:
    respx_mock.post(host="api.openai.com").respond(
        200, content=BODY, headers={"content-type": "application/json"}
    )

    response = await post(http, user="alice-0001")

    assert response.status_code == 200
    assert response.headers["x-router-route"] == "gpt-4-1/openai"
    assert response.json()["choices"][0]["message"]["content"] == CANNED_TEXT
    assert response.json()["model"] == "GPT 4.1"  # the name asked for, on both paths
    relayed = response.json() == json.loads(BODY) | {"model": "GPT 4.1"}  # all else as sent
    assert relayed is (path == "lean")


async def test_stream__lean_relays_the_upstream_events(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter, path: str
) -> None:
    respx_mock.post(host="api.openai.com").respond(
        200, content=EVENTS, headers={"content-type": "text/event-stream"}
    )

    response = await post(http, stream=True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events.count("data: [DONE]") == 1
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert "".join(pieces) == CANNED_TEXT
    assert {c["model"] for c in chunks} == {"GPT 4.1"}  # each event names the model asked for


async def test_stream__failure_mid_stream_ends_with_an_error_event(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    class Breaks(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            yield EVENTS[: EVENTS.index(b"\n\n") + 2]
            raise httpx.ReadError("reset")

    headers = {"content-type": "text/event-stream"}
    respx_mock.post(host="api.openai.com").mock(
        return_value=httpx.Response(200, headers=headers, stream=Breaks())
    )

    response = await post(http, stream=True)

    last = [e for e in response.text.split("\n\n") if e][-1]
    assert json.loads(last.removeprefix("data: "))["error"]["type"] == "server_error"


async def test_provider_refusal__400_in_openais_shape(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(host="api.openai.com").respond(
        400, json={"error": {"message": "Unsupported parameter: 'seed'", "type": "x"}}
    )

    response = await post(http, seed=3)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected_by_provider"


async def test_quick_path__values_of_another_json_type_are_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    """JSON types as documented: a string for a number is refused by both endpoints alike."""
    route = respx_mock.post(host="api.openai.com").respond(200, json=reply(WIRES["openai"]))

    response = await post(http, temperature="0.5")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"
    assert not route.calls


async def test_auth__missing_or_wrong_key_is_401(http: httpx.AsyncClient) -> None:
    body = {"model": "GPT 4.1", "messages": [{"role": "user", "content": "hi"}]}
    missing = await http.post("/v1/chat/completions", json=body)
    wrong = await http.post(
        "/v1/chat/completions", json=body, headers={"Authorization": "Bearer nope-nope-nope"}
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")


# --- the caller's model name in relayed events: found in the bytes, or parsed -----------------

CHUNK: Final = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1",'
    b'"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}'
)


def _parsed_way(event: bytes, model: str) -> Any:
    """What the event says once renamed by parsing it (the rule the byte path must keep)."""
    from router._server.chat import _as_openai_sends

    data = event.removeprefix(b"data: ")
    return _as_openai_sends(orjson.loads(data), model)


PLAIN: Final = [  # (a JSON object's bytes, whether the bytes show its model plainly)
    pytest.param(CHUNK, True, id="a compact chunk: replaced in the bytes"),
    pytest.param(CHUNK.replace(b'"model":"', b'"model" :  "'), True, id="spaces around the colon"),
    pytest.param(b'{"model":"gpt-4.1","choices":[]}', True, id="model first"),
    pytest.param(
        CHUNK.replace(b'"content":"ok"', b'"content":"model"'),
        False,
        id="a string value named model",
    ),
    pytest.param(
        CHUNK.replace(b'"index":0', b'"index":0,"model":"inner"'),
        False,
        id="a nested model key",
    ),
    pytest.param(CHUNK.replace(b'"model":"gpt-4.1",', b""), False, id="no model field"),
    pytest.param(CHUNK.replace(b'"gpt-4.1"', b'"gpt-\\"4\\".1"'), False, id="an escaped value"),
    pytest.param(
        CHUNK.replace(b'"chatcmpl-1"', b'"chat{cmpl"'), False, id="a brace in an earlier string"
    ),
    pytest.param(
        CHUNK.replace(b'"chatcmpl-1"', b'"chat\\"cmpl"'),
        False,
        id="an escape in an earlier string",
    ),
    pytest.param(
        b'{"id":"a","meta":{"x":1},"model":"gpt-4.1","choices":[]}',
        False,
        id="an object before it",
    ),
    pytest.param(b'{"id":"a","model":"x","model":"gpt-4.1","choices":[]}', False, id="model twice"),
    pytest.param(b'{"id":"a","model":null,"choices":[]}', False, id="model not a string"),
    pytest.param(
        b'{"id":"u","model":"gpt-4.1","choices":[{"index":0,"delta":{}}],"usage":{"total_tokens":3}}',
        False,
        id="the usage chunk: parsed, its empty choice removed",
    ),
]


@pytest.mark.parametrize(("data", "plain"), PLAIN)
@pytest.mark.parametrize("model", ["GPT 4.1", 'Odd "name" \\ é'])
def test_renamed__says_the_callers_model_as_parsing_would(
    data: bytes, plain: bool, model: str
) -> None:
    from router._server.chat import _model_replaced, _renamed

    event = b"data: " + data + b"\n\n"
    renamed = _renamed(data, model)
    assert renamed.startswith(b"data: ")
    assert renamed.endswith(b"\n\n")
    assert orjson.loads(renamed.removeprefix(b"data: ")) == _parsed_way(event, model)
    assert (_model_replaced(data + b"\n\n", model) is not None) is plain


# The same bytes up to the model's value, then a space that only the parsed way removes.
_SAME_HEAD: Final = CHUNK.replace(b'"content":"ok"', b'"content": "no"')


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(_SAME_HEAD, id="the same beginning: swapped"),
        pytest.param(CHUNK.replace(b'"chatcmpl-1"', b'"chatcmpl-2"'), id="another id: found anew"),
        pytest.param(_SAME_HEAD.replace(b'"no"', b'"model"'), id="the same beginning, model again"),
        pytest.param(_SAME_HEAD[:-1] + b',"model":"gpt-4o"}', id="a second top-level model"),
        pytest.param(
            _SAME_HEAD.replace(b'"index":0', b'"index":0,"model":"x"'), id="a nested model"
        ),
        pytest.param(_SAME_HEAD.replace(b'"no"', b'"\\"usage\\""'), id="usage named in a string"),
        pytest.param(
            _SAME_HEAD.replace(b"]}", b'],"usage":{"total_tokens":3}}'), id="the usage chunk"
        ),
        pytest.param(_SAME_HEAD.replace(b',"choices"', b',\n"choices"'), id="over two lines"),
        pytest.param(_SAME_HEAD.replace(b',"choices"', b',\r"choices"'), id="a CR in it"),
        pytest.param(CHUNK[:40], id="cut short"),
        pytest.param(
            _SAME_HEAD.replace(b'4.1",', b'4.1"model":"x",'), id="model right after the head"
        ),
        pytest.param(
            _SAME_HEAD.replace(b'"created"', b'\n"created"'), id="a line break in the head"
        ),
        pytest.param(b"[DONE]", id="no JSON object"),
    ],
)
@pytest.mark.parametrize("model", ["GPT 4.1", 'Odd "name" \\ é'])
def test_chunk_events__each_event_as_renamed_alone(later: bytes, model: str) -> None:
    """A stream's renderer swaps the beginning it found plain in an earlier chunk: every
    event is what ``_renamed`` makes of its data alone, whatever came before it."""
    from router._server.chat import _ChunkEvents, _renamed
    from router._upstream.lean import Events

    render = _ChunkEvents(model)
    stream = [CHUNK, later, CHUNK, later, later.replace(b'"no"', b'"yes"')]
    assert [render(Events([data])) for data in stream] == [_renamed(d, model) for d in stream]
    assert _ChunkEvents(model)(Events(stream)) == b"".join(_renamed(d, model) for d in stream)


@pytest.mark.parametrize(
    "event",
    [b"data: [DONE]\n\n", b"data: not json\n\n", b'data: ["model"]\n\n', b"data: {nope\n\n"],
)
def test_renamed__anything_else_goes_as_it_came(event: bytes) -> None:
    from router._server.chat import _renamed

    assert _renamed(event.removeprefix(b"data: ").removesuffix(b"\n\n"), "GPT 4.1") == event


# --- a relayed JSON answer: as it came, naming the model asked for -----------------------------


def _not_an_answer(data: object) -> bool:
    """A case that is no relayed answer's (a null model; the usage chunk, a stream's)."""
    assert isinstance(data, bytes)
    return b'"model":null' in data or b'"usage"' in data


PRETTY: Final = (
    b'{\n  "id": "chatcmpl-1",\n  "object": "chat.completion",\n  "created": 1,\n'
    b'  "model": "gpt-4.1-2025-04-14",\n  "choices": [{"index": 0, "message": {"role": '
    b'"assistant", "content": "ok"}, "finish_reason": "stop"}],\n  "usage": {"total_tokens": 3}\n}'
)


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        *[c for c in PLAIN if not _not_an_answer(c.values[0])],
        pytest.param(PRETTY, True, id="pretty, with usage: the bytes kept but for the name"),
    ],
)
@pytest.mark.parametrize("model", ["GPT 4.1", 'Odd "name" \\ é'])
def test_relayed_answer__names_the_callers_model_as_parsing_would(
    data: bytes, plain: bool, model: str
) -> None:
    from router._server.endpoint import model_named, relayed_answer
    from router._upstream.lean import Raw

    answer = relayed_answer(Raw(data), model, {})

    assert orjson.loads(answer.body) == orjson.loads(data) | {"model": model}
    assert (model_named(data, model) is not None) is plain  # else parsed, rendered again
    if plain:  # the bytes as they came, but for the name
        named = orjson.dumps(model)
        assert answer.body == re.sub(rb'"gpt-4\.1[^"]*"', lambda _: named, data, count=1)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/x; charset=a"])
async def test_answer__sends_what_starlettes_response_sends(content_type: str) -> None:
    from starlette.responses import Response

    from router._server.endpoint import Answer

    headers = {"X-Router-Route": "gpt-4-1/openai", "X-Router-Provider": "openai"}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await Answer(b'{"a":1}', content_type, headers)(scope, None, send)  # type: ignore[arg-type]
    theirs: list[dict[str, Any]] = []

    async def their_send(message: dict[str, Any]) -> None:
        theirs.append(message)

    response = Response(b'{"a":1}', media_type=content_type, headers=headers)
    await response(scope, None, their_send)  # type: ignore[arg-type]
    assert sent == theirs


_SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text()
)
_JSON = st.recursive(
    _SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(), _JSON, max_size=6))
async def test_json_answer__sends_what_starlettes_json_response_sends(body: dict[str, Any]) -> None:
    """The same messages as Starlette's ``JSONResponse``; the body the same JSON value, and the
    same bytes where no float is in it (orjson writes 1e-5 where Python's encoder writes
    1e-05, both JSON for the same number)."""
    from starlette.responses import JSONResponse

    from router._server.endpoint import json_answer

    headers = {"X-Router-Route": "gpt-4-1/openai", "X-Router-Provider": "openai"}
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        ours.append(message)

    async def their_send(message: dict[str, Any]) -> None:
        theirs.append(message)

    await json_answer(body, headers)(scope, None, send)  # type: ignore[arg-type]
    await JSONResponse(body, headers=headers)(scope, None, their_send)  # type: ignore[arg-type]
    assert [m["type"] for m in ours] == [m["type"] for m in theirs]
    assert orjson.loads(ours[1]["body"]) == json.loads(theirs[1]["body"])
    if not _has_float(body):
        assert ours == theirs


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False
