"""Catalog facts as plain data, to compare two catalogs without their wording or version."""

from __future__ import annotations

from typing import Any

from router._core.catalog import Catalog, Note


def facts(catalog: Catalog) -> dict[str, Any]:
    """A catalog's facts as plain data, to compare: everything but wording and version."""

    def notes(items: tuple[Note, ...]) -> list[list[str]]:
        return sorted([n.kind.value, n.url or ""] for n in items)

    return {
        "providers": {
            p.slug: {"name": p.name, "links": [k.to_dict() for k in p.links]}
            for p in catalog.providers
        },
        "models": {
            m.slug: {
                "name": m.name,
                "aliases": sorted(m.aliases),
                "params": dict(m.params),
                "variant_of": m.variant_of,
                "notes": notes(m.notes),
            }
            for m in catalog.models
        },
        "routes": {
            r.key: r.policy.to_dict() | {"notes": notes(r.policy.notes)} for r in catalog.routes
        },
    }
