"""``PolicyRouter.amessages`` to Claude on Anthropic: the request goes out as it came
(router/_upstream/anthropic.py), through the whole policy path: scrubbing, the invariant on the
wire, resends and failover (to Bedrock, translated), the audit. Then the identifier property on
this wire format. Providers are mocked with respx (fake credentials): each assertion is on the
request as sent."""

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

from router import InvalidRequest, PolicyRouter, RequestRejected
from router._audit import AuditLog
from router._config.settings import Settings
from router._core.invariant import messages_content
from tests._support import native
from tests._support.wire import (
    WIRES,
    error_response,
    mock_provider,
    places,
    reply,
    sse_body,
    use_fake_credentials,
    wire_text,
)

lines, loop, wire, records = native.lines, native.loop, native.wire, native.records  # its fixtures

USER: Final = "sentinel-user-c1a0"
HELLO: Final = [{"role": "user", "content": "Say hello."}]
CLAUDE: Final = "Claude 4.5 Sonnet"
ANTHROPIC_URL: Final = "https://api.anthropic.com/v1/messages"


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


async def test_json__sent_as_it_came_one_decision_one_attempt(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    anthropic = mock_provider(wire, "anthropic")
    request = {"max_tokens": 32, "messages": HELLO, "system": "Be brief.", "top_k": 4}

    answer = await router.amessages(model=CLAUDE, metadata={"user_id": USER}, **request)

    assert answer == reply(WIRES["anthropic"]) | {"model": CLAUDE}
    sent = anthropic.calls.last.request
    assert str(sent.url) == ANTHROPIC_URL
    assert json.loads(sent.content) == {"model": "claude-sonnet-4-5-20250929", **request}
    assert places(sent, USER) == set()  # Anthropic's routes are omit: no metadata at all
    decision, attempt = records(lines)
    assert (decision["event"], decision["api"]) == ("route.decision", "messages")
    assert (attempt["event"], attempt["api"], attempt["outcome"], attempt["sends"]) == (
        "route.attempt", "messages", "ok", 1,
    )  # fmt: skip
    assert (attempt["route"], attempt["scrubbed_removed"]) == (
        "claude-4-5-sonnet/anthropic", ["metadata.user_id"],
    )  # fmt: skip
    assert USER not in "".join(lines)


async def test_stream__anthropics_events_as_they_came(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    anthropic = mock_provider(wire, "anthropic", stream=True)

    stream = await router.amessages(model=CLAUDE, max_tokens=32, messages=HELLO, stream=True)
    events = [event async for event in stream]

    def parsed(event: bytes) -> tuple[bytes, Any]:
        name, data = event.split(b"\ndata: ", 1)
        return name, json.loads(data)

    upstream = [parsed(e) for e in sse_body(WIRES["anthropic"]).split(b"\n\n")[:-1]]
    start, *rest = [parsed(e) for e in events]
    assert rest == upstream[1:]  # as Anthropic sent them; no ping added (it sends its own)
    assert start[1]["message"] == upstream[0][1]["message"] | {"model": CLAUDE}  # name asked
    assert json.loads(anthropic.calls.last.request.content)["stream"] is True
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["api"], attempt["outcome"], attempt["chunks"]) == (
        "messages",
        "ok",
        len(events),
    )


# --- failover, resends and errors -----------------------------------------------------------


async def test_failover__anthropic_down_bedrock_answers_translated(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    anthropic = mock_provider(wire, "anthropic", status=529, error="overloaded")
    bedrock = mock_provider(wire, "bedrock")

    answer = await router.amessages(
        model=CLAUDE, max_tokens=32, messages=HELLO, metadata={"user_id": USER}
    )

    assert answer["type"] == "message"
    assert answer["content"] == [{"type": "text", "text": "canned reply from the mock"}]
    assert (anthropic.call_count, bedrock.call_count) == (1, 1)
    assert "messages" in json.loads(bedrock.calls.last.request.content)  # Converse's format
    assert [(r["event"], r.get("provider"), r.get("outcome")) for r in records(lines)] == [
        ("route.decision", None, None),
        ("route.attempt", "anthropic", "server"),
        ("route.attempt", "bedrock", "ok"),
    ]
    for route in (anthropic, bedrock):
        assert USER not in wire_text(route.calls.last.request)


async def test_failover__a_stream_fails_over_before_its_first_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire: respx.MockRouter, lines: list[str]
) -> None:
    """Anthropic fails before its first event; OpenAI's chat stream, translated, answers."""
    router = _two_provider_router(tmp_path, monkeypatch, lines, "omit")
    mock_provider(wire, "anthropic", status=503)
    openai_route = mock_provider(wire, "openai", stream=True)
    try:
        stream = await router.amessages(model="m", max_tokens=8, messages=HELLO, stream=True)
        events = [json.loads(e.split(b"data: ", 1)[1]) async for e in stream]
    finally:
        await router.aclose()
    assert [e["type"] for e in events][:2] == ["message_start", "ping"]  # translated: pinged
    assert events[-1] == {"type": "message_stop"}
    assert openai_route.call_count == 1
    outcomes = [(r["provider"], r["outcome"]) for r in records(lines, "route.attempt")]
    assert outcomes == [("p-anthropic", "server"), ("p-openai", "ok")]


async def test_resends__each_its_own_attempt_on_the_same_route(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    router.loaded.failover._sleep = pause
    router.loaded.failover._settings = router.settings.model_copy(update={"resends": 1})
    limited = error_response(WIRES["anthropic"], 429, "slow down")
    wire.post(ANTHROPIC_URL).mock(
        side_effect=[limited, httpx.Response(200, json=reply(WIRES["anthropic"]))]
    )

    await router.amessages(model=CLAUDE, max_tokens=8, messages=HELLO)

    attempts = [(r["attempt"], r["outcome"], r["sends"]) for r in records(lines, "route.attempt")]
    assert attempts == [(1, "rate_limit", 1), (2, "ok", 1)]
    assert len(pauses) == 1


async def test_errors__a_400_is_the_callers_as_on_the_chat_lean_path(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    mock_provider(wire, "anthropic", status=400, error="max_tokens: too large")
    bedrock = mock_provider(wire, "bedrock")

    with pytest.raises(RequestRejected) as refused:
        await router.amessages(model=CLAUDE, max_tokens=8, messages=HELLO)

    assert isinstance(refused.value, openai.BadRequestError)  # the drop-in's class
    assert str(refused.value).startswith("anthropic (HTTP 400) refused the request")
    assert not bedrock.calls  # not failed over
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["outcome"], attempt["status_code"]) == ("rejected", 400)


# --- the identifier property, on Anthropic's wire format -------------------------------------

CATALOG: Final = """
version: native-1
effective: 2026-01-01
providers:
  p-anthropic: {name: P Anthropic}
  p-openai: {name: P OpenAI}
models:
  m: {name: Model M}
routes:
  - models: [m]
    providers: [p-anthropic, p-openai]
    policy: {trains_on_api_data: false, retention: none, user_identifier: RULE}
"""
DEPLOYMENT: Final = """
reaches: {p-anthropic: [anthropic], p-openai: [openai]}
routes:
  m: {p-anthropic: anthropic/claude-sonnet-4-5-20250929, p-openai: openai/gpt-4.1}
"""


def _two_provider_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], rule: str
) -> PolicyRouter:
    return native.two_provider_router(tmp_path, monkeypatch, lines, rule, CATALOG, DEPLOYMENT)


TEXT_ID: Final = "sentinel-9137"
NUMERIC_ID: Final = "82736451"


_text, _integer = native.text, native.integer


@st.composite
def messages_requests(draw: st.DrawFn, user: str) -> dict[str, Any]:
    """A Messages request within its surface whose fields may hold the id: content (allowed
    on the wire), the end user, and fields outside content (never on the wire)."""
    text = _text(user)
    turns: list[dict[str, Any]] = [{"role": "user", "content": draw(text)}]
    if draw(st.booleans()):  # a tool loop whose ids may be the user id
        call_id = draw(text)
        turns += [
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": call_id, "name": "f", "input": {"q": draw(text)}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": draw(text)}]},
        ]  # fmt: skip
    known: dict[str, st.SearchStrategy[Any]] = {
        "system": text,
        "stop_sequences": st.lists(text, min_size=1, max_size=2),
        "tools": text.map(
            lambda d: [{"name": "f", "description": d, "input_schema": {"type": "object"}}]
        ),
        "top_k": _integer(user),
        "temperature": st.floats(0, 1, allow_nan=False),
        "thinking": _integer(user).map(lambda n: {"type": "enabled", "budget_tokens": n}),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(known)), unique=True, max_size=4))
    out = {"messages": turns, "max_tokens": draw(_integer(user)), "metadata": {"user_id": user}}
    return out | {name: draw(known[name]) for name in chosen}


def _outside_content(text: str, request: dict[str, Any]) -> str:
    return native.outside_content(text, messages_content(request))


async def _send(router: PolicyRouter, user: str, request: dict[str, Any]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock_provider(mock, "anthropic")
        privacy = {"allow_providers": ["p-anthropic"]}
        try:
            await router.amessages(model="m", privacy=privacy, **request)
        except (InvalidRequest, RequestRejected):
            assert not mock.calls, "refused, yet something was sent"
            return
        (call,) = route.calls
        sent = json.loads(call.request.content)
        assert sent.keys() - {"model", "metadata"} == request.keys() - {"metadata"}
        rest = _outside_content(wire_text(call.request), request)
        assert user not in rest, f"the id is on the wire: {rest}"


@pytest.mark.parametrize("rule", ["omit", "pseudonymous"])
@pytest.mark.parametrize("user", [TEXT_ID, NUMERIC_ID])
def test_property__no_user_id_outside_content_on_anthropics_wire(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loop: asyncio.AbstractEventLoop,
    rule: str,
    user: str,
) -> None:
    """For any user id and Messages body sent as it came: the raw id is never on the wire
    outside content, and a body that carries it outside content is refused unsent."""
    router = _two_provider_router(tmp_path, monkeypatch, [], rule)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(request=messages_requests(user))
    def check(request: dict[str, Any]) -> None:
        loop.run_until_complete(_send(router, user, request))

    try:
        check()
    finally:
        loop.run_until_complete(router.aclose())


@pytest.mark.parametrize(
    ("rule", "user", "expected"),
    [
        pytest.param("allowed", "alice-1234", "alice-1234", id="allowed: the user as it is"),
        pytest.param("allowed", "alice@example.com", None, id="allowed, an email: left out as litellm does"),
        pytest.param("pseudonymous", "alice@example.com", "pseudonym", id="pseudonymous: the pseudonym, even of an email"),
        pytest.param("omit", "alice-1234", None, id="omit: no metadata"),
    ],
)  # fmt: skip
async def test_metadata__the_end_user_per_the_routes_rule(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wire: respx.MockRouter,
    rule: str,
    user: str,
    expected: str | None,
) -> None:
    lines: list[str] = []
    router = _two_provider_router(tmp_path, monkeypatch, lines, rule)
    anthropic = mock_provider(wire, "anthropic")
    try:
        await router.amessages(model="m", max_tokens=8, messages=HELLO,
                               metadata={"user_id": user}, privacy={"allow_providers": ["p-anthropic"]})  # fmt: skip
        pseudonym = router.pipeline._pseudonymizer.for_provider(user, "p-anthropic")
    finally:
        await router.aclose()
    sent = json.loads(anthropic.calls.last.request.content)
    wanted = pseudonym if expected == "pseudonym" else expected
    assert sent.get("metadata") == (None if wanted is None else {"user_id": wanted})


async def test_dropped__nothing_as_it_came_what_the_translation_loses_elsewhere(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str]
) -> None:
    """litellm drops top_k for Claude (translated, on either provider); sent as it came to
    Anthropic, it arrives. With require_parameters, only the route that keeps it is allowed."""
    anthropic = mock_provider(wire, "anthropic")
    privacy = {"require_parameters": True}

    await router.amessages(model=CLAUDE, max_tokens=8, messages=HELLO, top_k=3, privacy=privacy)

    assert json.loads(anthropic.calls.last.request.content)["top_k"] == 3
    (decision,) = records(lines, "route.decision")
    assert decision["order"] == ["claude-4-5-sonnet/anthropic"]
    (bedrock,) = [c for c in decision["candidates"] if c["route"] == "claude-4-5-sonnet/bedrock"]
    assert "it would drop top_k" in " ".join(bedrock["reasons"])


async def test_invariant__the_wire_check_blocks_what_the_argument_check_missed(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line, on the bytes as they would go out, held as strictly as chat's."""
    monkeypatch.setattr("router._pipeline.same_format.find_in_messages_request", lambda *_: None)
    anthropic = mock_provider(wire, "anthropic")
    tools = [{"name": "f", "description": f"for {USER}", "input_schema": {"type": "object"}}]

    with pytest.raises(InvalidRequest, match=r"the user id is in \$\.tools\[0\]\.description"):
        await router.amessages(model=CLAUDE, max_tokens=8, messages=HELLO, tools=tools,
                               metadata={"user_id": USER})  # fmt: skip

    assert not anthropic.calls
    (attempt,) = records(lines, "route.attempt")
    assert (attempt["outcome"], attempt["sends"], attempt["blocked_at"]) == (
        "blocked", 1, "$.tools[0].description",
    )  # fmt: skip


# --- chat to Claude on Anthropic, plain: translated by the router (chat_claude.py) -----------


async def test_chat_plain__sent_by_the_router_one_decision_one_attempt(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str], claude_chat_lean: None
) -> None:
    """A plain chat request to Claude: the Messages body litellm would send, litellm's type
    back, one decision and one attempt of one send (router/_upstream/chat_claude.py)."""
    anthropic = mock_provider(wire, "anthropic")
    answer = await router.acompletion(CLAUDE, HELLO, user=USER, max_tokens=32, stop="END")

    assert type(answer).__name__ == "ModelResponse"
    assert answer.choices[0].message.content == reply(WIRES["anthropic"])["content"][0]["text"]
    assert answer._hidden_params["policy_router"]["route"] == "claude-4-5-sonnet/anthropic"
    sent = json.loads(anthropic.calls.last.request.content)
    assert sent == {
        "model": "claude-sonnet-4-5-20250929",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
        "stop_sequences": ["END"],
        "max_tokens": 32,
    }  # Anthropic's routes are omit: no metadata at all
    decision, attempt = records(lines)
    assert (decision["event"], decision["api"]) == ("route.decision", "chat")
    assert (attempt["outcome"], attempt["sends"]) == ("ok", 1)


async def test_chat_plain__anthropic_down_bedrock_answers_through_litellm(
    router: PolicyRouter, wire: respx.MockRouter, lines: list[str], claude_chat_lean: None
) -> None:
    anthropic = mock_provider(wire, "anthropic", status=503)
    bedrock = mock_provider(wire, "bedrock")
    answer = await router.acompletion(CLAUDE, HELLO, max_tokens=32)

    assert type(answer).__name__ == "ModelResponse"
    assert (anthropic.call_count, bedrock.call_count) == (1, 1)
    outcomes = [(r["provider"], r["outcome"], r["sends"]) for r in records(lines)[1:]]
    assert outcomes == [("anthropic", "server", 1), ("bedrock", "ok", 1)]
