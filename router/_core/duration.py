"""Durations of data retention: ``none`` (not stored), ``24h``, ``30d``, ``2y``, ``unlimited``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_UNIT_WORDS: Final = {
    "second": "s",
    "seconds": "s",
    "minute": "m",
    "minutes": "m",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "week": "w",
    "weeks": "w",
    "year": "y",
    "years": "y",
}
_PATTERN: Final = re.compile(r"^\s*([0-9]+)\s*([a-z]+)\s*$")
MAX_YEARS: Final = 1000
_MAX_SECONDS: Final = MAX_YEARS * _UNITS["y"]
_MAX_DIGITS: Final = 20  # more significant digits than this is past MAX_YEARS in any unit
_SHOWN: Final = 40  # characters of a refused value quoted back
_ZERO_WORDS: Final = frozenset({"none", "not stored", "zero"})
ZERO_REFUSED: Final = "a bare 0: write 'none' for not stored, or give a unit, like '30d'"
_UNLIMITED_WORDS: Final = frozenset({"unlimited", "forever", "indefinite", "inf"})
ACCEPTED: Final = "'none', a duration like '24h', '30d', '90d' or '2y', or 'unlimited'"


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A length of time in seconds; ``math.inf`` is unlimited, 0 is "not stored"."""

    seconds: float

    def __post_init__(self) -> None:
        if math.isnan(self.seconds) or self.seconds < 0:
            raise ValueError(f"a duration is 0 or more seconds (got {self.seconds!r})")

    @classmethod
    def parse(cls, text: str | int | float | Duration) -> Duration:
        """Parse ``none``, ``24h``, ``30 days``, ``2y``, ``unlimited``; raise ValueError otherwise."""
        if isinstance(text, Duration):
            return text
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise ValueError(f"expected {ACCEPTED} (got {_shown(text)})")
        if isinstance(text, int | float):
            return _number(text)
        word = text.strip().lower()
        if word.strip("0") == "" and word:
            raise ValueError(f"expected {ACCEPTED} (got {ZERO_REFUSED})")
        if word in _ZERO_WORDS:
            return ZERO
        if word in _UNLIMITED_WORDS:
            return UNLIMITED
        match = _PATTERN.match(word)
        unit = _UNIT_WORDS.get(match.group(2), match.group(2)) if match else ""
        if not match or unit not in _UNITS:
            raise ValueError(f"expected {ACCEPTED} (got {_shown(text)})")
        return _bounded(text, match.group(1), _UNITS[unit])

    @property
    def is_unlimited(self) -> bool:
        return math.isinf(self.seconds)

    def __str__(self) -> str:
        if self.seconds == 0:
            return "none"
        if self.is_unlimited:
            return "unlimited"
        units = ("h", "m") if self.seconds < 2 * _UNITS["d"] else ("y", "d", "h", "m")
        for unit in units:
            if self.seconds % _UNITS[unit] == 0:
                return f"{int(self.seconds // _UNITS[unit])}{unit}"
        return f"{int(self.seconds)}s"

    def describe(self) -> str:
        """Words for people: 'not stored', '30 days', '24 hours', '2 years', 'unlimited'."""
        if self.seconds == 0:
            return "not stored"
        if self.is_unlimited:
            return "unlimited"
        text = str(self)
        number, unit = int(text[:-1]), text[-1]
        word = {"y": "year", "d": "day", "h": "hour", "m": "minute", "s": "second"}[unit]
        return f"{number} {word}{'' if number == 1 else 's'}"


def _number(value: int | float) -> Duration:
    """A bare number needs a unit: 0 too (``none`` says "not stored"); NaN and infinity are refused."""
    if value == 0:
        raise ValueError(f"expected {ACCEPTED} (got {ZERO_REFUSED})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"expected {ACCEPTED} (got {value!r}: a duration must be finite; "
            "write 'unlimited' for no limit)"
        )
    if value < 0:
        raise ValueError(
            f"expected {ACCEPTED} (got {_shown(value)}: a duration cannot be negative)"
        )
    raise ValueError(
        f"expected {ACCEPTED} (got {_shown(value)}, a number with no unit: "
        "write the unit, like '30d' or '24h')"
    )


def _bounded(text: str, digits: str, unit_seconds: int) -> Duration:
    """``digits`` units, refused past ``MAX_YEARS`` (checked before any large arithmetic)."""
    number = int(digits[-_MAX_DIGITS:]) if len(digits.lstrip("0")) <= _MAX_DIGITS else None
    if number is None or number * unit_seconds > _MAX_SECONDS:
        raise ValueError(
            f"expected {ACCEPTED} (got {_shown(text)}: longer than {MAX_YEARS} years; "
            "write 'unlimited' for no limit)"
        )
    return Duration(float(number * unit_seconds))


def _shown(value: object) -> str:
    """``repr(value)``, cut short: a refused value is quoted back, never 400 characters of it."""
    if (
        isinstance(value, int) and abs(value) >= 10**_SHOWN
    ):  # str() of a huge int is slow or refused
        return f"a {len(hex(value)) * 6 // 5}-digit number"
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text)} characters)"


ZERO: Final = Duration(0.0)
UNLIMITED: Final = Duration(math.inf)
