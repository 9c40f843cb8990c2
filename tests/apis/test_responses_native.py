"""``PolicyRouter.aresponses`` to an OpenAI Responses-API model (o3 pro): the request goes out as
it came, ``store: false`` (router/_upstream/openai_responses.py), through the whole policy path:
scrubbing, the invariant on the wire, resends and failover (to a chat route, translated), the
audit. Then the identifier property on this wire format. Providers are mocked with respx (fake
credentials): each assertion is on the request as sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import openai
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litellm.types.llms.openai import ResponsesAPIResponse  # noqa: TID251

from router import InvalidRequest, PolicyRouter, RequestRejected
from router._audit import AuditLog
from router._config.settings import Settings
from router._core.invariant import responses_content
from tests._support import native
from tests._support.wire import (
    CANNED_TEXT,
    WIRES,
    error_response,
    mock_provider,
    places,
    responses_reply,
    responses_sse_body,
    use_fake_credentials,
    wire_text,
)

lines, loop, wire, records = native.lines, native.loop, native.wire, native.records  # its fixtures

USER: Final = "sentinel-user-r3a0"
HELLO: Final = [{"role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}]
O3_PRO: Final = "o3 pro"
OPENAI_RESPONSES: Final = "https://api.openai.com/v1/responses"


@pytest.fixture
async def router(
    tmp_path: Path, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[PolicyRouter]:
    use_fake_credentials(monkeypatch)
    config = Settings(
        store_url=f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
    )
    async with PolicyRouter.from_settings(config, audit_log=AuditLog(lines.append)) as built:
        yield built


# --- JSON and streams, as they came ---------------------------------------------------------


async def test_json__sent_as_it_came_store_false_one_decision_one_attempt(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    openai_route = mock_provider(wire, "openai")
    request = {
        "instructions": "Be brief.",
        "max_output_tokens": 32,
        "reasoning": {"effort": "high"},
    }

    answer = await router.aresponses(
        O3_PRO, HELLO, USER, safety_identifier=USER, prompt_cache_key=USER, store=False, **request
    )

    # litellm's type, as litellm.aresponses returns it; OpenAI's answer, naming the model asked
    assert isinstance(answer, ResponsesAPIResponse)
    assert answer.model_dump(mode="json", exclude_none=True) == ResponsesAPIResponse.model_validate(
        responses_reply() | {"model": O3_PRO}
    ).model_dump(mode="json", exclude_none=True)
    assert answer.output_text == CANNED_TEXT
    assert answer._hidden_params["policy_router"]["route"] == "o3-pro/openai"
    sent = openai_route.calls.last.request
    assert str(sent.url) == OPENAI_RESPONSES
    assert json.loads(sent.content) == {
        "model": "o3-pro",
        "input": HELLO,
        **request,
        "store": False,
    }
    assert places(sent, USER) == set()  # OpenAI's routes are omit: no identifier at all
    decision, attempt = records(lines)
    assert (decision["event"], decision["api"]) == ("route.decision", "responses")
    assert (attempt["event"], attempt["api"], attempt["outcome"], attempt["sends"]) == (
        "route.attempt", "responses", "ok", 1,
    )  # fmt: skip
    assert (attempt["route"], sorted(attempt["scrubbed_removed"])) == (
        "o3-pro/openai", ["prompt_cache_key", "safety_identifier", "user"],
    )  # fmt: skip
    assert USER not in "".join(lines)


async def test_stream__openais_events_as_they_came(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    openai_route = mock_provider(wire, "openai", stream=True)

    stream = await router.aresponses(O3_PRO, HELLO, USER, stream=True)
    events = [event async for event in stream]

    upstream = [
        json.loads(e.split(b"\ndata: ", 1)[1]) for e in responses_sse_body().split(b"\n\n")[:-1]
    ]
    assert len(events) == len(upstream)
    for got, sent in zip(events, upstream, strict=True):
        renamed = {"response": sent["response"] | {"model": O3_PRO}} if "response" in sent else {}
        assert got.type == sent["type"]  # litellm's event types, as litellm.aresponses gives
        dumped = got.model_dump(mode="json")
        if renamed:
            assert got.response.model == O3_PRO  # the name asked
            assert got.response.id == sent["response"]["id"]
        else:
            assert {k: dumped.get(k) for k in sent} == sent  # OpenAI's fields, as sent
    assert events[-1].response.model == O3_PRO
    assert events[-1].response.output_text == CANNED_TEXT
    assert stream._hidden_params["policy_router"]["route"] == "o3-pro/openai"
    body = json.loads(openai_route.calls.last.request.content)
    assert (body["stream"], body["store"]) == (True, False)
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["api"], attempt["outcome"], attempt["chunks"]) == (
        "responses",
        "ok",
        len(events),
    )


# --- failover, resends and errors -----------------------------------------------------------

CATALOG: Final = """
version: native-1
effective: 2026-01-01
providers:
  p-openai: {name: P OpenAI}
  p-mistral: {name: P Mistral}
models:
  m: {name: Model M}
routes:
  - models: [m]
    providers: [p-openai, p-mistral]
    policy: {trains_on_api_data: false, retention: none, user_identifier: RULE}
"""
DEPLOYMENT: Final = """
reaches: {p-openai: [openai], p-mistral: [mistral]}
routes:
  m: {p-openai: openai/o3-pro, p-mistral: mistral/mistral-small-latest}
"""


def _two_provider_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], rule: str
) -> PolicyRouter:
    return native.two_provider_router(tmp_path, monkeypatch, lines, rule, CATALOG, DEPLOYMENT)


async def test_failover__openai_down_a_chat_route_answers_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, lines: list[str]
) -> None:
    router = _two_provider_router(tmp_path, monkeypatch, lines, "omit")
    openai_route = mock_provider(wire, "openai", status=503)
    mistral = mock_provider(wire, "mistral")
    try:
        answer = await router.aresponses("m", HELLO, USER, instructions="Be brief.")
    finally:
        await router.aclose()

    assert answer.output_text == "canned reply from the mock"  # litellm's, translated back
    assert answer.store is False
    assert "input" in json.loads(openai_route.calls.last.request.content)  # as it came
    chat = json.loads(mistral.calls.last.request.content)
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}  # translated
    assert [(r["event"], r.get("provider"), r.get("outcome"), r.get("api")) for r in records(lines)] == [
        ("route.decision", None, None, "responses"),
        ("route.attempt", "p-openai", "server", "responses"),
        ("route.attempt", "p-mistral", "ok", "responses"),
    ]  # fmt: skip
    for route in (openai_route, mistral):
        assert USER not in wire_text(route.calls.last.request)


async def test_failover__a_stream_fails_over_before_its_first_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, lines: list[str]
) -> None:
    """OpenAI fails before its first event; Mistral's chat stream, translated, answers."""
    router = _two_provider_router(tmp_path, monkeypatch, lines, "omit")
    mock_provider(wire, "openai", status=503)
    mistral = mock_provider(wire, "mistral", stream=True)
    try:
        stream = await router.aresponses("m", HELLO, USER, stream=True)
        events = [event async for event in stream]
    finally:
        await router.aclose()
    assert events[0].type == "response.created"  # litellm's events: translated
    assert events[-1].type == "response.completed"
    assert mistral.call_count == 1
    outcomes = [(r["provider"], r["outcome"]) for r in records(lines, "route.attempt")]
    assert outcomes == [("p-openai", "server"), ("p-mistral", "ok")]


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each translation of a Responses request to chat (litellm's bridge, or a plain
    request's own: router/_upstream/responses_plain.py), by its ``stream``."""
    calls: list[bool] = []
    from router._upstream import responses, responses_plain

    for module in (responses, responses_plain):
        real = module.to_chat

        def counted(request: Any, *, stream: bool, real: Any = real) -> dict[str, Any]:
            calls.append(stream)
            return real(request, stream=stream)

        monkeypatch.setattr(module, "to_chat", counted)
    return calls


async def test_translation__none_where_every_route_takes_it_as_it_came(
    router: PolicyRouter, wire: respx.MockRouter, translations: list[bool]
) -> None:
    """o3 pro's one route is OpenAI's: the request is never translated."""
    mock_provider(wire, "openai")

    await router.aresponses(O3_PRO, HELLO, USER)

    assert translations == []


async def test_translation__once_per_request_where_a_route_needs_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wire: respx.MockRouter,
    lines: list[str],
    translations: list[bool],
) -> None:
    """With a chat route beside it, the decision asks what that route would drop of the
    translation, made once: failing over to the chat route sends that same translation."""
    router = _two_provider_router(tmp_path, monkeypatch, lines, "omit")
    mock_provider(wire, "openai", status=500)
    mistral = mock_provider(wire, "mistral")
    try:
        await router.aresponses("m", HELLO, USER)
    finally:
        await router.aclose()
    assert translations == [False]
    assert mistral.call_count == 1


async def test_resends__each_its_own_attempt_on_the_same_route(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    router.loaded.failover._sleep = pause
    router.loaded.failover._settings = router.settings.model_copy(update={"resends": 1})
    limited = error_response(WIRES["openai"], 429, "slow down")
    wire.post(OPENAI_RESPONSES).mock(
        side_effect=[limited, httpx.Response(200, json=responses_reply())]
    )

    await router.aresponses(O3_PRO, HELLO, USER)

    attempts = [(r["attempt"], r["outcome"], r["sends"]) for r in records(lines, "route.attempt")]
    assert attempts == [(1, "rate_limit", 1), (2, "ok", 1)]
    assert len(pauses) == 1


async def test_errors__a_400_is_the_callers_as_on_the_chat_lean_path(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    mock_provider(wire, "openai", status=400, error="max_output_tokens: too large")

    with pytest.raises(RequestRejected) as refused:
        await router.aresponses(O3_PRO, HELLO, USER, max_output_tokens=8)

    assert isinstance(refused.value, openai.BadRequestError)  # the drop-in's class
    assert str(refused.value).startswith("openai (HTTP 400) refused the request")
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["outcome"], attempt["status_code"], attempt["api"]) == (
        "rejected", 400, "responses",
    )  # fmt: skip


async def test_limits__timeout_and_retries_are_the_routers_never_sent(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    openai_route = mock_provider(wire, "openai")

    await router.aresponses(O3_PRO, HELLO, USER, timeout=30, num_retries=0, max_retries=0)

    assert json.loads(openai_route.calls.last.request.content).keys() == {"model", "input", "store"}
    with pytest.raises(InvalidRequest, match="'timeout' must be more than 0 seconds"):
        await router.aresponses(O3_PRO, HELLO, USER, timeout=0)


# --- the identifier property, on the Responses wire format ----------------------------------

TEXT_ID: Final = "sentinel-9137"
NUMERIC_ID: Final = "82736451"


_text, _integer = native.text, native.integer


@st.composite
def responses_requests(draw: st.DrawFn, user: str) -> dict[str, Any]:
    """A Responses request within its surface whose fields may hold the id: content (allowed
    on the wire), the identifier fields (scrubbed), and fields outside content (never on the
    wire)."""
    text = _text(user)
    items: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "input_text", "text": draw(text)}]}
    ]
    if draw(st.booleans()):  # a tool loop whose call ids may be the user id
        call_id = draw(text)
        items += [
            {"type": "function_call", "call_id": call_id, "name": "f", "arguments": draw(text)},
            {"type": "function_call_output", "call_id": call_id, "output": draw(text)},
        ]
    schema = {"type": "object", "description": draw(text)}
    known: dict[str, st.SearchStrategy[Any]] = {
        "instructions": text,
        "safety_identifier": text,
        "prompt_cache_key": text,
        "tools": text.map(
            lambda d: [{"type": "function", "name": "f", "description": d, "parameters": schema}]
        ),
        "max_output_tokens": _integer(user),
        "temperature": st.floats(0, 1, allow_nan=False),
        "text": text.map(lambda n: {"format": {"type": "json_schema", "name": "s", "schema": schema | {"title": n}}}),
    }  # fmt: skip
    chosen = draw(st.lists(st.sampled_from(sorted(known)), unique=True, max_size=4))
    return {"input": items} | {name: draw(known[name]) for name in chosen}


_IDENTIFIERS: Final = frozenset({"user", "safety_identifier", "prompt_cache_key"})


def _outside_content(text: str, request: dict[str, Any]) -> str:
    return native.outside_content(text, responses_content(request))


async def _send(router: PolicyRouter, user: str, rule: str, request: dict[str, Any]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock_provider(mock, "openai")
        privacy = {"allow_providers": ["p-openai"]}
        try:
            await router.aresponses("m", user=user, privacy=privacy, **request)
        except (InvalidRequest, RequestRejected):
            assert not mock.calls, "refused, yet something was sent"
            return
        (call,) = route.calls
        assert str(call.request.url) == OPENAI_RESPONSES  # as it came, never translated
        sent = json.loads(call.request.content)
        assert sent["store"] is False
        kept = request.keys() - _IDENTIFIERS
        expected = kept | (set() if rule == "omit" else request.keys() & _IDENTIFIERS | {"user"})
        assert sent.keys() - {"model", "store"} == expected
        rest = _outside_content(wire_text(call.request), request)
        assert user not in rest, f"the id is on the wire: {rest}"


@pytest.mark.parametrize("rule", ["omit", "pseudonymous"])
@pytest.mark.parametrize("user", [TEXT_ID, NUMERIC_ID])
def test_property__no_user_id_outside_content_on_the_responses_wire(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loop: asyncio.AbstractEventLoop,
    rule: str,
    user: str,
) -> None:
    """For any user id and Responses body sent as it came: the raw id is never on the wire
    outside content, and a body that carries it outside content is refused unsent."""
    router = _two_provider_router(tmp_path, monkeypatch, [], rule)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(request=responses_requests(user))
    def check(request: dict[str, Any]) -> None:
        loop.run_until_complete(_send(router, user, rule, request))

    try:
        check()
    finally:
        loop.run_until_complete(router.aclose())


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("allowed", "as it is", id="allowed: each identifier as it is"),
        pytest.param("pseudonymous", "pseudonym", id="pseudonymous: each the route's pseudonym"),
        pytest.param("omit", None, id="omit: none at all"),
    ],
)
async def test_identifiers__per_the_routes_rule(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wire: respx.MockRouter,
    rule: str,
    expected: str | None,
) -> None:
    router = _two_provider_router(tmp_path, monkeypatch, [], rule)
    openai_route = mock_provider(wire, "openai")
    try:
        await router.aresponses("m", HELLO, USER, safety_identifier=USER, prompt_cache_key="k-1",
                                privacy={"allow_providers": ["p-openai"]})  # fmt: skip
        pseudonym = router.pipeline._pseudonymizer.for_provider
        values = {USER: pseudonym(USER, "p-openai"), "k-1": pseudonym("k-1", "p-openai")}
    finally:
        await router.aclose()
    sent = json.loads(openai_route.calls.last.request.content)
    got = {k: sent.get(k) for k in ("user", "safety_identifier", "prompt_cache_key")}
    asked = {"user": USER, "safety_identifier": USER, "prompt_cache_key": "k-1"}
    if expected is None:
        assert got == dict.fromkeys(asked)
    elif expected == "as it is":
        assert got == asked
    else:
        assert got == {k: values[v] for k, v in asked.items()}


async def test_invariant__the_wire_check_blocks_what_the_argument_check_missed(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line, on the bytes as they would go out, held as strictly as chat's."""
    monkeypatch.setattr("router._pipeline.same_format.find_in_responses_request", lambda *_: None)
    openai_route = mock_provider(wire, "openai")
    tools = [{"type": "function", "name": "f", "description": f"for {USER}", "parameters": {}}]

    with pytest.raises(InvalidRequest, match=r"the user id is in \$\.tools\[0\]\.description"):
        await router.aresponses(O3_PRO, HELLO, USER, tools=tools)

    assert not openai_route.calls
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["outcome"], attempt["sends"], attempt["blocked_at"], attempt["api"]) == (
        "blocked", 1, "$.tools[0].description", "responses",
    )  # fmt: skip


async def test_invariant__the_argument_check_names_an_input_call_id(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    openai_route = mock_provider(wire, "openai")
    items = [
        *HELLO,
        {"type": "function_call", "call_id": USER, "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": USER, "output": "42"},
    ]

    with pytest.raises(InvalidRequest, match=r"the user id is in input\[1\]\.call_id"):
        await router.aresponses(O3_PRO, items, USER)

    assert not openai_route.calls
