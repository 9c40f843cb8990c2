"""Duration: what a retention period may be written as, how it prints, how it orders."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from router._core.duration import ACCEPTED, UNLIMITED, ZERO, Duration

DAY = 86400.0

PARSED = [
    pytest.param("none", 0.0, id="none is not stored"),
    pytest.param("Not Stored", 0.0, id="the page's words, any case"),
    pytest.param("zero", 0.0, id="zero"),
    pytest.param("unlimited", math.inf, id="unlimited"),
    pytest.param("forever", math.inf, id="forever is unlimited"),
    pytest.param("inf", math.inf, id="inf is unlimited"),
    pytest.param("24h", 24 * 3600.0, id="hours"),
    pytest.param(" 30D ", 30 * DAY, id="days, spaces and case ignored"),
    pytest.param("30 days", 30 * DAY, id="a unit in words"),
    pytest.param("1 week", 7 * DAY, id="a week"),
    pytest.param("2y", 2 * 365 * DAY, id="years of 365 days"),
    pytest.param("90s", 90.0, id="seconds"),
    pytest.param("5 minutes", 300.0, id="minutes in words"),
]


@pytest.mark.parametrize(("text", "seconds"), PARSED)
def test_parse__accepts(text: str | int | float, seconds: float) -> None:
    assert Duration.parse(text) == Duration(seconds)


REFUSED = [
    pytest.param("3 fortnights", id="a unit it does not know"),
    pytest.param("1.5h", id="a fraction"),
    pytest.param("h24", id="the unit first"),
    pytest.param("-1d", id="a negative text"),
    pytest.param("", id="nothing"),
    pytest.param(True, id="a boolean"),
    pytest.param(None, id="None"),
    pytest.param(["24h"], id="a list"),
]


@pytest.mark.parametrize("value", REFUSED)
def test_parse__refuses_with_what_it_accepts_and_what_it_got(value: Any) -> None:
    message = f"expected {ACCEPTED} (got {value!r})"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Duration.parse(value)


def test_parse__of_a_duration_is_that_duration() -> None:
    duration = Duration(60.0)
    assert Duration.parse(duration) is duration


PRINTED = [
    pytest.param(0.0, "none", "not stored", id="zero"),
    pytest.param(math.inf, "unlimited", "unlimited", id="unlimited"),
    pytest.param(3600.0, "1h", "1 hour", id="one hour, singular"),
    pytest.param(DAY, "24h", "24 hours", id="a day in hours (under two days)"),
    pytest.param(49 * 3600.0, "49h", "49 hours", id="hours that are no whole day"),
    pytest.param(2 * DAY, "2d", "2 days", id="two days"),
    pytest.param(14 * DAY, "14d", "14 days", id="weeks print as days"),
    pytest.param(365 * DAY, "1y", "1 year", id="a year"),
    pytest.param(730 * DAY, "2y", "2 years", id="two years"),
    pytest.param(120.0, "2m", "2 minutes", id="minutes"),
    pytest.param(90.0, "90s", "90 seconds", id="seconds that are no whole minute"),
]


@pytest.mark.parametrize(("seconds", "short", "words"), PRINTED)
def test_str_and_describe(seconds: float, short: str, words: str) -> None:
    duration = Duration(seconds)
    assert (str(duration), duration.describe()) == (short, words)
    assert Duration.parse(short) == duration  # what it prints parses back


def test_order__not_stored_before_a_day_before_unlimited() -> None:
    durations = [UNLIMITED, Duration.parse("30d"), ZERO, Duration.parse("24h")]
    assert sorted(durations) == [ZERO, Duration(DAY), Duration(30 * DAY), UNLIMITED]
    assert (UNLIMITED.is_unlimited, Duration(DAY).is_unlimited) == (True, False)


def test_duration__is_frozen() -> None:
    with pytest.raises(AttributeError):
        ZERO.seconds = 1.0  # type: ignore[misc]
