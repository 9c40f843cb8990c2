"""What really goes on the wire for each provider of the deployment, on both forwarding paths.

Every provider endpoint is mocked with respx at the httpx layer (nothing unmocked may leave:
``assert_all_mocked``), so the request building of litellm or of the lean path
(router/_upstream/lean.py) runs and each test asserts on the request it built. One target per
litellm prefix of ``config/routes.yaml``; every test runs with the lean path off (``litellm``)
and on (``lean``: the OpenAI-format providers take it, the others stay on litellm).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from importlib.metadata import version
from typing import Any, Final

import httpx
import pytest
import respx
from packaging.version import Version

from router._core.catalog import UserIdentifier
from router._core.scrub import scrub
from router._errors import FailureKind, RequestRejected, UpstreamFailure
from router._upstream import providers
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.callbacks import CALLBACK_LISTS
from router._upstream.deployment import Target
from router._upstream.setup import _module
from tests._support.wire import (
    CANNED_TEXT,
    FAKE_CREDENTIALS,
    PREFIXES,
    SSE_HEADERS,
    SSE_PREFIXES,
    STREAM_PIECES,
    WIRES,
    all_targets,
    clear_credentials,
    error_response,
    mock_provider,
    places,
    reply,
    sse_body,
    targets_by_prefix,
    use_fake_credentials,
    wire_text,
)

SENTINEL: Final = "sentinel-user-7f3a"
TARGETS: Final = targets_by_prefix()
# litellm fakes streaming for Azure's o-series (the first Azure route); this one streams.
STREAM_TARGETS: Final = TARGETS | {"azure": Target("azure/gpt-4.1")}
MESSAGES: Final = ({"role": "user", "content": "Say hello."},)


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)


@pytest.fixture(autouse=True, params=["litellm", "lean"])
def forwarding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The path a target without a path of its own takes."""
    monkeypatch.setattr(providers, "DEFAULT_PATH", request.param)
    return str(request.param)


def on_lean(prefix: str) -> bool:
    return providers.serves(TARGETS[prefix])


def identified(**fields: Any) -> dict[str, Any]:
    """A call that names the end user in every way a caller can, unless ``fields`` narrows it."""
    every = {
        "user": SENTINEL,
        "safety_identifier": SENTINEL,
        "prompt_cache_key": SENTINEL,
    }  # metadata is never forwarded: the router consumes it (tests/test_router.py)
    return {"messages": list(MESSAGES), "temperature": 0.2, **(fields or every)}


def upstream(
    target: Target,
    kwargs: Mapping[str, Any],
    *,
    api_base: str | None = None,
    timeout: float = 5.0,
    offline: bool = False,
    offline_text: str = "",
) -> UpstreamCall:
    return UpstreamCall(target, kwargs, api_base, timeout, offline_text if offline else None)


async def call(target: Target, kwargs: Mapping[str, Any], **options: Any) -> Any:
    settings: dict[str, Any] = {
        "api_base": None,
        "timeout": 5.0,
        "offline": False,
        "offline_text": "",
    }
    return await complete(upstream(target, kwargs, **(settings | options)))


async def stream(target: Target, kwargs: Mapping[str, Any], **options: Any) -> list[Any]:
    settings: dict[str, Any] = {
        "api_base": None,
        "timeout": 5.0,
        "offline": False,
        "offline_text": "",
    }
    chunks = await open_stream(upstream(target, kwargs, **(settings | options)))
    return [chunk async for chunk in chunks]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_deployment__every_prefix_has_a_wire() -> None:
    assert set(TARGETS) == set(WIRES)


# --- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_scrubbed_call__sentinel_nowhere_on_the_wire(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    route = mock_provider(respx_mock, prefix)
    scrubbed = scrub(identified(), UserIdentifier.OMIT, user=SENTINEL)

    await call(TARGETS[prefix], scrubbed.kwargs)

    assert route.call_count == 1
    assert SENTINEL not in wire_text(route.calls.last.request)


@pytest.mark.parametrize("target", all_targets(), ids=lambda t: t.model)
async def test_scrubbed_call__every_deployment_target_carries_no_sentinel(
    respx_mock: respx.MockRouter, target: Target
) -> None:
    """What a provider accepts can depend on the model (Azure's o-series takes
    safety_identifier, its gpt-4.1 drops it), so every target of the deployment is checked."""
    route = mock_provider(respx_mock, target.prefix)
    scrubbed = scrub(identified(), UserIdentifier.OMIT, user=SENTINEL)

    await call(target, scrubbed.kwargs)

    assert SENTINEL not in wire_text(route.calls.last.request)


@pytest.mark.parametrize("prefix", SSE_PREFIXES)
async def test_scrubbed_stream__sentinel_nowhere_on_the_wire(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    route = mock_provider(respx_mock, prefix, stream=True)
    scrubbed = scrub(identified(), UserIdentifier.OMIT, user=SENTINEL)

    chunks = await stream(STREAM_TARGETS[prefix], scrubbed.kwargs)

    assert text_of(chunks) == CANNED_TEXT
    assert SENTINEL not in wire_text(route.calls.last.request)


# Where each identifier field lands when nothing scrubs it (litellm 1.104.0 and 1.110.2,
# measured). A prefix missing from a field's row drops that field: it is sent nowhere.
SINCE_1_110: Final = Version(version("litellm")) >= Version("1.110")
LANDS: Final[Mapping[str, Mapping[str, set[str]]]] = {
    "user": {
        "openai": {"$.user"},
        "azure": {"$.user"},
        "anthropic": {"$.metadata.user_id"},
        "fireworks_ai": {"$.user"},
        "cerebras": {"$.user"},
        "xai": {"$.user"},
    },
    "safety_identifier": {
        "openai": {"$.safety_identifier"},
        "azure": {"$.safety_identifier"},
        "azure_ai": {"$.safety_identifier"},
        "nebius": {"$.safety_identifier"},
        "together_ai": {"$.safety_identifier"},
        "groq": {"$.safety_identifier"},
    },
    "prompt_cache_key": {
        prefix: {"$.prompt_cache_key"}
        for prefix in (
            "openai",
            "azure",
            "azure_ai",
            "nebius",
            "fireworks_ai",
            "together_ai",
            "groq",
            *(("mistral",) if SINCE_1_110 else ()),  # 1.110 sends it to Mistral too
        )
    },
}
LEAN_LANDS: Final[Mapping[str, set[str]]] = {
    "user": {"$.user"},
    "safety_identifier": {"$.safety_identifier"},
    "prompt_cache_key": {"$.prompt_cache_key"},
}
FIELD_VALUES: Final[Mapping[str, Any]] = {
    "user": SENTINEL,
    "safety_identifier": SENTINEL,
    "prompt_cache_key": SENTINEL,
}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("field", list(LANDS))
async def test_unscrubbed_field__lands_where_litellm_puts_it(
    respx_mock: respx.MockRouter, field: str, prefix: str
) -> None:
    route = mock_provider(respx_mock, prefix)
    allowed = scrub(
        identified(**{field: FIELD_VALUES[field]}), UserIdentifier.ALLOWED, user=SENTINEL
    )

    await call(TARGETS[prefix], allowed.kwargs)

    # The lean path sends the body as it is: each field where the caller put it (metadata,
    # the caller's label, to no provider, as litellm).
    lands = LEAN_LANDS[field] if on_lean(prefix) else LANDS[field].get(prefix, set())
    assert places(route.calls.last.request, SENTINEL) == lands


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_unscrubbed_call__sentinel_reaches_the_wire(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    """The control for the scrubbed test: the same call, unscrubbed, does leak (except where
    litellm drops every identifier field for the provider: then it does not)."""
    route = mock_provider(respx_mock, prefix)
    allowed = scrub(identified(), UserIdentifier.ALLOWED, user=SENTINEL)

    await call(TARGETS[prefix], allowed.kwargs)

    leaks = on_lean(prefix) or any(prefix in lands for lands in LANDS.values())
    assert (SENTINEL in wire_text(route.calls.last.request)) is leaks


# --- responses ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_complete__parses_the_canned_reply(respx_mock: respx.MockRouter, prefix: str) -> None:
    mock_provider(respx_mock, prefix)

    response = await call(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert type(response).__name__ == "ModelResponse"
    assert response.choices[0].message.content == CANNED_TEXT


@pytest.mark.parametrize("prefix", SSE_PREFIXES)
async def test_open_stream__yields_the_streamed_pieces(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    route = mock_provider(respx_mock, prefix, stream=True)

    chunks = await stream(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert route.call_count == 1
    assert type(chunks[0]).__name__ == "ModelResponseStream"
    assert text_of(chunks) == "".join(STREAM_PIECES)


# --- failures -----------------------------------------------------------------------------

FAILURES: Final = {
    429: FailureKind.RATE_LIMIT,
    500: FailureKind.SERVER,
    503: FailureKind.SERVER,
    401: FailureKind.AUTH,
    403: FailureKind.AUTH,
    404: FailureKind.NOT_FOUND,
}
# litellm reports a status other than the wire's for these (it raises ServiceUnavailableError).
REPORTED_STATUS: Final = {("bedrock", 500): 503}


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("status", "kind"), list(FAILURES.items()))
async def test_complete__backend_failure_is_retryable(
    respx_mock: respx.MockRouter, prefix: str, status: int, kind: FailureKind
) -> None:
    route = mock_provider(respx_mock, prefix, status=status)

    with pytest.raises(UpstreamFailure) as caught:
        await call(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert route.call_count == 1, "one attempt: no retry inside litellm or the provider's SDK"
    reported = REPORTED_STATUS.get((prefix, status), status)
    assert (caught.value.kind, caught.value.status_code) == (kind, reported)
    assert caught.value.retryable
    assert caught.value.provider == prefix


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("status", [400, 422])
async def test_complete__refused_request_is_rejected(
    respx_mock: respx.MockRouter, prefix: str, status: int
) -> None:
    mock_provider(respx_mock, prefix, status=status, error="messages: invalid")

    with pytest.raises(RequestRejected) as caught:
        await call(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert caught.value.status_code == status
    assert str(caught.value).startswith(f"{prefix} (HTTP {status}) refused the request: ")


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ReadTimeout("read timed out"), FailureKind.TIMEOUT),
        (httpx.ConnectTimeout("connect timed out"), FailureKind.TIMEOUT),
        (httpx.ConnectError("connection refused"), FailureKind.CONNECTION),
    ],
    ids=["read-timeout", "connect-timeout", "connect-error"],
)
async def test_complete__transport_failure_is_retryable(
    respx_mock: respx.MockRouter, prefix: str, error: Exception, kind: FailureKind
) -> None:
    route = mock_provider(respx_mock, prefix).mock(side_effect=error)

    with pytest.raises(UpstreamFailure) as caught:
        await call(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert route.call_count == 1  # one send per attempt (tests/upstream/test_send_once.py)
    assert caught.value.kind is kind
    assert caught.value.retryable


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_complete__auth_failure_message_holds_no_key(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    secrets = [v for k, v in FAKE_CREDENTIALS.items() if "KEY" in k]
    echo = "Incorrect API key provided: " + " ".join(secrets)
    mock_provider(respx_mock, prefix, status=401, error=echo)

    with pytest.raises(UpstreamFailure) as caught:
        await call(TARGETS[prefix], {"messages": list(MESSAGES)})

    message = str(caught.value)
    assert "Incorrect API key provided" in message or "401" in message
    assert [s for s in secrets if s in message] == []


@pytest.mark.parametrize("prefix", SSE_PREFIXES)
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_open_stream__failure_before_first_chunk_raises_from_open(
    respx_mock: respx.MockRouter, prefix: str, status: int
) -> None:
    mock_provider(respx_mock, prefix, status=status)

    with pytest.raises(UpstreamFailure) as caught:
        await open_stream(upstream(TARGETS[prefix], {"messages": list(MESSAGES)}))

    assert caught.value.status_code == status
    assert caught.value.retryable


@pytest.mark.parametrize("prefix", SSE_PREFIXES)
async def test_open_stream__timeout_before_first_chunk_raises_from_open(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    mock_provider(respx_mock, prefix).mock(side_effect=httpx.ReadTimeout("read timed out"))

    with pytest.raises(UpstreamFailure) as caught:
        await stream(TARGETS[prefix], {"messages": list(MESSAGES)})

    assert caught.value.kind is FailureKind.TIMEOUT


async def _drain(chunks: AsyncIterator[Any], *, into: list[Any]) -> None:
    async for chunk in chunks:
        into.append(chunk)


class _BreaksAfter(httpx.AsyncByteStream):
    """A response body that sends ``head`` and then loses the connection."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self) -> Any:
        yield self.head
        raise httpx.ReadError("connection reset by peer")


@pytest.mark.parametrize("prefix", SSE_PREFIXES)
async def test_open_stream__failure_after_first_chunk_raises_from_iteration(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    events = sse_body(WIRES[prefix])
    head = events[: events.index(b"\n\n", events.index(b"reply")) + 2]  # two text deltas
    route = mock_provider(respx_mock, prefix).mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, stream=_BreaksAfter(head))
    )
    chunks = await open_stream(upstream(STREAM_TARGETS[prefix], {"messages": list(MESSAGES)}))
    received: list[Any] = []

    with pytest.raises(UpstreamFailure) as caught:
        await _drain(chunks, into=received)

    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert text_of(received).startswith("canned ")
    assert caught.value.retryable


# --- offline, api_base --------------------------------------------------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_offline__no_http_call_and_no_credentials(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    clear_credentials(monkeypatch)
    route = mock_provider(respx_mock, prefix)
    catch_all = respx_mock.route()

    response = await call(
        TARGETS[prefix], identified(), offline=True, offline_text="offline answer"
    )
    chunks = await stream(
        TARGETS[prefix], identified(), offline=True, offline_text="offline answer"
    )

    assert response.choices[0].message.content == "offline answer"
    assert text_of(chunks) == "offline answer"
    assert (route.call_count, catch_all.call_count) == (0, 0)


OVERRIDE_HOST: Final = "override.example.test"


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_api_base__reaches_the_wire(respx_mock: respx.MockRouter, prefix: str) -> None:
    route = respx_mock.post(host=OVERRIDE_HOST).respond(200, json=reply(WIRES[prefix]))

    response = await call(
        TARGETS[prefix], {"messages": list(MESSAGES)}, api_base=f"https://{OVERRIDE_HOST}/v1"
    )

    assert route.call_count == 1
    assert response.choices[0].message.content == CANNED_TEXT


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_caller_api_base__never_reaches_the_wire(
    respx_mock: respx.MockRouter, prefix: str
) -> None:
    """Where a request goes is the deployment's choice, never the caller's: refused, unsent."""
    route = mock_provider(respx_mock, prefix)
    kwargs = {"messages": list(MESSAGES), "api_base": f"https://{OVERRIDE_HOST}/v1"}

    with pytest.raises(RequestRejected, match="'api_base': not an argument the router forwards"):
        await call(TARGETS[prefix], kwargs)

    assert route.call_count == 0


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_complete__the_applications_litellm_callbacks_see_nothing_of_it(
    respx_mock: respx.MockRouter, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every provider's code path, a callback the application registered is not called."""
    from litellm.integrations.custom_logger import CustomLogger  # noqa: TID251

    seen: list[str] = []

    class Recorder(CustomLogger):
        async def async_pre_call_deployment_hook(self, kwargs: Any, call_type: Any) -> Any:
            seen.append("pre_call_deployment_hook")
            return kwargs

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            seen.append("pre_api_call")

        async def async_log_success_event(self, *args: Any, **kwargs: Any) -> None:
            seen.append("success")

    litellm = _module()
    for name in CALLBACK_LISTS:
        monkeypatch.setattr(litellm, name, list(getattr(litellm, name)))
    litellm.callbacks.append(Recorder())
    mock_provider(respx_mock, prefix)

    await call(TARGETS[prefix], {"messages": list(MESSAGES)})
    await asyncio.sleep(0.05)  # litellm logs from tasks it starts

    assert seen == []


async def test_error_response__is_the_provider_shape() -> None:
    """The helper's own check: an error body parses back as JSON for every format."""
    for wire in WIRES.values():
        assert error_response(wire, 500, "x").json()
