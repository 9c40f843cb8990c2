"""Identifier scrubbing: what each rule does to a call's arguments, never touching the caller's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from router import UserIdentifier
from router._core.scrub import is_identifier_key, scrub

USER = "alice-0042"


def _call() -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "hello", "name": USER}],
        "temperature": 0.2,
        "user": USER,
        "safety_identifier": USER,
        "prompt_cache_key": f"cache-{USER}",
        "metadata": {"user_id": USER, "trace": USER, "run": "r-1"},
        "extra_headers": {"X-User-Id": USER, "User-Agent": "assistant/1.0", "X-Trace": "t-1"},
        "extra_body": {"end_user": USER, "metadata": {"user_id": USER}, "top_k": 5},
    }


ALL_FIELDS = (
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "metadata.user_id",
    "metadata.trace",
    "extra_body.end_user",
    "extra_body.metadata.user_id",
    "extra_headers.X-User-Id",
    "messages[0].name",
)


def test_scrub__omit_removes_every_identifier_and_keeps_the_rest() -> None:
    result = scrub(_call(), UserIdentifier.OMIT, user=USER)
    assert sorted(result.removed) == sorted(ALL_FIELDS)
    assert result.replaced == ()
    assert result.kwargs == {
        "messages": [{"role": "user", "content": "hello"}],
        "temperature": 0.2,
        "metadata": {"run": "r-1"},
        "extra_headers": {"User-Agent": "assistant/1.0", "X-Trace": "t-1"},
        "extra_body": {"metadata": {}, "top_k": 5},
    }
    assert USER not in repr(result.kwargs)


def test_scrub__pseudonymous_replaces_each_identifier_with_the_pseudonym() -> None:
    result = scrub(_call(), UserIdentifier.PSEUDONYMOUS, user=USER, pseudonym=lambda u: f"P[{u}]")
    assert sorted(result.replaced) == sorted(ALL_FIELDS)
    assert result.kwargs["user"] == f"P[{USER}]"
    assert result.kwargs["prompt_cache_key"] == f"P[cache-{USER}]"
    assert result.kwargs["extra_headers"]["X-User-Id"] == f"P[{USER}]"
    assert result.kwargs["messages"][0]["name"] == f"P[{USER}]"


def test_scrub__allowed_passes_everything() -> None:
    call = _call()
    result = scrub(call, UserIdentifier.ALLOWED, user=USER)
    assert result.kwargs == call
    assert result.removed == result.replaced == ()


@pytest.mark.parametrize("rule", list(UserIdentifier))
def test_scrub__never_mutates_the_callers_arguments(rule: UserIdentifier) -> None:
    call = _call()
    before = copy.deepcopy(call)
    scrub(call, rule, user=USER, pseudonym=lambda u: "x")
    assert call == before


def test_scrub__pseudonymous_without_a_pseudonym_function_is_an_error() -> None:
    with pytest.raises(ValueError, match="pseudonymous route needs a pseudonym function"):
        scrub(_call(), UserIdentifier.PSEUDONYMOUS, user=USER)


def test_scrub__message_content_is_not_touched() -> None:
    call = {"messages": [{"role": "user", "content": f"I am {USER}"}], "user": USER}
    result = scrub(call, UserIdentifier.OMIT, user=USER)
    assert result.kwargs["messages"] is call["messages"]


@pytest.mark.parametrize(
    ("key", "identifying"),
    [
        ("user_id", True),
        ("userId", True),
        ("username", True),
        ("X-Customer", True),
        ("end_user", True),
        ("X-User-Id", True),
        ("X-End-User", True),
        ("customer_id", True),
        ("email", True),
        ("session_id", True),
        ("User-Agent", False),
        ("trace_id", False),
        ("temperature", False),
        ("prompt_cache_key", True),
    ],
)
def test_is_identifier_key(key: str, identifying: bool) -> None:
    assert is_identifier_key(key) is identifying
