"""How the evidence names caller data: kinds and key positions, never the value."""

from __future__ import annotations

from typing import Any

import pytest

from router._core.redact import key_at, kind, named


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "null", id="null"),
        pytest.param(True, "true", id="a boolean"),
        pytest.param(424242, "an integer", id="an integer: never its digits (a numeric id)"),
        pytest.param(1.5, "a number", id="a number"),
        pytest.param(float("nan"), "a non-finite number", id="NaN"),
        pytest.param("", "an empty string", id="an empty string"),
        pytest.param("my diagnosis", "a string of 12 characters", id="a string: its length"),
        pytest.param("x", "a string of 1 character", id="one character"),
        pytest.param([1, 2], "a list of 2 items", id="a list"),
        pytest.param({"a": 1}, "an object of 1 key", id="an object"),
        pytest.param(b"x", "a value of type bytes", id="another type"),
    ],
)
def test_kind__type_and_size_never_the_value(value: Any, expected: str) -> None:
    assert kind(value) == expected


def test_key_at__a_declared_or_parameter_like_key_by_name_else_its_position() -> None:
    assert key_at("temperature", 3) == "temperature"
    assert key_at("my diagnosis", 3) == "{key#3}"
    assert key_at("alice", 0, frozenset()) == "{key#0}"
    assert key_at("user_id", 1, frozenset({"user_id"})) == "user_id"
    assert key_at(7, 2) == "{key#2}"


def test_named__a_parameter_like_key_quoted_else_its_length() -> None:
    assert named("top_kk") == "'top_kk'"
    assert named("my diagnosis is …") == "a key of 17 characters"
