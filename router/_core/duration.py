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
_PATTERN: Final = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_ZERO_WORDS: Final = frozenset({"none", "0", "not stored", "zero"})
_UNLIMITED_WORDS: Final = frozenset({"unlimited", "forever", "indefinite", "inf"})
ACCEPTED: Final = "'none', a duration like '24h', '30d', '90d' or '2y', or 'unlimited'"


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A length of time in seconds; ``math.inf`` is unlimited, 0 is "not stored"."""

    seconds: float

    @classmethod
    def parse(cls, text: str | int | float | Duration) -> Duration:
        """Parse ``none``, ``24h``, ``30 days``, ``2y``, ``unlimited``; raise ValueError otherwise."""
        if isinstance(text, Duration):
            return text
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise ValueError(f"expected {ACCEPTED} (got {text!r})")
        if isinstance(text, int | float):
            if text < 0 or not math.isfinite(text):
                raise ValueError(f"expected {ACCEPTED} (got {text!r})")
            return cls(float(text))
        word = text.strip().lower()
        if word in _ZERO_WORDS:
            return ZERO
        if word in _UNLIMITED_WORDS:
            return UNLIMITED
        match = _PATTERN.match(word)
        unit = _UNIT_WORDS.get(match.group(2), match.group(2)) if match else ""
        if not match or unit not in _UNITS:
            raise ValueError(f"expected {ACCEPTED} (got {text!r})")
        return cls(float(int(match.group(1)) * _UNITS[unit]))

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


ZERO: Final = Duration(0.0)
UNLIMITED: Final = Duration(math.inf)
