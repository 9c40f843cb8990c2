"""Durations fail closed: no NaN, no infinity, no bare numbers, no absurd magnitudes.

Each refusal is a clean error naming its place: in the catalog (``catalog validate``,
``explain``, ``render``), in preferences, and in the settings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router import CatalogError, Duration, InvalidPreferences, Preferences
from router._core.catalog_load import parse_catalog
from router.cli import app
from tests._support.repo import CURRENT_CATALOG

ACCEPTED = "'none', a duration like '24h', '30d', '90d' or '2y', or 'unlimited'"
NOT_FINITE = "a duration must be finite; write 'unlimited' for no limit"
NO_UNIT = "a number with no unit: write the unit, like '30d' or '24h'"
ZERO = "a bare 0: write 'none' for not stored, or give a unit, like '30d'"
TOO_LONG = "longer than 1000 years; write 'unlimited' for no limit"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        pytest.param(math.nan, f"nan: {NOT_FINITE}", id="NaN is refused"),
        pytest.param(math.inf, f"inf: {NOT_FINITE}", id="a float infinity is refused"),
        pytest.param(30, f"30, {NO_UNIT}", id="a bare integer is refused"),
        pytest.param(2.5, f"2.5, {NO_UNIT}", id="a bare float is refused"),
        pytest.param(-1, "-1: a duration cannot be negative", id="a negative number is refused"),
        pytest.param("1001y", f"'1001y': {TOO_LONG}", id="more than 1000 years is refused"),
        pytest.param("0" * 400, ZERO, id="400 zeros without a unit are refused: write none"),
        pytest.param(0, ZERO, id="the number 0 is refused: write none"),
        pytest.param("0", ZERO, id="the text 0 is refused: write none"),
        pytest.param(0.0, ZERO, id="the float 0 is refused: write none"),
        pytest.param(
            "1" + "0" * 400 + "d",
            f"'1{'0' * 38}… (404 characters): {TOO_LONG}",
            id="a 401-digit count of days is refused",
        ),
        pytest.param(
            "9" * 5000 + "s", f"'{'9' * 39}… (5003 characters): {TOO_LONG}", id="5000 digits"
        ),
        pytest.param(10**400, f"a 402-digit number, {NO_UNIT}", id="a 401-digit integer"),
        pytest.param("nan", "'nan'", id="the word nan is refused"),
    ],
)
def test_duration_parse__refuses(value: object, detail: str) -> None:
    with pytest.raises(ValueError, match=r"^expected ") as caught:
        Duration.parse(value)  # type: ignore[arg-type]
    assert str(caught.value) == f"expected {ACCEPTED} (got {detail})"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("none", 0.0, id="none is not stored"),
        pytest.param("0" * 400 + "d", 0.0, id="400 zeros of days are none"),
        pytest.param("1000y", 1000 * 365 * 86400.0, id="1000 years is the longest finite"),
        pytest.param("inf", math.inf, id="the word inf is unlimited"),
    ],
)
def test_duration_parse__accepts(value: object, seconds: float) -> None:
    assert Duration.parse(value).seconds == seconds  # type: ignore[arg-type]


def test_duration__cannot_be_built_as_nan() -> None:
    with pytest.raises(ValueError, match="a duration is 0 or more seconds"):
        Duration(math.nan)


def test_preferences__max_retention_nan_is_invalid_preferences() -> None:
    with pytest.raises(InvalidPreferences) as caught:
        Preferences(max_retention=math.nan)  # type: ignore[arg-type]
    assert (
        str(caught.value)
        == f"'max_retention' must be {ACCEPTED} (got a non-finite number: {NOT_FINITE})"
    )


SMALL = """\
version: "t"
effective: 2025-11-20
providers:
  groq: {name: Groq}
models:
  m: {name: M}
routes:
  - models: [m]
    providers: [groq]
    policy: {trains_on_api_data: false, retention: RETENTION}
"""


@pytest.mark.parametrize(
    ("retention", "detail"),
    [
        pytest.param(".nan", f"nan: {NOT_FINITE}", id="yaml .nan"),
        pytest.param(".inf", f"inf: {NOT_FINITE}", id="yaml .inf"),
        pytest.param("30", f"30, {NO_UNIT}", id="a bare 30"),
        pytest.param("1e400", "'1e400'", id="1e400 (a string to YAML)"),
        pytest.param("0", ZERO, id="a retention of 0 is refused: write none"),
    ],
)
def test_catalog__refuses_a_bad_retention_naming_its_place(retention: str, detail: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(SMALL.replace("RETENTION", retention), source="c.yaml")
    assert caught.value.problems == (
        f"c.yaml: routes[0].policy.retention: expected {ACCEPTED} (got {detail})",
    )


@pytest.mark.parametrize("retention", [".nan", "30", "1" + "0" * 400 + "d"])
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["catalog", "validate", "{path}"], id="catalog validate"),
        pytest.param(["catalog", "render", "{path}"], id="catalog render"),
        pytest.param(["explain", "GPT 5 chat", "--offline"], id="explain"),
    ],
)
def test_cli__a_bad_retention_is_one_line_never_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retention: str, command: list[str]
) -> None:
    path = tmp_path / "bad.yaml"
    text = CURRENT_CATALOG.read_text(encoding="utf-8")
    assert "retention: 30d" in text
    path.write_text(text.replace("retention: 30d", f"retention: {retention}", 1), encoding="utf-8")
    monkeypatch.setenv("POLICY_ROUTER_CATALOG", str(path))
    args = [part.replace("{path}", str(path)) for part in command]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: the catalog is invalid:\n")
    assert ".retention: expected 'none'" in result.stderr
    assert "Traceback" not in result.output
