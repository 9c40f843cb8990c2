"""Writing a catalog back as data: the entries of ``routes`` and the YAML layout of ``policies/``.

A catalog holds one route per (model, provider) pair. The file declares them in entries, each
a list of models times a list of providers under one policy, with ``overrides`` for a provider
whose policy differs (a footnote on the page). ``entries`` regroups the routes that way: models
whose routes have the same providers and policies share an entry. ``catalog_to_yaml`` writes
the result in the layout of ``policies/*.yaml``; loading it back gives the same facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from router._core.catalog import POLICY_FIELDS, Catalog, DataPolicy, Model, Note, Provider


@dataclass(frozen=True, slots=True)
class Entry:
    """Models that share their routes: the same providers, in order, each under the same policy."""

    models: tuple[Model, ...]
    providers: tuple[Provider, ...]
    policies: tuple[DataPolicy, ...]


def entries(catalog: Catalog) -> tuple[Entry, ...]:
    """Group the catalog's routes into entries, in the order the routes first name each model."""
    groups: dict[tuple[Hashable, ...], list[Model]] = {}
    for model in dict.fromkeys(route.model for route in catalog.routes):
        routes = catalog.routes_of(model)
        key = tuple((r.provider.slug, r.policy) for r in routes)
        groups.setdefault(key, []).append(model)
    out = []
    for models in groups.values():
        routes = catalog.routes_of(models[0])
        providers = tuple(r.provider for r in routes)
        out.append(Entry(tuple(models), providers, tuple(r.policy for r in routes)))
    return tuple(out)


def common_notes(policies: Sequence[DataPolicy]) -> tuple[Note, ...]:
    """The notes every policy starts with (an entry's own notes come before its overrides')."""
    first = policies[0].notes
    length = 0
    while length < len(first) and all(
        len(p.notes) > length and p.notes[length] == first[length] for p in policies
    ):
        length += 1
    return first[:length]


def base_policy(policies: Sequence[DataPolicy]) -> DataPolicy:
    """The policy an entry states: each field's most usual value (on a tie, unstated if tied)."""
    values = {name: _usual([getattr(p, name) for p in policies]) for name in POLICY_FIELDS}
    return DataPolicy(**values, notes=common_notes(policies))


def _usual(values: Sequence[Any]) -> Any:
    counts = Counter(values)
    best = max(counts.values())
    tied = [value for value, count in counts.items() if count == best]
    return None if None in tied else tied[0]


def catalog_to_dict(catalog: Catalog, *, source: str = "") -> dict[str, Any]:
    """The catalog as the plain data of a catalog file (what ``build_catalog`` accepts)."""
    head: dict[str, Any] = {"version": catalog.version, "effective": catalog.effective}
    if source:
        head["source"] = source
    return {
        **head,
        "providers": {p.slug: _provider(p) for p in catalog.providers},
        "models": {m.slug: _model(m) for m in catalog.models},
        "routes": [_entry(e, catalog) for e in entries(catalog)],
    }


def catalog_to_yaml(catalog: Catalog, *, source: str = "", comment: str = "") -> str:
    """The catalog as YAML in the layout of ``policies/*.yaml``; it loads back to the same facts."""
    data = catalog_to_dict(catalog, source=source)
    head = {k: data[k] for k in ("version", "effective", "source") if k in data}
    sections = [_dump(head, flow=False), _dump({"providers": data["providers"]})]
    sections += [_dump({"models": data["models"]}), "routes:"]
    sections += [_dump([entry]) for entry in data["routes"]]
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    return "\n".join([*lines, *sections]).lstrip("\n")


def _dump(data: Any, *, flow: bool | None = None) -> str:
    """Block style for nesting, flow style for lists and mappings of plain values."""
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=flow, width=100
    )


def _provider(provider: Provider) -> dict[str, Any]:
    out: dict[str, Any] = {"name": provider.name}
    if provider.links:
        out["links"] = [link.to_dict() for link in provider.links]
    return out


def _model(model: Model) -> dict[str, Any]:
    out: dict[str, Any] = {"name": model.name}
    if model.aliases:
        out["aliases"] = list(model.aliases)
    if model.variant_of is not None:
        out["variant_of"] = model.variant_of
    if model.params:
        out["params"] = dict(model.params)
    if model.notes:
        out["notes"] = [n.to_dict() for n in model.notes]
    return out


def _entry(entry: Entry, catalog: Catalog) -> dict[str, Any]:
    base = base_policy(entry.policies)
    out: dict[str, Any] = {
        "models": [m.slug for m in entry.models],
        "providers": [p.slug for p in entry.providers],
        "policy": _policy(base),
    }
    overrides = {
        provider.slug: change
        for provider, policy in zip(entry.providers, entry.policies, strict=True)
        if (change := _override(base, policy))
    }
    if overrides:
        out["overrides"] = overrides
    ids = {
        route.key: list(route.provider_ids)
        for model in entry.models
        for route in catalog.routes_of(model)
        if route.provider_ids
    }
    if ids:
        out["provider_ids"] = ids
    return out


def _policy(policy: DataPolicy) -> dict[str, Any]:
    """What a policy states: unstated fields and an empty list of notes are left out."""
    return {k: v for k, v in policy.to_dict().items() if v is not None and v != []}


def _override(base: DataPolicy, policy: DataPolicy) -> dict[str, Any]:
    """What one provider's policy changes: differing fields (``null`` unstates one) and its notes."""
    stated, before = policy.to_dict(), base.to_dict()
    out = {name: stated[name] for name in POLICY_FIELDS if stated[name] != before[name]}
    extra = stated["notes"][len(before["notes"]) :]
    if extra:
        out["notes"] = extra
    return out
