"""router.install(): litellm's entry points routed through the policy or refused; uninstall()."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import litellm  # noqa: TID251
import pytest
import respx

import router
from router import PolicyRouter, RouterError
from router._upstream import gate
from router._upstream.gate_names import CAPABILITIES, LOCAL, NOT_IN_EVERY_VERSION, REFUSED, ROUTED
from router._upstream.own import own
from tests import test_router
from tests._support.wire import WIRES, reply
from tests.test_router import CONTENT, KIMI, MESSAGES, USER, Audit, completion, make_router

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


@pytest.fixture
async def policy_router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


@pytest.fixture
def installed(policy_router: PolicyRouter) -> Iterator[PolicyRouter]:
    router.install(policy_router)
    try:
        yield policy_router
    finally:
        router.uninstall()


def _sent(route: respx.Route) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content)


# -- routed -------------------------------------------------------------------------------


def test_completion__sync_litellm_call_is_routed_audited_and_scrubbed(
    installed: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    response = litellm.completion(model="Kimi K2", messages=MESSAGES, user=USER)
    assert response.choices[0].message.content == "hello from upstream"
    assert USER not in groq.calls.last.request.content.decode()
    assert _sent(groq)["messages"][0]["content"] == CONTENT
    [attempt] = audit.events("route.attempt")
    assert attempt["route"] == "kimi-k2/groq"
    assert response._hidden_params["policy_router"]["route"] == "kimi-k2/groq"


async def test_acompletion__routed_and_a_stream_is_the_routers(
    installed: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=test_router.sse("hi there")
    )
    stream = await litellm.acompletion(model="Kimi K2", messages=MESSAGES, user=USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "hi there"
    assert [a["route"] for a in audit.events("route.attempt")] == ["kimi-k2/groq"]


def test_completion__sync_stream_is_a_sync_iterator(
    installed: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(
        200, headers={"content-type": "text/event-stream"}, content=test_router.sse("a b c")
    )
    stream = litellm.completion(model="Kimi K2", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "a b c"


def test_completion__a_litellm_model_string_that_the_catalog_does_not_know_is_refused(
    installed: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    with pytest.raises(RouterError) as refused:
        litellm.completion(model="openai/not-in-any-catalog", messages=MESSAGES, user=USER)
    assert type(refused.value).__name__ == "UnknownModel"
    assert not wire.calls
    assert [r["event"] for r in audit.records] == ["route.refused"]


async def test_responses_and_messages__routed_sync_and_async(
    installed: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    wire.post(KIMI["groq"]).respond(200, json=completion())
    answer = await litellm.aresponses(input="hi", model="Kimi K2", user=USER)
    assert answer.output[0].content[0].text == "hello from upstream"
    answer = await asyncio.to_thread(litellm.responses, input="hi", model="Kimi K2")
    assert answer.output[0].content[0].text == "hello from upstream"
    request = {
        "model": "Kimi K2",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    message = await litellm.anthropic_messages(**request, metadata={"user_id": USER})
    assert message["content"][0]["text"] == "hello from upstream"
    message = await litellm.anthropic_interface.messages.acreate(**request)
    assert message["content"][0]["text"] == "hello from upstream"
    message = await asyncio.to_thread(
        lambda: litellm.anthropic_interface.messages.create(**request)
    )
    assert message["content"][0]["text"] == "hello from upstream"
    apis = [r["api"] for r in audit.events("route.attempt")]
    assert apis == ["responses", "responses", "messages", "messages", "messages"]
    assert all(USER not in call.request.content.decode() for call in wire.calls)


# -- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["text_completion", "embedding", "image_generation", "transcription", "rerank"]
)
def test_refused__entry_points_that_would_reach_a_provider_say_so_by_name(
    installed: PolicyRouter, wire: respx.MockRouter, name: str
) -> None:
    with pytest.raises(RouterError) as refused:
        getattr(litellm, name)(model="openai/gpt-4.1", input="x", prompt="x")
    assert str(refused.value).startswith(f"litellm.{name} is refused: router.install() lets")
    assert "call litellm.completion / acompletion / responses / aresponses" in str(refused.value)
    assert not wire.calls


async def test_refused__async_entry_points_too(
    installed: PolicyRouter, wire: respx.MockRouter
) -> None:
    with pytest.raises(RouterError, match=r"litellm\.aembedding is refused"):
        await litellm.aembedding(model="openai/text-embedding-3-small", input=["x"])
    assert not wire.calls


def test_every_public_litellm_function_is_routed_refused_or_local(installed: PolicyRouter) -> None:
    """A litellm upgrade that adds a public function fails here until it is classified."""
    router.uninstall()
    names = set(gate.functions(litellm))
    classified = set(ROUTED) | CAPABILITIES | LOCAL | REFUSED
    assert names - classified == set()
    assert not (set(ROUTED) | CAPABILITIES) & (LOCAL | REFUSED)
    assert not LOCAL & REFUSED
    absent = {name for name in classified if not callable(getattr(litellm, name, None))}
    assert absent <= NOT_IN_EVERY_VERSION  # a classified name gone in this litellm is reviewed
    assert not NOT_IN_EVERY_VERSION - classified


def test_every_function_not_known_to_be_local_is_refused_after_install(
    installed: PolicyRouter,
) -> None:
    for name in sorted(REFUSED):
        function = getattr(litellm, name, None)
        if function is None:  # one end of the tested litellm range lacks it
            assert name in NOT_IN_EVERY_VERSION, name
            continue
        with pytest.raises(RouterError) as refused:
            _call(function)
        assert str(refused.value).startswith(f"litellm.{name} is refused"), name


def _call(function: Any) -> Any:
    result = function()
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


def test_an_unclassified_function_is_refused_too(
    policy_router: PolicyRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def brand_new_endpoint(**_: Any) -> str:
        return "sent"

    brand_new_endpoint.__module__ = "litellm.brand_new"
    monkeypatch.setattr(litellm, "brand_new_endpoint", brand_new_endpoint, raising=False)
    router.install(policy_router)
    try:
        with pytest.raises(RouterError, match=r"litellm\.brand_new_endpoint is refused"):
            litellm.brand_new_endpoint()
    finally:
        router.uninstall()
    assert litellm.brand_new_endpoint() == "sent"


# -- uninstall and re-entry ----------------------------------------------------------------


def test_uninstall__restores_exactly_what_was_there(policy_router: PolicyRouter) -> None:
    litellm.embedding  # noqa: B018  # a lazily loaded name, resolved before install
    before = dict(vars(litellm))
    host_completion = before["completion"]

    async def host_patch(**_: Any) -> str:
        return "the host's own"

    litellm.acompletion = host_patch  # the host replaced it before installing
    router.install(policy_router)
    assert litellm.acompletion is not host_patch
    router.uninstall()
    assert litellm.acompletion is host_patch
    assert litellm.completion is host_completion
    litellm.acompletion = before["acompletion"]
    assert vars(litellm).keys() == before.keys()
    assert all(vars(litellm)[k] is v for k, v in before.items() if k != "acompletion")


def test_uninstall__without_install_does_nothing() -> None:
    before = dict(vars(litellm))
    router.uninstall()
    assert dict(vars(litellm)) == before


async def test_the_routers_own_litellm_calls_do_not_reenter_the_gate(
    installed: PolicyRouter,
    wire: respx.MockRouter,
    audit: Audit,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Claude's route takes the litellm path: the router's attempt calls litellm.acompletion,
    which is the gate's; it reaches litellm's own function, once, and is not routed again."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    anthropic = WIRES["anthropic"]
    sent = wire.post(host=anthropic.host, path__regex=anthropic.path).respond(
        200, json=reply(anthropic, "from claude")
    )
    response = await litellm.acompletion(model="Claude 4.5 Haiku", messages=MESSAGES, user=USER)
    assert response.choices[0].message.content == "from claude"
    assert sent.call_count == 1
    assert len(audit.events("route.decision")) == 1
    assert [a["route"] for a in audit.events("route.attempt")] == ["claude-4-5-haiku/anthropic"]


def test_the_routers_own_work_reaches_refused_functions_unrefused(
    installed: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post("https://api.openai.com/v1/embeddings").respond(500)
    with own(), pytest.raises(Exception) as not_refused:  # noqa: PT011
        litellm.embedding(model="openai/text-embedding-3-small", input=["x"], api_key="k")
    assert not isinstance(not_refused.value, RouterError)


# -- capability helpers ----------------------------------------------------------------------


async def test_capability_helpers__answer_for_a_catalog_name_as_for_its_first_allowed_route(
    tmp_path: Path, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    policy_router = make_router(tmp_path, audit)
    name, string = "GPT 4.1", "openai/gpt-4.1"  # its first allowed route's model string
    with pytest.raises(Exception):  # noqa: B017, PT011  # litellm alone does not know the name
        litellm.get_model_info(name)
    router.install(policy_router)
    try:
        assert litellm.get_model_info(name) == litellm.get_model_info(model=string)
        assert litellm.supports_function_calling(model=name) is True
        assert litellm.supports_function_calling(model=name) == litellm.supports_function_calling(
            model=string
        )
        assert litellm.supports_response_schema(
            model=name, custom_llm_provider=None
        ) == litellm.supports_response_schema(model=string)
        assert litellm.get_supported_openai_params(model=name) == (
            litellm.get_supported_openai_params(model=string)
        )
        assert litellm.get_llm_provider(name)[:2] == ("gpt-4.1", "openai")
        assert litellm.supports_response_schema(model=name, custom_llm_provider="openai") is True
        assert litellm.get_supported_openai_params(
            model=name, custom_llm_provider="openai"
        ) == litellm.get_supported_openai_params(model="gpt-4.1", custom_llm_provider="openai")
        with pytest.raises(Exception):  # noqa: B017, PT011  # no route of GPT 4.1 on Groq
            litellm.get_model_info(name, custom_llm_provider="groq")
    finally:
        router.uninstall()
        await policy_router.aclose()
    with pytest.raises(Exception):  # noqa: B017, PT011  # restored
        litellm.get_model_info(name)


# -- a litellm.Router built by the application -------------------------------------------------


async def test_litellm_router__its_plumbing_is_consumed_and_the_call_routed(
    installed: PolicyRouter, wire: respx.MockRouter, audit: Audit
) -> None:
    groq = wire.post(KIMI["groq"]).respond(200, json=completion())
    app_router = litellm.Router(
        model_list=[{"model_name": "assistant", "litellm_params": {"model": "Kimi K2"}}]
    )
    response = await app_router.acompletion(model="assistant", messages=MESSAGES, user=USER)
    assert response.choices[0].message.content == "hello from upstream"
    sent = _sent(groq)
    assert set(sent) == {"model", "messages"}  # no trace id, model_info, metadata or flags
    response = await asyncio.to_thread(app_router.completion, model="assistant", messages=MESSAGES)
    assert response.choices[0].message.content == "hello from upstream"
    assert len(audit.events("route.attempt")) == 2


def test_install__again_replaces_the_gate_and_builds_from_settings_lazily(
    policy_router: PolicyRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from router._gate import installed as gate_router

    original = vars(litellm).get("completion")
    router.install(policy_router)
    assert gate_router() is policy_router
    monkeypatch.setenv("POLICY_ROUTER_STORE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    monkeypatch.setenv("POLICY_ROUTER_PSEUDONYM_KEY", "test-pseudonym-key-0123456789abcdef")
    router.install()  # replaces the first: no router is built until one is needed
    try:
        built = gate_router()
        assert isinstance(built, PolicyRouter)
        assert built is not policy_router
    finally:
        router.uninstall()
    assert gate_router() is None
    assert vars(litellm).get("completion") is original
    built.close()
