"""What an end user allows, and how the layers of policy combine.

The operator's organisation policy, the user's stored preferences and a single request's
``privacy=`` are each a ``Preferences``. They combine by taking the strictest value of each
field, so a user or a request can tighten the operator's policy and never loosen it. A field
left as ``None`` states no constraint of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from router._core.catalog import fold
from router._core.duration import ACCEPTED, Duration
from router._errors import InvalidPreferences

FIELDS: Final = (
    "max_retention",
    "allow_flagged_retention",
    "allow_training",
    "allow_providers",
    "deny_providers",
)


@dataclass(frozen=True, slots=True)
class Preferences:
    """Privacy preferences of one layer (operator, user or request).

    ``max_retention``: longest retention accepted: ``"none"`` (store nothing), ``"24h"``,
    ``"30d"``, any duration, or ``"unlimited"``. ``allow_flagged_retention``: whether content
    a provider flags may be kept longer than that. ``allow_training``: whether a provider may
    train on the data. ``allow_providers``: if set, only these providers (names or slugs).
    ``deny_providers``: never these providers.
    """

    max_retention: Duration | None = None
    allow_flagged_retention: bool | None = None
    allow_training: bool | None = None
    allow_providers: frozenset[str] | None = None
    deny_providers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_retention is not None and not isinstance(self.max_retention, Duration):
            object.__setattr__(self, "max_retention", _retention(self.max_retention))
        for name in ("allow_flagged_retention", "allow_training"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                object.__setattr__(self, name, _boolean(name, value))
        if self.allow_providers is not None:
            object.__setattr__(
                self, "allow_providers", _providers("allow_providers", self.allow_providers)
            )
        object.__setattr__(
            self, "deny_providers", _providers("deny_providers", self.deny_providers)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Preferences | None) -> Preferences:
        """Build from plain data (JSON, a request's ``privacy`` dict); unknown fields are an error."""
        if data is None:
            return cls()
        if isinstance(data, Preferences):
            return data
        if not isinstance(data, Mapping):
            raise InvalidPreferences(
                f"preferences must be an object with fields {', '.join(FIELDS)} "
                f"(got {type(data).__name__})"
            )
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise InvalidPreferences(
                f"unknown preference field {unknown[0]!r}; expected one of: {', '.join(FIELDS)}"
            )
        return cls(**{k: v for k, v in data.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; fields with no constraint are left out."""
        out: dict[str, Any] = {}
        if self.max_retention is not None:
            out["max_retention"] = str(self.max_retention)
        for name in ("allow_flagged_retention", "allow_training"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.allow_providers is not None:
            out["allow_providers"] = sorted(self.allow_providers)
        if self.deny_providers:
            out["deny_providers"] = sorted(self.deny_providers)
        return out

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, frozenset()) for f in fields(self))


def combine(*layers: Preferences | None) -> Preferences:
    """The strictest of each field across layers: a layer can tighten, never loosen."""
    present = [p for p in layers if p is not None]
    if len(present) == 1:  # the usual request: the operator's policy alone, nothing to merge
        return present[0]
    limits = [p.max_retention for p in present if p.max_retention is not None]
    allowed = [p.allow_providers for p in present if p.allow_providers is not None]
    return Preferences(
        max_retention=min(limits) if limits else None,
        allow_flagged_retention=_strictest(p.allow_flagged_retention for p in present),
        allow_training=_strictest(p.allow_training for p in present),
        allow_providers=frozenset.intersection(*allowed) if allowed else None,
        deny_providers=frozenset().union(*(p.deny_providers for p in present)),
    )


def _strictest(values: Iterable[bool | None]) -> bool | None:
    stated = [v for v in values if v is not None]
    return all(stated) if stated else None


def _retention(value: Any) -> Duration:
    try:
        return Duration.parse(value)
    except (ValueError, OverflowError):  # OverflowError: a number of digits no float holds
        raise InvalidPreferences(f"'max_retention' must be {ACCEPTED} (got {value!r})") from None


_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})


def _boolean(name: str, value: Any) -> bool:
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidPreferences(f"{name!r} must be true or false (got {value!r})")


def _providers(name: str, value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, Iterable) or any(
        not isinstance(v, str) or not v.strip() for v in value
    ):
        raise InvalidPreferences(
            f"{name!r} must be a list of provider names or slugs like ['openai', 'Groq'] "
            f"(got {value!r})"
        )
    return frozenset(fold(v) for v in value)
