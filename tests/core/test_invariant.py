"""The identifier invariant: the pure check (router/_core/invariant.py), then the property that
matters, on the wire of every provider litellm talks to.

The property test generates requests: accepted parameters whose free-form values hold the user
id (equal to it, containing it, or its numeric form), identifier fields, message names and
content holding it, and unknown keys at any depth. Each is sent through the whole router, once
per provider wire format (14 litellm prefixes, 13 providers), on ``omit`` and ``pseudonymous``
routes, with the lean path (router/_upstream/lean.py) off and on. Either the router refuses it and nothing is sent, or what respx captured (URL, headers,
body) holds the id nowhere outside message content. The check of the captured request is the
test's own: it removes the message content from the wire text and searches the rest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import InvalidRequest, PolicyRouter, RequestRejected, Settings
from router._audit import AuditLog
from router._core.invariant import Identity, content_strings, find_in_arguments, find_on_wire
from router._upstream import providers
from tests._support.wire import (
    PREFIXES,
    mock_provider,
    targets_by_prefix,
    use_fake_credentials,
    wire_text,
)

TEXT_ID: Final = "sentinel-9137"
NUMERIC_ID: Final = "82736451"

# --- the pure check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "value", "matches"),
    [
        pytest.param("alice-1234", "alice-1234", True, id="equal"),
        pytest.param("alice-1234", "to alice-1234", True, id="contained, long id"),
        pytest.param("ann", "annotations", False, id="contained, short id: no"),
        pytest.param("ann", "ann", True, id="equal, short id"),
        pytest.param("424242", 424242, True, id="numeric form"),
        pytest.param("424242", 424242.0, True, id="numeric form as a float"),
        pytest.param("424242", True, False, id="a boolean is no number"),
        pytest.param("42", "42", False, id="too short to say anything"),
    ],
)
def test_identity__matches(user: str, value: Any, matches: bool) -> None:
    identity = Identity.of(user)
    assert (identity is not None and identity.matches(value)) is matches


def test_find_in_arguments__names_the_first_place_outside_content() -> None:
    identity = Identity.of("alice-1234")
    assert identity is not None
    arguments = {
        "messages": [{"role": "user", "content": "I am alice-1234", "name": "bob"}],
        "stop": ["x", "alice-1234"],
    }
    assert find_in_arguments(arguments, identity) == "stop[1]"
    assert find_in_arguments({"messages": arguments["messages"]}, identity) is None
    named = [{"role": "user", "content": "hi", "name": "alice-1234"}]
    assert find_in_arguments({"messages": named}, identity) == "messages[0].name"


def test_find_on_wire__url_headers_body_and_content() -> None:
    identity = Identity.of("alice-1234")
    assert identity is not None
    content = content_strings([{"role": "user", "content": "I am alice-1234"}])
    body = json.dumps({"messages": [{"content": "I am alice-1234"}], "n": 1}).encode()
    assert find_on_wire("https://p.example/v1", [], body, identity, content) is None
    assert find_on_wire("https://p.example/u/alice-1234", [], b"{}", identity, content) == "url"
    headers = [("X-End-User", "alice-1234")]
    assert find_on_wire("https://p", headers, b"{}", identity, content) == "header:x-end-user"
    tagged = json.dumps({"tags": ["alice-1234"]}).encode()
    assert find_on_wire("https://p", [], tagged, identity, content) == "$.tags[0]"
    numeric = Identity.of("424242")
    assert numeric is not None
    assert find_on_wire("https://p", [], b'{"seed": 424242}', numeric, frozenset()) == "$.seed"


# --- the property, on every provider's wire -----------------------------------------------


def _catalog() -> tuple[str, str]:
    """A model served by one provider per litellm prefix; half omit, half pseudonymous."""
    targets = targets_by_prefix()
    providers = "\n".join(f"  p-{p.replace('_', '-')}: {{name: P {p}}}" for p in PREFIXES)
    slugs = [f"p-{p.replace('_', '-')}" for p in PREFIXES]
    overrides = "\n".join(
        f"      {slug}: {{user_identifier: pseudonymous}}" for slug in slugs[1::2]
    )
    catalog = f"""
version: property-1
effective: 2026-01-01
providers:
{providers}
models:
  m: {{name: Model M}}
routes:
  - models: [m]
    providers: [{", ".join(slugs)}]
    policy: {{trains_on_api_data: false, retention: none, user_identifier: omit}}
    overrides:
{overrides}
"""
    reaches = ", ".join(f"{slug}: [{p}]" for slug, p in zip(slugs, PREFIXES, strict=True))
    routes = ", ".join(
        f"{slug}: '{targets[p].model}'" for slug, p in zip(slugs, PREFIXES, strict=True)
    )
    return catalog, f"reaches: {{{reaches}}}\nroutes:\n  m: {{{routes}}}\n"


def _values(user: str) -> st.SearchStrategy[Any]:
    """A free-form value: plain, the id, text holding the id, or the id's numeric form."""
    plain = st.text(alphabet="abcdefxyz ", max_size=6)
    forms = [plain, st.just(user), plain.map(lambda s: f"{s}{user}{s}")]
    numbers = [st.integers(0, 1000), st.floats(0, 1, allow_nan=False)]
    if user.isdigit():
        numbers.append(st.just(int(user)))
    return st.one_of(*forms, *numbers)


def _strings(user: str) -> st.SearchStrategy[str]:
    plain = st.text(alphabet="abcdefxyz ", max_size=6)
    return st.one_of(plain, st.just(user), plain.map(lambda s: f"{s}{user}"))


def _unknown(user: str) -> st.SearchStrategy[Any]:
    """Unknown keys at any depth: litellm would pass them into bodies and headers."""
    keys = st.sampled_from(["user_id", "end_user", "customer", "tags", "x", "session"])
    return st.recursive(
        _values(user),
        lambda inner: st.lists(inner, max_size=2) | st.dictionaries(keys, inner, max_size=2),
        max_leaves=4,
    )


@st.composite
def requests(draw: st.DrawFn, user: str) -> dict[str, Any]:
    text = _strings(user)
    message: dict[str, Any] = {"role": "user", "content": draw(text) or "hi"}
    if draw(st.booleans()):
        message["name"] = draw(text) or "n"
    known: dict[str, Any] = {
        "messages": [message],
        "safety_identifier": st.just(user),
        "prompt_cache_key": text,
        "metadata": st.dictionaries(
            st.sampled_from(["user_id", "note", "trace"]), text, max_size=2
        ),
        "stop": st.lists(text, max_size=2),
        "seed": st.integers(0, 10**9) | (st.just(int(user)) if user.isdigit() else st.just(7)),
        "temperature": st.floats(0, 2, allow_nan=False),
        "response_format": text.map(
            lambda n: {"type": "json_schema", "json_schema": {"name": n or "s", "schema": {}}}
        ),
        "tools": text.map(
            lambda d: [{"type": "function", "function": {"name": "f", "description": d}}]
        ),
        "logit_bias": st.dictionaries(
            st.sampled_from(["50256", user]), st.integers(-5, 5), max_size=1
        ),
    }
    optional = sorted(k for k in known if k != "messages")
    chosen = draw(st.lists(st.sampled_from(optional), unique=True, max_size=4))
    out: dict[str, Any] = {"messages": known["messages"]}
    for name in chosen:
        out[name] = draw(known[name])
    if draw(st.integers(0, 3)) == 0:  # an unknown key, top level or nested in a known object
        where = draw(st.sampled_from(["top", "stream_options", "metadata_list"]))
        value = draw(_unknown(user))
        if where == "top":
            out[draw(st.sampled_from(["user_id", "labels", "extra_body", "headers"]))] = value
        elif where == "stream_options":
            out["stream_options"] = {"include_usage": True, "user": value}
        else:
            out["metadata"] = [value]
    return out


def _outside_content(text: str, messages: list[dict[str, Any]]) -> str:
    """The wire text with every message content removed (raw and as JSON escapes it)."""
    for content in sorted(content_strings(messages), key=len, reverse=True):
        if content:
            text = text.replace(json.dumps(content)[1:-1], "").replace(content, "")
    return text


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(params=["litellm", "lean"])
def property_router(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loop: asyncio.AbstractEventLoop,
) -> Iterator[PolicyRouter]:
    monkeypatch.setattr(providers, "DEFAULT_PATH", request.param)
    use_fake_credentials(monkeypatch)
    catalog, deployment = _catalog()
    (tmp_path / "catalog.yaml").write_text(catalog)
    (tmp_path / "routes.yaml").write_text(deployment)
    config = Settings(
        catalog=tmp_path / "catalog.yaml",
        deployment=tmp_path / "routes.yaml",
        store_url="sqlite:///:memory:",
        pseudonym_key="property-test-key-" + "0" * 16,
        timeout=10,
    )
    router = PolicyRouter.from_settings(config, audit_log=AuditLog(lambda _line: None))
    yield router
    loop.run_until_complete(router.aclose())


async def _send_everywhere(router: PolicyRouter, user: str, request: dict[str, Any]) -> None:
    messages = request.pop("messages")
    for prefix in PREFIXES:
        slug = f"p-{prefix.replace('_', '-')}"
        with respx.mock(assert_all_called=False) as mock:
            route = mock_provider(mock, prefix)
            try:
                await router.acompletion(
                    "m", messages, user, privacy={"allow_providers": [slug]}, **request
                )
            except (InvalidRequest, RequestRejected):
                assert not mock.calls, f"{prefix}: refused, yet something was sent"
                continue
            assert route.calls, f"{prefix}: nothing reached the provider"
            for call in route.calls:
                rest = _outside_content(wire_text(call.request), messages)
                assert user not in rest, f"{prefix}: the id is on the wire: {rest}"


@pytest.mark.parametrize("user", [TEXT_ID, NUMERIC_ID])
def test_property__no_user_id_outside_content_on_any_providers_wire(
    property_router: PolicyRouter, loop: asyncio.AbstractEventLoop, user: str
) -> None:
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(request=requests(user))
    def check(request: dict[str, Any]) -> None:
        loop.run_until_complete(_send_everywhere(property_router, user, dict(request)))

    check()


# --- tool-call ids are identifier fields, in all three APIs ---------------------------------

TOOL_OUTPUT: Final = "tool output 42"


def _tool_call_request(api: str, user: str) -> dict[str, Any]:
    """A tool loop whose call id is the user id: chat tool_calls[].id and tool_call_id,
    Responses call_id, Messages tool_use.id and tool_use_id."""
    schema = {"type": "object", "properties": {}}
    if api == "responses":
        return {
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "function_call", "call_id": user, "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": user, "output": TOOL_OUTPUT},
            ],
            "tools": [{"type": "function", "name": "f", "parameters": schema}],
        }
    if api == "messages":
        return {
            "max_tokens": 16,
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": user, "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": user, "content": TOOL_OUTPUT}
                    ],
                },
            ],
            "tools": [{"name": "f", "input_schema": schema}],
        }
    call = {"id": user, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": user, "content": TOOL_OUTPUT},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }  # fmt: skip


async def _send_tool_loop(router: PolicyRouter, api: str, user: str, prefix: str) -> None:
    slug = f"p-{prefix.replace('_', '-')}"
    request = _tool_call_request(api, user)
    privacy = {"allow_providers": [slug]}
    if api == "responses":
        await router.aresponses("m", request.pop("input"), user, privacy=privacy, **request)
    elif api == "messages":
        metadata = {"user_id": user}
        await router.amessages(model="m", metadata=metadata, privacy=privacy, **request)
    else:
        await router.acompletion("m", request.pop("messages"), user, privacy=privacy, **request)


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_tool_call_ids__the_id_there_blocks_the_attempt_on_every_providers_wire(
    property_router: PolicyRouter, loop: asyncio.AbstractEventLoop, api: str
) -> None:
    """On omit and pseudonymous routes (every route of the catalog here), a tool-call id that
    is the user id is never sent: the attempt is blocked, and nothing reaches the provider."""
    for prefix in PREFIXES:
        with respx.mock(assert_all_called=False) as mock:
            route = mock_provider(mock, prefix)
            try:
                loop.run_until_complete(_send_tool_loop(property_router, api, TEXT_ID, prefix))
            except (InvalidRequest, RequestRejected) as refused:
                where = getattr(refused, "where", "")
                assert not mock.calls, f"{prefix}: refused, yet something was sent"
                # a Messages request sent as it came (Anthropic) is blocked at its tool_use id
                native = api == "messages" and where == "messages[1].content[0].id"
                assert "tool_call" in where or native, f"{prefix}: blocked at {where}"
                continue
            sent = [wire_text(call.request) for call in route.calls]
            rest = [text.replace(TOOL_OUTPUT, "") for text in sent]
            assert all(TEXT_ID not in text for text in rest), (
                f"{prefix}/{api}: the id is on the wire"
            )


def test_find_in_arguments__tool_call_ids_are_identifier_fields() -> None:
    identity = Identity.of("alice-1234")
    assert identity is not None
    call = {"id": "alice-1234", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "alice-1234", "content": "ok"},
    ]
    assert find_in_arguments({"messages": messages}, identity) == "messages[0].tool_calls[0].id"
    assert find_in_arguments({"messages": messages[1:]}, identity) == "messages[0].tool_call_id"
    assert "alice-1234" not in content_strings(messages)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param({"metadata": {"alice-1234": "x"}}, "$.metadata.{key#0}", id="a metadata key"),
        pytest.param(
            {"tools": [{"function": {"parameters": {"properties": {"a": 1, "alice-1234": 2}}}}]},
            "$.tools[0].function.parameters.properties.{key#1}",
            id="a property of a tool's schema",
        ),
        pytest.param({"metadata": {"note": "for alice-1234"}}, "$.metadata.{key#0}", id="a metadata value"),
        pytest.param({"metadata": {"user_id": "alice-1234"}}, "$.metadata.user_id", id="an identifier field by name"),
    ],
)  # fmt: skip
def test_find_on_wire__a_key_the_caller_chose_is_named_by_its_position(
    body: dict[str, Any], where: str
) -> None:
    identity = Identity.of("alice-1234")
    assert identity is not None
    found = find_on_wire("https://p", [], json.dumps(body).encode(), identity, frozenset())
    assert found == where
    assert "alice-1234" not in found


def test_find_in_arguments__a_logit_bias_key_equal_to_a_numeric_id_by_position() -> None:
    identity = Identity.of("82736451")
    assert identity is not None
    assert find_in_arguments({"logit_bias": {"82736451": 1}}, identity) == "logit_bias.{key#0}"


def _old_find_on_wire(
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    identity: Identity,
    content: frozenset[str],
) -> str | None:
    """find_on_wire as it was before its shortcuts (every URL part matched, ``in`` on the
    bytes, the forms made each time): the reference the shortcuts must agree with."""
    parts = url.replace("?", "/").replace("&", "/").replace("=", "/").split("/")
    if identity.matches(url) or any(identity.matches(part) for part in parts):
        return "url"
    for name, value in headers:
        if name.lower() != "content-length" and identity.matches(value):
            return f"header:{name.lower()}"
    if not any(form in body for form in identity.on_wire()):
        return None
    return find_on_wire("", [], body, identity, content)  # the body's walk is unchanged


_URL_TEXT: Final = st.text(alphabet="ab1.?&=/:%-_ é", max_size=30)
_IDS: Final = st.one_of(st.text(alphabet="ab1.?&=/ é", min_size=3, max_size=12),
                        st.sampled_from(["123", "1.5", "ab/ab", "a=b?c", "abcdefgh"]))  # fmt: skip


@given(
    user=_IDS,
    url=_URL_TEXT,
    header=_URL_TEXT,
    body=st.dictionaries(st.sampled_from(["model", "x", "stop"]), _URL_TEXT, max_size=3),
)
@settings(max_examples=400, deadline=None)
def test_find_on_wire__shortcuts_agree_with_the_full_search(
    user: str, url: str, header: str, body: dict[str, str]
) -> None:
    """The URL searched only when it holds the id's text, the body's forms made once per id
    and found with ``find``: the same answer as the full search, on ids that look like URL
    parts, numbers and separators."""
    identity = Identity.of(user)
    assert identity is not None
    raw = json.dumps(body).encode()
    for where in (url, f"https://host/{url}?q={user}", f"{url}/{user}&a"):
        headers = [("X-Test", header), ("Content-Length", user)]
        expected = _old_find_on_wire(where, headers, raw, identity, frozenset())
        assert find_on_wire(where, headers, raw, identity, frozenset()) == expected
