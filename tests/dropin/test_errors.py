"""An application's ``except litellm.X`` / ``except openai.X`` clauses keep working.

Each error the router raises is still its RouterError subclass (with ``attempts``,
``status_code``…) and also the litellm class (so the openai class) that matches it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import litellm  # noqa: TID251
import openai
import pytest
import respx

from router import (
    BackendUnavailable,
    InvalidRequest,
    PolicyRouter,
    PolicyViolation,
    Preferences,
    RequestRejected,
    UnknownModel,
)
from tests import test_router
from tests.test_router import KIMI, MESSAGES, USER, Audit, make_router

audit, keys, wire = test_router.audit, test_router.keys, test_router.wire  # its fixtures


@pytest.fixture
async def router(tmp_path: Path, audit: Audit, keys: None) -> AsyncIterator[PolicyRouter]:
    r = make_router(tmp_path, audit)
    yield r
    await r.aclose()


def _every_route(wire: respx.MockRouter, **answer: Any) -> None:
    for url in KIMI.values():
        if "side_effect" in answer:
            wire.post(url).mock(side_effect=answer["side_effect"])
        else:
            wire.post(url).respond(
                answer["status"], json={"error": {"message": "upstream says no"}}
            )


@pytest.mark.parametrize(
    ("answer", "litellm_class", "openai_class", "status"),
    [
        ({"status": 429}, litellm.RateLimitError, openai.RateLimitError, 429),
        ({"status": 401}, litellm.AuthenticationError, openai.AuthenticationError, 401),
        ({"status": 404}, litellm.NotFoundError, openai.NotFoundError, 404),
        ({"status": 500}, litellm.InternalServerError, openai.InternalServerError, 500),
        ({"status": 503}, litellm.ServiceUnavailableError, openai.APIStatusError, 503),
        ({"side_effect": httpx.ReadTimeout("slow")}, litellm.Timeout, openai.APITimeoutError, 408),
        (
            {"side_effect": httpx.ConnectError("refused")},
            litellm.APIConnectionError,
            openai.APIConnectionError,
            500,
        ),
    ],
    ids=["429 is a RateLimitError", "401 is an AuthenticationError", "404 is a NotFoundError",
         "500 is an InternalServerError", "503 is a ServiceUnavailableError",
         "a read timeout is a Timeout", "a refused connection is an APIConnectionError"],
)  # fmt: skip
async def test_every_route_failing__is_backend_unavailable_and_the_last_attempts_litellm_class(
    router: PolicyRouter,
    wire: respx.MockRouter,
    answer: dict[str, Any],
    litellm_class: type[Exception],
    openai_class: type[Exception],
    status: int,
) -> None:
    _every_route(wire, **answer)
    with pytest.raises(litellm_class) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER)
    error: Any = caught.value
    assert isinstance(error, BackendUnavailable)
    assert isinstance(error, openai_class)
    assert error.status_code == status
    assert [a.route.provider.slug for a in error.attempts] == list(KIMI)
    assert str(error).startswith("every allowed route of 'Kimi K2' failed")


async def test_every_route_rate_limited__a_rate_limit_error_with_the_providers_wait(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    """As through the proxy (429, ``retry-after``): the last attempt's wait, in seconds."""
    waits = {"groq": "40", "nebius": "30", "deepinfra": "20", "fireworks": "10", "together": "7"}
    for slug, url in KIMI.items():
        wire.post(url).respond(429, headers={"retry-after": waits[slug]}, json={"error": {}})
    with pytest.raises(openai.RateLimitError) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER)
    error: Any = caught.value
    assert isinstance(error, BackendUnavailable)
    assert isinstance(error, litellm.RateLimitError)
    assert (error.status_code, error.http_status, error.retry_after) == (429, 429, 7.0)
    assert [a.retry_after for a in error.attempts] == [40.0, 30.0, 20.0, 10.0, 7.0]


async def test_a_refused_request__is_request_rejected_and_a_bad_request_error(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    wire.post(KIMI["groq"]).respond(400, json={"error": {"message": "bad temperature"}})
    with pytest.raises(openai.BadRequestError) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, temperature=7)
    error: Any = caught.value
    assert isinstance(error, RequestRejected)
    assert isinstance(error, litellm.BadRequestError)
    assert error.status_code == 400
    assert error.response.status_code == 400
    assert error.llm_provider == "groq"


async def test_a_policy_violation__is_a_permission_denied_error_as_over_http(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    await router.preferences.set(USER, Preferences(max_retention="none"))
    with pytest.raises(litellm.PermissionDeniedError) as caught:
        await router.acompletion("Claude 4.5 Sonnet", MESSAGES, USER)
    error: Any = caught.value
    assert isinstance(error, PolicyViolation)
    assert isinstance(error, openai.PermissionDeniedError)
    assert error.status_code == 403
    assert "Kimi K2" in error.alternatives
    assert not wire.calls


async def test_an_unknown_model__is_a_not_found_error(router: PolicyRouter) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await router.acompletion("GPT 9", MESSAGES, USER)
    assert isinstance(caught.value, UnknownModel)
    assert isinstance(caught.value, LookupError)
    assert caught.value.status_code == 404


async def test_an_invalid_request__is_a_bad_request_error(router: PolicyRouter) -> None:
    with pytest.raises(litellm.BadRequestError) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, api_key="sk-x")
    assert isinstance(caught.value, InvalidRequest)
    assert isinstance(caught.value, ValueError)
    assert caught.value.status_code == 400


async def test_a_routers_error_is_caught_where_litellm_acompletions_was(
    router: PolicyRouter, wire: respx.MockRouter
) -> None:
    """The same ``except`` clause handles litellm's own error and the router's."""
    _every_route(wire, status=429)
    wire.post("https://api.openai.com/v1/chat/completions").respond(
        429, json={"error": {"message": "slow down"}}
    )
    caught = []
    for call in (
        lambda: litellm.acompletion(model="openai/gpt-4.1", messages=MESSAGES, api_key="sk-x"),
        lambda: router.acompletion("kimi-k2", MESSAGES, USER),
    ):
        try:
            await call()
        except litellm.RateLimitError as exc:
            caught.append(exc.status_code)
    assert caught == [429, 429]


def test_a_refusal_without_litellm_imported__stays_litellm_free(tmp_path: Path) -> None:
    program = textwrap.dedent(
        """
        import asyncio, sys
        from router import PolicyRouter, UnknownModel

        async def main() -> None:
            router = PolicyRouter.from_settings(offline=True, pseudonym_key="test-pseudonym-key-0123456789abcdef")
            try:
                await router.acompletion("GPT 9", [{"role": "user", "content": "hi"}])
            except UnknownModel as exc:
                print(type(exc).__mro__[1].__name__, "litellm" in sys.modules, "openai" in sys.modules)
            await router.aclose()

        asyncio.run(main())
        """
    )
    env = {**os.environ, "POLICY_ROUTER_AUDIT": str(tmp_path / "audit.jsonl")}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RouterError", "False", "False"]


@pytest.mark.parametrize("argument", ["api_key", "api_base"])
async def test_api_key_and_api_base__are_refused_saying_how_to_configure_a_provider(
    router: PolicyRouter, wire: respx.MockRouter, argument: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await router.acompletion("kimi-k2", MESSAGES, USER, **{argument: "x"})
    message = str(caught.value)
    assert f"remove {argument!r}" in message
    assert "POLICY_ROUTER_PROVIDERS__<SLUG>__API_BASE" in message
    assert "environment variable, e.g. OPENAI_API_KEY" in message
    assert not wire.calls
