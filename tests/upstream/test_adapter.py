"""The litellm adapter's own behaviour: lazy import, configuration, arguments, errors.

What litellm then sends to each provider is tested on the wire, in ``test_wire.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

import httpcore
import httpx
import pytest

from router._errors import FailureKind, RequestRejected, UpstreamFailure
from router._upstream.adapter import UpstreamCall, _arguments, _first_chunk, complete, open_stream
from router._upstream.callbacks import CALLBACK_LISTS as _CALLBACK_LISTS
from router._upstream.deployment import Target
from router._upstream.errors import BY_STATUS, _outcomes, outcome_of, translate
from router._upstream.setup import ENVIRONMENT, _module, configure

OPENAI: Final = Target("openai/gpt-4.1")
# The same route kept on litellm: offline, litellm's mock answers it (the lean path answers
# its own routes offline: tests/upstream/test_offline.py).
ON_LITELLM: Final = Target("openai/gpt-4.1", path="litellm")
MESSAGES: Final = ({"role": "user", "content": "Say hello."},)


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    return _module()


def offline(**kwargs: Any) -> Any:
    return complete(
        UpstreamCall(
            ON_LITELLM, {"messages": list(MESSAGES), **kwargs}, None, 5.0, "offline answer"
        )
    )


async def offline_stream(text: str) -> Any:
    return await open_stream(
        UpstreamCall(ON_LITELLM, {"messages": list(MESSAGES)}, None, 5.0, text)
    )


# --- import and configuration -------------------------------------------------------------


def test_configure__sets_litellm_environment_and_settings(litellm: ModuleType) -> None:
    configure()

    assert {name: os.environ[name] for name in ENVIRONMENT} == dict(ENVIRONMENT)
    assert litellm.suppress_debug_info is True
    assert litellm.disable_aiohttp_transport is True


# --- arguments ----------------------------------------------------------------------------


def test_arguments__adapter_owns_model_retries_and_transport_settings() -> None:
    call = _arguments(UpstreamCall(OPENAI, {"messages": []}, "https://ours.example", 12.5, None))

    assert call == {
        "messages": [],
        "model": "openai/gpt-4.1",
        "custom_llm_provider": "openai",
        "stream": False,
        "timeout": 12.5,
        "num_retries": 0,
        "max_retries": 0,
        "drop_params": True,
        "store": False,
        "caching": False,
        "cache": {"no-cache": True, "no-store": True},
        "api_base": "https://ours.example",
    }


@pytest.mark.parametrize("prefix", ["openai", "azure"])
def test_arguments__providers_that_store_by_default_are_told_not_to(prefix: str) -> None:
    call = _arguments(UpstreamCall(Target(f"{prefix}/m"), {"messages": []}))

    assert call["store"] is False


def test_arguments__offline_mocks_the_answer_and_sends_no_api_base() -> None:
    call = _arguments(
        UpstreamCall(OPENAI, {"messages": []}, "https://ours.example", 5.0, "offline answer")
    )

    assert call["mock_response"] == "offline answer"
    assert "api_base" not in call


def test_arguments__deepinfra_keeps_max_retries_through_litellm() -> None:
    call = _arguments(UpstreamCall(Target("deepinfra/m/x"), {"messages": []}, None, 5.0, None))

    assert call["allowed_openai_params"] == ["max_retries"]


@pytest.mark.parametrize(
    "name",
    ["api_key", "base_url", "api_base", "model", "num_retries", "callbacks", "logger_fn",
     "litellm_logging_obj", "extra_body", "extra_headers", "azure", "mock_response",
     "metadata", "cache", "headers", "drop_params"],
)  # fmt: skip
async def test_complete__refuses_anything_it_does_not_forward(name: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        await offline(**{name: "x"})

    assert str(caught.value) == (
        f"{name!r}: not an argument the router forwards; remove it from the call"
    )
    assert caught.value.status_code == 400


# --- offline ------------------------------------------------------------------------------


async def test_complete__offline_returns_a_model_response() -> None:
    response = await offline()

    assert type(response).__name__ == "ModelResponse"
    assert response.choices[0].message.content == "offline answer"


async def test_complete__schedules_no_logging_task() -> None:
    """litellm's success logging (a task per call) is skipped: the call is 'internal'."""
    before = asyncio.all_tasks()

    await offline()

    assert asyncio.all_tasks() == before


async def test_open_stream__closing_early_is_clean() -> None:
    chunks = await offline_stream("a longer offline answer in several chunks")

    first = await anext(chunks)
    await chunks.aclose()

    assert first.choices[0].delta.content


class _EmptyStream:
    closed = False

    def __aiter__(self) -> _EmptyStream:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed = True


async def test_first_chunk__a_stream_without_chunks_is_a_retryable_failure() -> None:
    empty = _EmptyStream()

    with pytest.raises(UpstreamFailure) as caught:
        await _first_chunk(empty, UpstreamCall(OPENAI, {}))

    assert str(caught.value) == "openai: server: the stream ended before its first chunk"
    assert caught.value.retryable
    assert empty.closed


# --- errors -------------------------------------------------------------------------------


def _litellm_exception_classes(litellm: ModuleType) -> set[type[BaseException]]:
    found = set()
    for module in (litellm, litellm.exceptions):
        for name in dir(module):
            value = getattr(module, name, None)
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.split(".")[0] == "litellm"
            ):
                found.add(value)
    return found


def test_outcomes__every_litellm_exception_is_mapped(litellm: ModuleType) -> None:
    missing = _litellm_exception_classes(litellm) - set(_outcomes())

    assert sorted(c.__qualname__ for c in missing) == []


def test_outcomes__only_generic_classes_decide_by_status(litellm: ModuleType) -> None:
    generic = {cls.__name__ for cls, outcome in _outcomes().items() if outcome == BY_STATUS}

    assert generic == {"APIError", "MockException", "OpenAIError"}


Make = Callable[[Any], BaseException]
ROWS: Final[list[tuple[str, Make, FailureKind | None, int | None]]] = [
    (
        "bad request is the request's fault",
        lambda e: e.BadRequestError("bad", model="m", llm_provider="openai"),
        None,
        400,
    ),
    (
        "context window exceeded is the request's fault",
        lambda e: e.ContextWindowExceededError("too long", model="m", llm_provider="openai"),
        None,
        400,
    ),
    (
        "content policy violation is the request's fault",
        lambda e: e.ContentPolicyViolationError("no", model="m", llm_provider="openai"),
        None,
        400,
    ),
    (
        "unsupported params is the request's fault",
        lambda e: e.UnsupportedParamsError("unsupported: x"),
        None,
        400,
    ),
    (
        "guardrail block is the request's fault",
        lambda e: e.GuardrailRaisedException("g", message="blocked"),
        None,
        400,
    ),
    (
        "bad request with a 403 status is an auth failure (Vertex AI)",
        lambda e: _with_status(e.BadRequestError("denied", model="m", llm_provider="x"), 403),
        FailureKind.AUTH,
        403,
    ),
    (
        "timeout is a timeout",
        lambda e: e.Timeout("slow", model="m", llm_provider="openai"),
        FailureKind.TIMEOUT,
        408,
    ),
    (
        "connection error is a connection failure",
        lambda e: e.APIConnectionError("refused", llm_provider="openai", model="m"),
        FailureKind.CONNECTION,
        500,
    ),
    (
        "rate limit is a rate limit",
        lambda e: e.RateLimitError("slow down", llm_provider="openai", model="m"),
        FailureKind.RATE_LIMIT,
        429,
    ),
    (
        "service unavailable is a server failure",
        lambda e: e.ServiceUnavailableError("down", llm_provider="openai", model="m"),
        FailureKind.SERVER,
        503,
    ),
    (
        "authentication error is an auth failure",
        lambda e: e.AuthenticationError("bad key", llm_provider="openai", model="m"),
        FailureKind.AUTH,
        401,
    ),
    (
        "not found is a missing model",
        lambda e: e.NotFoundError("no such model", model="m", llm_provider="openai"),
        FailureKind.NOT_FOUND,
        404,
    ),
    (
        "unknown provider is a deployment error",
        lambda e: e.LiteLLMUnknownProvider(model="m", custom_llm_provider="nope"),
        FailureKind.CONFIG,
        400,
    ),
    (
        "budget exceeded is litellm's own budget",
        lambda e: e.BudgetExceededError(current_cost=2.0, max_budget=1.0),
        FailureKind.BUDGET,
        422,
    ),
    (
        "generic api error with 502 is a server failure",
        lambda e: e.APIError(502, "bad gateway", llm_provider="openai", model="m"),
        FailureKind.SERVER,
        502,
    ),
    (
        "generic api error with 413 is the request's fault",
        lambda e: e.APIError(413, "too large", llm_provider="openai", model="m"),
        None,
        413,
    ),
]


def _with_status(exc: BaseException, status: int) -> BaseException:
    exc.status_code = status  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("make", "kind", "status"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_translate__maps_litellm_errors(
    litellm: ModuleType, make: Make, kind: FailureKind | None, status: int | None
) -> None:
    error = translate(make(litellm.exceptions), OPENAI)

    if kind is None:
        assert type(error) is RequestRejected
    else:
        assert isinstance(error, UpstreamFailure)
        assert error.kind is kind
        assert error.retryable is (kind is not FailureKind.BUDGET)
    assert error.status_code == status


def test_translate__server_error_caused_by_a_refused_connection_is_a_connection_failure(
    litellm: ModuleType,
) -> None:
    wrapped = litellm.exceptions.InternalServerError("Connection error.", "openai", "m")
    wrapped.__cause__ = httpx.ConnectError("refused")

    error = translate(wrapped, OPENAI)

    assert isinstance(error, UpstreamFailure)
    assert error.kind is FailureKind.CONNECTION


def test_translate__message_names_provider_kind_and_status(litellm: ModuleType) -> None:
    exc = litellm.exceptions.RateLimitError("OpenAIException - slow down", "openai", "m")

    error = translate(exc, OPENAI)

    assert str(error) == (
        "openai (HTTP 429): rate_limit: RateLimitError: OpenAIException - slow down"
    )


def test_translate__message_holds_no_credential_of_this_process(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "plain-looking-value-1234")
    exc = litellm.exceptions.AuthenticationError(
        "bad key plain-looking-value-1234 and sk-proj-abcdefghijklmnopqrstuvwx", "openai", "m"
    )

    message = str(translate(exc, OPENAI))

    assert "plain-looking-value-1234" not in message
    assert "sk-proj-abcdefghijklmnopqrstuvwx" not in message


def test_translate__message_is_one_bounded_line(litellm: ModuleType) -> None:
    exc = litellm.exceptions.InternalServerError("x" * 1000 + "\nTraceback ...", "openai", "m")

    message = str(translate(exc, OPENAI))

    assert "\n" not in message
    assert len(message) < 400


def test_outcome_of__subclass_uses_nearest_listed_base(litellm: ModuleType) -> None:
    class Custom(litellm.exceptions.RateLimitError):  # type: ignore[misc, name-defined]
        pass

    assert outcome_of(Custom("x", "openai", "m")) is FailureKind.RATE_LIMIT


# --- litellm's logging at the end of a stream ---------------------------------------------


async def _stream_to_the_end(text: str) -> list[Any]:
    chunks = await offline_stream(text)
    received = [chunk async for chunk in chunks]
    for _ in range(5):  # litellm dispatches its success logging as a task: let it run
        await asyncio.sleep(0)
    return received


@pytest.fixture
def success_handler_calls(litellm: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    logging_class = litellm.litellm_core_utils.litellm_logging.Logging
    original = logging_class.async_success_handler

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(logging_class, "async_success_handler", counted)
    return calls


async def test_open_stream__without_observers_skips_litellm_success_logging(
    success_handler_calls: list[Any],
) -> None:
    received = await _stream_to_the_end("an answer in a few chunks")

    assert received
    assert success_handler_calls == []


async def test_open_stream__a_registered_callback_does_not_see_the_routers_stream(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch, success_handler_calls: list[Any]
) -> None:
    from litellm.integrations.custom_logger import CustomLogger  # noqa: TID251

    seen: list[dict[str, Any]] = []

    class Recorder(CustomLogger):
        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            seen.append(kwargs["standard_logging_object"])

    for name in _CALLBACK_LISTS:  # litellm copies a callback into its other lists: restore all
        monkeypatch.setattr(litellm, name, [])
    litellm.callbacks.append(Recorder())

    await _stream_to_the_end("a secret answer")

    assert success_handler_calls == []
    assert seen == []  # the router's calls are in its audit log, not the application's hooks


# --- the httpx clients litellm builds -------------------------------------------------------


def _pool_of(client: httpx.AsyncClient) -> type:
    transport = client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    return type(transport._pool)


async def test_configure__litellm_builds_its_httpx_clients_with_the_keep_alive_pool(
    litellm: ModuleType,
) -> None:
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: TID251
    from litellm.llms.openai.common_utils import BaseOpenAILLM  # noqa: TID251

    from router._upstream.keepalive import KeepAlivePool

    configure()
    handler = AsyncHTTPHandler()  # every provider but the OpenAI-compatible ones
    sdk_client = BaseOpenAILLM._get_async_http_client()  # the openai SDK's, for those

    assert _pool_of(handler.client) is KeepAlivePool
    assert sdk_client is not None
    assert _pool_of(sdk_client) is KeepAlivePool
    await handler.close()  # type: ignore[no-untyped-call]
    await sdk_client.aclose()


async def test_configure__a_client_the_application_gave_litellm_is_left_alone(
    litellm: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litellm.llms.openai.common_utils import BaseOpenAILLM  # noqa: TID251

    own = httpx.AsyncClient()
    monkeypatch.setattr(litellm, "aclient_session", own)

    assert BaseOpenAILLM._get_async_http_client() is own
    assert _pool_of(own) is httpcore.AsyncConnectionPool
    await own.aclose()
