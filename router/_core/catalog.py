"""The catalog: providers, models, routes and their data policies, as frozen values.

A route is one (model, provider) pair. Its data policy says what the page promises
for that pair. Anything the catalog leaves unstated reads as the most restrictive
value: unknown retention is kept forever, unknown training trains, an unknown
user-identifier rule omits the identifier. A route with no stated longer retention
for flagged content keeps flagged content as long as anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from router._core.duration import UNLIMITED, Duration
from router._errors import UnknownProvider


class UserIdentifier(StrEnum):
    """What a route may receive of the end user's identity."""

    OMIT = "omit"
    PSEUDONYMOUS = "pseudonymous"
    ALLOWED = "allowed"


class NoteKind(StrEnum):
    """What a note is about; the page's footnotes are notes of these kinds."""

    IDENTIFIER = "identifier"
    AVAILABILITY = "availability"
    LABEL = "label"
    LEGAL = "legal"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Link:
    """A privacy-policy or FAQ reference; ``url`` is None for an agreement with no public page."""

    title: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as a catalog file states it: ``url`` only when there is one."""
        return {"title": self.title} if self.url is None else {"title": self.title, "url": self.url}


@dataclass(frozen=True, slots=True)
class Note:
    """A remark the catalog records (legal hold, availability, labels) with an optional source."""

    kind: NoteKind
    text: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as a catalog file states it: ``url`` only when there is one."""
        out = {"kind": self.kind.value, "text": self.text}
        return out if self.url is None else {**out, "url": self.url}


@dataclass(frozen=True, slots=True)
class Provider:
    slug: str
    name: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class Model:
    """What a user picks. ``params`` are fixed request parameters (a reasoning variant)."""

    slug: str
    name: str
    aliases: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    variant_of: str | None = None
    notes: tuple[Note, ...] = ()

    def __hash__(self) -> int:
        return hash(self.slug)


POLICY_FIELDS: Final = ("trains_on_api_data", "retention", "flagged_retention", "user_identifier")


@dataclass(frozen=True, slots=True)
class DataPolicy:
    """The declared policy of one route. ``None`` means the catalog does not state it."""

    trains_on_api_data: bool | None = None
    retention: Duration | None = None
    flagged_retention: Duration | None = None
    user_identifier: UserIdentifier | None = None
    notes: tuple[Note, ...] = ()

    @property
    def trains(self) -> bool:
        """Whether the route may train on API data; unknown counts as yes."""
        return self.trains_on_api_data is not False

    @property
    def effective_retention(self) -> Duration:
        """How long data is kept; unknown counts as unlimited."""
        return UNLIMITED if self.retention is None else self.retention

    @property
    def effective_flagged_retention(self) -> Duration:
        """How long flagged content is kept: the longer stated duration, else the standard one."""
        standard = self.effective_retention
        if self.flagged_retention is None:
            return standard
        return max(standard, self.flagged_retention)

    @property
    def effective_user_identifier(self) -> UserIdentifier:
        """What the route may receive of the user's identity; unknown counts as omit."""
        return self.user_identifier or UserIdentifier.OMIT

    def effective(self) -> DataPolicy:
        """The policy as it is enforced: every field stated, unknowns at their strictest."""
        return DataPolicy(
            trains_on_api_data=self.trains,
            retention=self.effective_retention,
            flagged_retention=self.effective_flagged_retention,
            user_identifier=self.effective_user_identifier,
            notes=self.notes,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data: each of ``POLICY_FIELDS`` (``None`` when unstated; durations as text
        like ``30d``, the identifier rule as its value) and ``notes``."""
        identifier = self.user_identifier
        return {
            "trains_on_api_data": self.trains_on_api_data,
            "retention": _text(self.retention),
            "flagged_retention": _text(self.flagged_retention),
            "user_identifier": None if identifier is None else identifier.value,
            "notes": [note.to_dict() for note in self.notes],
        }


def _text(duration: Duration | None) -> str | None:
    return None if duration is None else str(duration)


@dataclass(frozen=True, slots=True)
class Route:
    """One backend that can serve a model: a (model, provider) pair and its data policy;
    ``provider_ids`` are the ids the provider knows the model by (lookup names of the model)."""

    model: Model
    provider: Provider
    policy: DataPolicy
    provider_ids: tuple[str, ...] = ()
    # ``model/provider``: made once (read several times per request), not compared
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.model.slug}/{self.provider.slug}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data naming the route, as audit records and error bodies carry it."""
        return {"route": self.key, "provider": self.provider.slug}


def fold(name: str) -> str:
    """The case-insensitive form names are looked up by."""
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class Catalog:
    """One version of the declared catalog. Build it with ``router.load_catalog``."""

    version: str
    effective: date
    content_hash: str
    providers: tuple[Provider, ...]
    models: tuple[Model, ...]
    routes: tuple[Route, ...]
    source: str = ""
    _models_by_name: Mapping[str, Model] = field(init=False, repr=False, compare=False)
    _providers_by_name: Mapping[str, Provider] = field(init=False, repr=False, compare=False)
    _routes_by_model: Mapping[str, tuple[Route, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        models: dict[str, Model] = {fold(i): r.model for r in self.routes for i in r.provider_ids}
        for model in self.models:
            for name in (model.slug, model.name, *model.aliases):
                models[fold(name)] = model
        providers = {fold(n): p for p in self.providers for n in (p.slug, p.name)}
        by_model: dict[str, list[Route]] = {m.slug: [] for m in self.models}
        for route in self.routes:
            by_model[route.model.slug].append(route)
        object.__setattr__(self, "_models_by_name", MappingProxyType(models))
        object.__setattr__(self, "_providers_by_name", MappingProxyType(providers))
        routes = {slug: tuple(rs) for slug, rs in by_model.items()}
        object.__setattr__(self, "_routes_by_model", MappingProxyType(routes))

    @property
    def label(self) -> str:
        """Version label and short content hash, as audit records carry them."""
        return f"{self.version}@{self.content_hash[:12]}"

    def model(self, name: str) -> Model:
        """The model with this display name (any case), alias, slug or provider id."""
        found = self._models_by_name.get(fold(name))
        if found is None:
            from router._core.names import unknown_model

            raise unknown_model(self, name)
        return found

    def provider(self, name: str, *, field: str | None = None) -> Provider:
        """The provider with this display name (any case) or slug; ``field`` names where an
        unknown one was given (``allow_providers``, ...), for the error."""
        found = self._providers_by_name.get(fold(name))
        if found is None:
            from router._core.names import closest

            slugs = [p.slug for p in self.providers]
            names = {n: p.slug for p in self.providers for n in (p.slug, p.name)}
            close = [names[n] for n in closest(name, names, n=2)]
            raise UnknownProvider(name, slugs, field=field, suggestions=list(dict.fromkeys(close)))
        return found

    def routes_of(self, model: Model | str) -> tuple[Route, ...]:
        """The routes that can serve a model, in catalog order."""
        slug = model.slug if isinstance(model, Model) else self.model(model).slug
        return self._routes_by_model.get(slug, ())


def canonical_json(data: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace variance."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
