"""What changed between two catalog versions: models, providers, routes and their policies.

Models are matched by slug first, then by display name compared case-insensitively, so a
model whose name only changes case ("Grok 3 mini" → "Grok 3 Mini") or whose slug changes
under the same name is the same model, reported as renamed, never as removed and added.
Providers are matched by slug. Notes compare by kind and link; their wording may change freely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from router._core.catalog import (
    POLICY_FIELDS,
    Catalog,
    DataPolicy,
    Model,
    Note,
    Provider,
    Route,
    fold,
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model added or removed, with the providers of its routes."""

    slug: str
    name: str
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Renamed:
    """The same model under a new display name or slug."""

    old_slug: str
    new_slug: str
    old_name: str
    new_name: str

    @property
    def case_only(self) -> bool:
        """Only the letter case of the display name changed."""
        return self.old_name != self.new_name and fold(self.old_name) == fold(self.new_name)


@dataclass(frozen=True, slots=True)
class RoutesChanged:
    """Providers that started or stopped serving a model that both versions have."""

    model: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one thing (``claude-4-5-sonnet/anthropic``, a model, a provider) changed."""

    subject: str
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    old_version: str
    new_version: str
    providers_added: tuple[str, ...] = ()
    providers_removed: tuple[str, ...] = ()
    provider_changes: tuple[Change, ...] = ()
    models_added: tuple[ModelRef, ...] = ()
    models_removed: tuple[ModelRef, ...] = ()
    models_renamed: tuple[Renamed, ...] = ()
    model_changes: tuple[Change, ...] = ()
    routes_changed: tuple[RoutesChanged, ...] = ()
    policy_changes: tuple[Change, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing but the version label differs."""
        return not any(getattr(self, name) for name in _LISTS)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON; renames carry ``case_only``."""
        out: dict[str, Any] = {"old_version": self.old_version, "new_version": self.new_version}
        for name in _LISTS:
            out[name] = [_plain(item) for item in getattr(self, name)]
        for item, data in zip(self.models_renamed, out["models_renamed"], strict=True):
            data["case_only"] = item.case_only
        return out


def _plain(item: Any) -> Any:
    return item if isinstance(item, str) else asdict(item)


_LISTS = (
    "providers_added",
    "providers_removed",
    "provider_changes",
    "models_added",
    "models_removed",
    "models_renamed",
    "model_changes",
    "routes_changed",
    "policy_changes",
)


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """Everything that differs between two catalogs, in the new catalog's order."""
    pairs = match_models(old, new)
    matched_old = {o.slug for o, _ in pairs}
    matched_new = {n.slug for _, n in pairs}
    old_providers = {p.slug: p for p in old.providers}
    new_providers = {p.slug: p for p in new.providers}
    return CatalogDiff(
        old_version=old.version,
        new_version=new.version,
        providers_added=tuple(s for s in new_providers if s not in old_providers),
        providers_removed=tuple(s for s in old_providers if s not in new_providers),
        provider_changes=tuple(_provider_changes(old_providers, new_providers)),
        models_added=tuple(_ref(new, m) for m in new.models if m.slug not in matched_new),
        models_removed=tuple(_ref(old, m) for m in old.models if m.slug not in matched_old),
        models_renamed=tuple(
            Renamed(o.slug, n.slug, o.name, n.name)
            for o, n in pairs
            if (o.slug, o.name) != (n.slug, n.name)
        ),
        model_changes=tuple(c for o, n in pairs for c in _model_changes(o, n)),
        routes_changed=tuple(r for o, n in pairs if (r := _routes_changed(old, new, o, n))),
        policy_changes=tuple(c for o, n in pairs for c in _policy_changes(old, new, o, n)),
    )


def match_models(old: Catalog, new: Catalog) -> tuple[tuple[Model, Model], ...]:
    """Pairs of the same model: same slug, else same display name in any case; new order."""
    by_slug = {m.slug: m for m in old.models}
    pairs = {n.slug: (by_slug[n.slug], n) for n in new.models if n.slug in by_slug}
    taken = {o.slug for o, _ in pairs.values()}
    by_name = {fold(m.name): m for m in old.models if m.slug not in taken}
    for model in new.models:
        found = None if model.slug in pairs else by_name.pop(fold(model.name), None)
        if found is not None:
            pairs[model.slug] = (found, model)
    return tuple(pairs[m.slug] for m in new.models if m.slug in pairs)


def _ref(catalog: Catalog, model: Model) -> ModelRef:
    providers = tuple(r.provider.slug for r in catalog.routes_of(model))
    return ModelRef(model.slug, model.name, providers)


def _provider_changes(old: Mapping[str, Provider], new: Mapping[str, Provider]) -> Iterable[Change]:
    for slug, provider in new.items():
        before = old.get(slug)
        if before is not None and before.name != provider.name:
            yield Change(slug, "name", before.name, provider.name)
        if before is not None and before.links != provider.links:
            yield Change(slug, "links", _links(before), _links(provider))


def _links(provider: Provider) -> list[str]:
    return [
        link.title if link.url is None else f"{link.title} <{link.url}>" for link in provider.links
    ]


def _model_changes(old: Model, new: Model) -> Iterable[Change]:
    facts = (
        ("aliases", sorted(old.aliases), sorted(new.aliases)),
        ("params", dict(old.params), dict(new.params)),
        ("variant_of", old.variant_of, new.variant_of),
        ("notes", _notes(old.notes), _notes(new.notes)),
    )
    return (Change(new.slug, name, a, b) for name, a, b in facts if a != b)


def _routes_changed(old: Catalog, new: Catalog, o: Model, n: Model) -> RoutesChanged | None:
    before = [r.provider.slug for r in old.routes_of(o)]
    after = [r.provider.slug for r in new.routes_of(n)]
    added = tuple(p for p in after if p not in before)
    removed = tuple(p for p in before if p not in after)
    return RoutesChanged(n.slug, added, removed) if added or removed else None


def _policy_changes(old: Catalog, new: Catalog, o: Model, n: Model) -> Iterable[Change]:
    before: dict[str, Route] = {r.provider.slug: r for r in old.routes_of(o)}
    for route in new.routes_of(n):
        if route.provider.slug in before:
            yield from _policy_fields(route.key, before[route.provider.slug].policy, route.policy)


def _policy_fields(key: str, old: DataPolicy, new: DataPolicy) -> Iterable[Change]:
    before, after = old.to_dict(), new.to_dict()
    for name in POLICY_FIELDS:
        if before[name] != after[name]:
            yield Change(key, name, before[name], after[name])
    if _notes(old.notes) != _notes(new.notes):
        yield Change(key, "notes", _notes(old.notes), _notes(new.notes))


def _notes(notes: Iterable[Note]) -> list[str]:
    return sorted(n.kind.value if n.url is None else f"{n.kind.value} <{n.url}>" for n in notes)
