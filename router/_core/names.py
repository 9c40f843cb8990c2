"""Names a caller gives a model: the catalog's own, and litellm's model strings.

A model is asked for by display name (any case), alias, slug or a provider's model id
(:meth:`Catalog.model`), or by a litellm model string:

- a deployment's own model string (``azure/<deployment>``, ``openai/gpt-4.1``) names its
  route: that route's model, restricted to that route's provider;
- ``provider/model``, where ``provider`` is a litellm prefix that reaches a catalog provider
  and ``model`` is any catalog name of a model (a provider id included), is that model
  restricted to the providers the prefix reaches.

The restriction is a tightening, as ``allow_providers``: the policy still decides. Anything
else is :class:`UnknownModel` with the closest catalog names; the message never repeats the
caller's text. Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from router._core.values import one_write
from router._errors import UnknownModel

if TYPE_CHECKING:
    from router._core.catalog import Catalog, Model

__all__ = ["Named", "closest", "model_names", "resolve"]

SUGGESTED: Final = 3


def closest(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``known`` closest to ``name`` (difflib, case-insensitive), best first;
    the known spellings are returned, never ``name``."""
    by_fold: dict[str, str] = {}
    for candidate in known:
        by_fold.setdefault(candidate.casefold(), candidate)
    found = difflib.get_close_matches(name.casefold(), list(by_fold), n=n, cutoff=cutoff)
    return [by_fold[f] for f in found]


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class Named:
    """The model a name resolves to, and the provider slugs it restricts to (None: any)."""

    model: Model
    providers: frozenset[str] | None = None


def model_names(catalog: Catalog) -> list[str]:
    """Every name a model is known by: display names, slugs, aliases, provider ids."""
    names = [n for m in catalog.models for n in (m.name, m.slug, *m.aliases)]
    names += [i for r in catalog.routes for i in r.provider_ids]
    return names


def resolve(
    catalog: Catalog,
    name: str,
    *,
    strings: Mapping[str, tuple[str, ...]] | None = None,
    reaches: Mapping[str, frozenset[str]] | None = None,
) -> Named:
    """The model ``name`` names, and the providers it restricts to.

    ``strings`` maps each deployment model string to the route keys it serves;
    ``reaches`` maps each provider slug to the litellm prefixes that reach it.
    """
    try:
        return Named(catalog.model(name))
    except UnknownModel:
        pass
    named = _by_string(catalog, name, strings or {})
    if named is None:
        named = _by_prefix(catalog, name, reaches or {})
    if named is None:
        raise unknown_model(catalog, name)
    return named


def unknown_model(catalog: Catalog, name: str) -> UnknownModel:
    """UnknownModel for ``name`` with the closest catalog names (also of its part after a
    litellm prefix), best first."""
    known = model_names(catalog)
    tail = name.split("/", 1)[1] if "/" in name else ""
    suggested = closest(name, known, n=SUGGESTED)
    for extra in closest(tail, known, n=SUGGESTED) if tail else []:
        if extra not in suggested:
            suggested.append(extra)
    by_slug = {n: catalog.model(n).name for n in suggested}  # each suggestion's display name
    names = list(dict.fromkeys(by_slug.values()))[:SUGGESTED]
    return UnknownModel(name, names)


def _by_string(catalog: Catalog, name: str, strings: Mapping[str, tuple[str, ...]]) -> Named | None:
    keys = strings.get(name, ())
    routes = [r for r in catalog.routes if r.key in keys]
    if not routes:
        return None
    bases = [r for r in routes if r.model.variant_of is None] or routes
    models = {r.model.slug for r in bases}
    if len(models) != 1:
        return None
    return Named(bases[0].model, frozenset(r.provider.slug for r in bases))


def _by_prefix(catalog: Catalog, name: str, reaches: Mapping[str, frozenset[str]]) -> Named | None:
    prefix, _, rest = name.partition("/")
    providers = frozenset(p for p, prefixes in reaches.items() if prefix in prefixes)
    if not rest or not providers:
        return None
    try:
        model = catalog.model(rest)
    except UnknownModel:
        return None
    serving = [r.provider for r in catalog.routes_of(model)]
    if not any(p.slug in providers for p in serving):
        reached = sorted(catalog.provider(p).name for p in providers if _known(catalog, p))
        raise UnknownModel(
            name,
            [model.name],
            reason=(
                f"it names {model.name!r} at {' or '.join(reached) or 'a provider'}, "
                f"where it has no route; its providers are "
                f"{', '.join(p.name for p in serving)}: name the model alone, or with one of "
                "their litellm prefixes"
            ),
        )
    return Named(model, providers)


def _known(catalog: Catalog, slug: str) -> bool:
    return any(p.slug == slug for p in catalog.providers)
