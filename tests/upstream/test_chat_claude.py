"""Plain chat requests to Claude on Anthropic without litellm (router/_upstream/chat_claude.py),
against litellm 1.104.0 by property: for generated plain requests and generated answers, the
lean path sends the body, URL and headers litellm sends, and answers the chat completion litellm
answers (the library's ``ModelResponse``, the proxy's bytes), ids and timestamps excepted.
Requests it does not take go to litellm as before."""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import version
from typing import Any, Final

import httpx
import orjson
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router._core.invariant import Identity, content_strings
from router._errors import IdentifierInRequest, UpstreamFailure
from router._upstream import chat_claude, lean
from router._upstream.adapter import UpstreamCall, complete
from router._upstream.deployment import Target
from router._upstream.guard import WireCheck
from router._upstream.setup import _module
from tests._support.wire import use_fake_credentials

MODEL: Final = "claude-sonnet-4-5-20250929"
LEAN: Final = Target(f"anthropic/{MODEL}")
LITELLM: Final = Target(f"anthropic/{MODEL}", path="litellm")
URL: Final = "https://api.anthropic.com/v1/messages"
_SETTINGS: Final = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_content = st.one_of(
    _words,
    st.lists(st.builds(lambda t: {"type": "text", "text": t}, _words), min_size=1, max_size=3),
)
_turn = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": _content})
_system = st.fixed_dictionaries({"role": st.just("system"), "content": _content})
_unit = st.one_of(st.floats(0, 1), st.integers(0, 1))
_user = st.one_of(
    _words, st.emails(), st.from_regex(r"\+?[0-9 ()-]{7,12}", fullmatch=True), st.just("u-42")
)
_requests = st.builds(
    lambda system, turns, extra: {"messages": system + turns, **extra},
    st.lists(_system, max_size=2),
    st.lists(_turn, min_size=1, max_size=4),
    st.fixed_dictionaries(
        {},
        optional={
            "max_tokens": st.integers(1, 8192),
            "temperature": _unit,
            "top_p": _unit,
            "stop": st.one_of(
                _words, st.just(" "), st.lists(st.one_of(_words, st.just("\n")), max_size=3)
            ),
            "user": _user,
        },
    ),
)
_usage = st.fixed_dictionaries(
    {"input_tokens": st.integers(0, 5000), "output_tokens": st.integers(0, 5000)},
    optional={
        "cache_creation_input_tokens": st.integers(0, 100),
        "cache_read_input_tokens": st.integers(0, 100),
        "service_tier": st.just("standard"),
        "cache_creation": st.just({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}),
    },
)
_answers = st.fixed_dictionaries(
    {
        "id": st.just("msg_01"),
        "type": st.just("message"),
        "role": st.just("assistant"),
        "model": st.sampled_from([MODEL, "claude-sonnet-4-5"]),
        "content": st.lists(
            st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=8)), max_size=2
        ),
        "stop_reason": st.sampled_from(
            ["end_turn", "stop_sequence", "max_tokens", "refusal", "pause_turn"]
        ),
        "stop_sequence": st.none(),
        "usage": _usage,
    }
)


REPRODUCED: Final = chat_claude.LITELLM  # the litellm the module reproduces (the lock's)
# The tests that hold the module equal to litellm itself: with the litellm it reproduces
# installed they compare; with another (CI's second pass, litellm 1.110.2) the module steps
# aside, which is what they then assert. Every other test here is of the module's own
# mechanics, run whatever litellm is installed.
_AS_LITELLM: Final = frozenset(
    {
        "test_plain_requests__sent_and_answered_as_litellm_does",
        "test_max_tokens__litellms_default_per_model",
        "test_max_tokens__the_default_without_a_limit_is_litellms",
    }
)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    use_fake_credentials(monkeypatch)
    if request.function.__name__ not in _AS_LITELLM:
        monkeypatch.setattr(chat_claude, "LITELLM", chat_claude.installed_litellm())


def _reproduced() -> bool:
    """Whether the installed litellm is the one chat_claude reproduces; if not, that the
    module steps aside (a plain request takes litellm)."""
    if chat_claude.installed_litellm() == REPRODUCED:
        return True
    assert not chat_claude.serves(UpstreamCall(LEAN, PLAIN))
    return False


async def _sent(
    target: Target, arguments: dict[str, Any], answer: dict[str, Any], *, raw: bool = False
) -> tuple[httpx.Request, Any]:
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200, json=answer))
        response = await complete(UpstreamCall(target, arguments, raw=raw))
        return route.calls.last.request, response


def _comparable(dumped: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dumped.items() if k not in ("id", "created")}


@given(
    request=_requests,
    answer=_answers,
    model=st.sampled_from([MODEL, "claude-opus-4-1-20250805", "claude-haiku-4-5"]),
)
@_SETTINGS
def test_plain_requests__sent_and_answered_as_litellm_does(
    request: dict[str, Any], answer: dict[str, Any], model: str
) -> None:
    """The same URL, key and version headers and JSON body on the wire; the same chat
    completion back, as the library's type and as the proxy's bytes."""
    if not chat_claude.plain(request, model) or not _reproduced():
        return
    lean_target, litellm_target = (
        Target(f"anthropic/{model}"),
        Target(f"anthropic/{model}", path="litellm"),
    )
    theirs, their_answer = asyncio.run(_sent(litellm_target, request, answer))
    ours, our_answer = asyncio.run(_sent(lean_target, request, answer))
    _, our_bytes = asyncio.run(_sent(lean_target, request, answer, raw=True))
    assert ours.url == theirs.url
    for name in ("x-api-key", "anthropic-version", "content-type"):
        assert ours.headers[name] == theirs.headers[name]
    assert json.loads(ours.content) == json.loads(theirs.content)
    assert type(our_answer) is type(their_answer)
    expected = _comparable(their_answer.model_dump(mode="json"))
    assert _comparable(our_answer.model_dump(mode="json")) == expected
    assert isinstance(our_bytes, lean.Raw)
    assert _comparable(orjson.loads(our_bytes.body)) == expected


@given(request=_requests)
@_SETTINGS
def test_plain__most_generated_requests_are_taken(request: dict[str, Any]) -> None:
    """Non-blank texts with no trailing whitespace after the system turns: taken."""
    texts = [m["content"] for m in request["messages"]]
    texts = [t for c in texts for t in ([c] if isinstance(c, str) else [p["text"] for p in c])]
    clean = all(t.strip() and t == t.rstrip() for t in texts)
    assert chat_claude.plain(request, MODEL) == clean


PLAIN: Final = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}


@pytest.mark.parametrize(
    "arguments",
    [
        PLAIN | {"stream": True},
        PLAIN | {"tools": [{"type": "function", "function": {"name": "f"}}]},
        PLAIN | {"n": 2},
        PLAIN | {"max_completion_tokens": 16},
        PLAIN | {"max_tokens": 0},
        PLAIN | {"temperature": 2},
        PLAIN | {"stop": 3},
        PLAIN | {"user": 3},
        {"messages": []},
        {"messages": [{"role": "system", "content": "Be brief."}]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
        {"messages": [{"role": "user", "content": "a", "name": "n"}]},
        {"messages": [{"role": "tool", "content": "a"}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
        {"messages": [{"role": "user", "content": []}]},
        {"messages": "hello"},
    ],
)
def test_plain__anything_else_is_litellms(arguments: dict[str, Any]) -> None:
    assert not chat_claude.plain(arguments, MODEL)
    assert not chat_claude.serves(UpstreamCall(LEAN, arguments))


def test_serves__anthropic_on_the_lean_path_only_and_models_it_knows() -> None:
    assert chat_claude.serves(UpstreamCall(LEAN, PLAIN))
    assert not chat_claude.serves(UpstreamCall(LITELLM, PLAIN))
    assert not chat_claude.serves(UpstreamCall(Target("anthropic/claude-3-opus"), PLAIN))
    assert not chat_claude.serves(UpstreamCall(Target(f"bedrock/{MODEL}"), PLAIN))
    assert not chat_claude.serves(UpstreamCall(LEAN, PLAIN, offline_text="offline"))
    assert not chat_claude.serves(UpstreamCall(LEAN, PLAIN, parsed=True))


def test_max_tokens__litellms_default_per_model() -> None:
    """The table is litellm's: its model table's default for each model, else its default."""
    if not _reproduced():
        return
    litellm = _module()
    for model, limit in chat_claude.MAX_TOKENS.items():
        expected = litellm.AnthropicConfig.get_max_tokens_for_model(model)
        assert (limit or chat_claude.default_max_tokens()) == expected
        info = litellm.llms.anthropic.common_utils.AnthropicModelInfo
        assert info._supports_sampling_params(model)


def test_max_tokens__the_default_without_a_limit_is_litellms() -> None:
    """A model litellm has no limit for gets its default, as litellm reads it."""
    if not _reproduced():
        return
    sent = chat_claude.body(PLAIN | {"max_tokens": None}, "claude-opus-4-1")
    assert sent["max_tokens"] == _module().constants.DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS


@respx.mock
async def test_api_base__honoured_as_litellm_does() -> None:
    route = respx.post("https://claude.example/v1/messages").mock(
        return_value=httpx.Response(200, json=_ANSWER)
    )
    call = UpstreamCall(LEAN, PLAIN, api_base="https://claude.example")
    await complete(call)
    assert route.called


_ANSWER: Final = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Hello."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 2},
}


@respx.mock
async def test_invariant__checked_on_the_bytes_counted_and_blocked_unsent() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=_ANSWER))
    identity = Identity.of("alice-7")
    arguments = PLAIN | {"user": "alice-7"}
    check = WireCheck(identity, content_strings(arguments["messages"]))
    with pytest.raises(IdentifierInRequest):
        await complete(UpstreamCall(LEAN, arguments, check=check))
    assert not route.called
    assert check.sends == 1
    check = WireCheck(identity, content_strings(PLAIN["messages"]))
    await complete(UpstreamCall(LEAN, PLAIN | {"user": "pseudo-1"}, check=check))
    assert route.call_count == 1
    assert check.sends == 1


@respx.mock
async def test_errors__mapped_as_on_the_lean_path() -> None:
    respx.post(URL).mock(return_value=httpx.Response(429, json={"error": {"message": "slow"}}))
    with pytest.raises(UpstreamFailure) as caught:
        await complete(UpstreamCall(LEAN, PLAIN))
    assert caught.value.status_code == 429


@respx.mock
async def test_errors__no_key_is_unsent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=_ANSWER))
    with pytest.raises(UpstreamFailure, match="ANTHROPIC_API_KEY"):
        await complete(UpstreamCall(LEAN, PLAIN))
    assert not route.called


@pytest.mark.parametrize(
    "changed",
    [
        {"content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
         "stop_reason": "tool_use"},
        {"usage": {"input_tokens": None, "output_tokens": 3}},
    ],
)  # fmt: skip
async def test_answers__another_shape_is_rendered_by_litellm_as_litellm_does(
    changed: dict[str, Any],
) -> None:
    """An answer of another shape than text is handed to litellm's renderer: the same."""
    answer = _ANSWER | changed
    _, theirs = await _sent(LITELLM, PLAIN, answer)
    _, ours = await _sent(LEAN, PLAIN, answer)
    expected = _comparable(theirs.model_dump(mode="json"))
    assert _comparable(ours.model_dump(mode="json")) == expected


def test_serves__only_with_the_litellm_it_reproduces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another litellm installed: a plain request takes litellm, as that litellm sends it."""
    assert chat_claude.serves(UpstreamCall(LEAN, PLAIN))  # (this test's fixture: reproduced)
    monkeypatch.setattr(chat_claude, "LITELLM", "0.0.0")
    assert not chat_claude.serves(UpstreamCall(LEAN, PLAIN))
    assert chat_claude.installed_litellm() == version("litellm")
