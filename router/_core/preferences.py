"""What an end user allows, and how the layers of policy combine.

The operator's organisation policy, the user's stored preferences and a single request's
``privacy=`` are each a ``Preferences``. They combine by taking the strictest value of each
field, so a user or a request can tighten the operator's policy and never loosen it. A field
left as ``None`` states no constraint of its own.

Each field is declared once, below, with what it means, how it parses, its plain form and how
layers combine it; ``FIELDS`` lists them. The organisation policy in settings, the HTTP body's
``privacy`` object and the CLI's preference flags are derived from ``FIELDS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from router._core.catalog import canonical_json, fold
from router._core.duration import Duration, _shown
from router._core.redact import kind, named
from router._errors import InvalidPreferences


def _retention(name: str, value: Any) -> Duration:
    try:
        return Duration.parse(value)
    except (ValueError, OverflowError) as exc:  # OverflowError: digits no float holds
        detail = str(exc).removeprefix("expected ")
        detail = detail.replace(f"(got {_shown(value)}", f"(got {kind(value)}", 1)
        raise InvalidPreferences(f"{name!r} must be {detail}") from None


_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidPreferences(f"{name!r} must be true or false (got {kind(value)})")


def _providers(name: str, value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, Iterable) or any(
        not isinstance(v, str) or not v.strip() for v in value
    ):
        raise InvalidPreferences(
            f"{name!r} must be a list of provider names or slugs like ['openai', 'Groq'] "
            f"(got {_listed(value)})"
        )
    return frozenset(fold(v) for v in value)


def _listed(value: Any) -> str:
    """The kind of a refused provider list: a list with a non-string or empty item says so."""
    if isinstance(value, list | tuple):
        return f"{kind(value)}, not all of them non-empty strings"
    return kind(value)


@dataclass(frozen=True, slots=True)
class Kind:
    """What a kind of field holds: how a value parses (raising ``InvalidPreferences`` with the
    field's name), its plain form, and the Python type of that plain form."""

    parse: Callable[[str, Any], Any]
    plain: Callable[[Any], Any]
    plain_type: Any


DURATION: Final = Kind(_retention, str, str)
BOOLEAN: Final = Kind(_boolean, bool, bool)
PROVIDERS: Final = Kind(_providers, sorted, list[str])


@dataclass(frozen=True, slots=True)
class PreferenceField:
    """One field of ``Preferences``: its name, its default (no constraint), its kind, what it
    means (``help``: the words of every interface), how layers combine it (``strictest`` of
    the values they state) and examples."""

    name: str
    default: Any
    kind: Kind
    help: str
    strictest: Callable[[list[Any]], Any]
    examples: tuple[Any, ...] = ()


def _spec(
    kind: Kind,
    help: str,
    strictest: Callable[[list[Any]], Any],
    *,
    examples: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """A field's ``metadata``: the rest of its ``PreferenceField``."""
    return {"kind": kind, "help": help, "strictest": strictest, "examples": examples}


def _shortest(stated: list[Duration]) -> Duration | None:
    return min(stated) if stated else None


def _all(stated: list[bool]) -> bool | None:
    return all(stated) if stated else None


def _any(stated: list[bool]) -> bool | None:
    return any(stated) if stated else None


def _common(stated: list[frozenset[str]]) -> frozenset[str] | None:
    return frozenset.intersection(*stated) if stated else None


def _every(stated: list[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*stated)


@dataclass(frozen=True, slots=True)
class Preferences:
    """Privacy preferences of one layer (operator, user or request); each field's ``help``
    says what it means. Values parse from plain data (``"24h"``, ``"false"``, lists of names)."""

    max_retention: Duration | None = field(
        default=None,
        metadata=_spec(
            DURATION,
            "Longest retention allowed: none, 24h, 30d, 2y, unlimited.",
            _shortest,
            examples=("none", "24h", "30d", "unlimited"),
        ),
    )
    allow_flagged_retention: bool | None = field(
        default=None,
        metadata=_spec(
            BOOLEAN, "Whether flagged content may be kept longer than max_retention.", _all
        ),
    )
    allow_training: bool | None = field(
        default=None, metadata=_spec(BOOLEAN, "Whether providers may train on the data.", _all)
    )
    allow_providers: frozenset[str] | None = field(
        default=None,
        metadata=_spec(
            PROVIDERS,
            "Only these providers (display names or slugs).",
            _common,
            examples=(["openai", "Groq"],),
        ),
    )
    deny_providers: frozenset[str] = field(
        default=frozenset(),
        metadata=_spec(PROVIDERS, "Never these providers (display names or slugs).", _every),
    )
    require_parameters: bool | None = field(
        default=None,
        metadata=_spec(
            BOOLEAN,
            "Only routes that honour every parameter of the request (none dropped).",
            _any,
        ),
    )

    def __post_init__(self) -> None:
        for spec in FIELDS:
            value = getattr(self, spec.name)
            if value is not None:
                object.__setattr__(self, spec.name, spec.kind.parse(spec.name, value))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Preferences | None) -> Preferences:
        """Build from plain data (JSON, a request's ``privacy`` dict); unknown fields are an error."""
        if data is None:
            return cls()
        if isinstance(data, Preferences):
            return data
        if not isinstance(data, Mapping):
            raise InvalidPreferences(
                f"preferences must be an object with fields {', '.join(NAMES)} "
                f"(got {type(data).__name__})"
            )
        unknown = sorted(set(data) - set(NAMES))
        if unknown:
            raise InvalidPreferences(
                f"unknown preference field {named(unknown[0])}; expected one of: {', '.join(NAMES)}"
            )
        return cls(**{k: v for k, v in data.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; fields with no constraint are left out."""
        return {
            s.name: s.kind.plain(v)
            for s in FIELDS
            if (v := getattr(self, s.name)) is not None and (s.default is None or v != s.default)
        }

    @property
    def is_empty(self) -> bool:
        """No field states a constraint."""
        return all(getattr(self, spec.name) == spec.default for spec in FIELDS)


FIELDS: Final = tuple(PreferenceField(f.name, f.default, **f.metadata) for f in fields(Preferences))
NAMES: Final = tuple(spec.name for spec in FIELDS)


def combine(*layers: Preferences | None) -> Preferences:
    """The strictest of each field across layers: a layer can tighten, never loosen."""
    present = [p for p in layers if p is not None]
    if len(present) == 1:  # the usual request: the operator's policy alone, nothing to merge
        return present[0]
    stated = {s.name: [v for p in present if (v := getattr(p, s.name)) is not None] for s in FIELDS}
    return Preferences(**{s.name: s.strictest(stated[s.name]) for s in FIELDS})


def version(preferences: Preferences) -> str:
    """A stable name for a set of preferences: the first 16 hex digits of the SHA-256 of their
    plain form as JSON with sorted keys. The stored preferences' version and the operator
    policy's hash in a ``route.decision`` are this, so a verifier can find what they name."""
    return hashlib.sha256(canonical_json(preferences.to_dict()).encode()).hexdigest()[:16]


def merge(stored: Preferences | None, patch: Mapping[str, Any]) -> Preferences:
    """``stored`` with the fields ``patch`` names changed, as JSON Merge Patch (RFC 7396) does:
    a value replaces the stored one, ``None`` removes it (no constraint); fields the patch does
    not name are kept. Unknown fields are an error."""
    unknown = sorted(set(patch) - set(NAMES))
    if unknown:
        raise InvalidPreferences(
            f"unknown preference field {named(unknown[0])}; expected one of: {', '.join(NAMES)}"
        )
    kept = (stored or Preferences()).to_dict()
    for name, value in patch.items():
        if value is None:
            kept.pop(name, None)
        else:
            kept[name] = value
    return Preferences.from_dict(kept)


@dataclass(frozen=True, slots=True)
class WithoutEffect:
    """A stored field that changes nothing: the operator's policy is as strict or stricter."""

    field: str
    stored: Any
    operator: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "stored": self.stored,
            "operator": self.operator,
            "reason": f"the operator's policy already states {self.field}={self.operator!r}, "
            f"which is as strict as the stored {self.stored!r} or stricter",
        }


def without_effect(operator: Preferences, stored: Preferences | None) -> list[WithoutEffect]:
    """The fields of ``stored`` that leave the effective preferences as the operator's policy
    alone makes them (the strictest value wins, so these are the operator's)."""
    if stored is None:
        return []
    effective = combine(operator, stored)
    plain, org = stored.to_dict(), operator.to_dict()
    out = []
    for name in plain:
        spec = next(s for s in FIELDS if s.name == name)
        alone = combine(operator, replace(stored, **{name: spec.default}))
        if getattr(alone, name) == getattr(effective, name):
            out.append(WithoutEffect(name, plain[name], org.get(name)))
    return out
