"""Reading the declared catalog from YAML, validating all of it, or refusing all of it.

The file format (documented in ``policies/README.md``)::

    version: "2025-11"
    effective: 2025-11-20
    providers:   {slug: {name, links: [{title, url}]}}
    models:      {slug: {name, aliases, params, variant_of, notes}}
    routes:      [{models: [slug], providers: [slug], policy: {...}, overrides: {provider: {...}},
                   provider_ids: {"model/provider": [id]}}]

Each entry of ``routes`` declares every (model, provider) pair of its lists under one
policy, the way one row of the published page does; ``overrides`` adjusts the policy
of one provider's routes within the entry (a footnote on a provider). ``provider_ids`` names,
per route of the entry, the ids its provider knows the model by (OpenAI's ``gpt-4.1``, a
Bedrock model id): a request for one of them gets that catalog model. An id may belong to one
catalog model only, and may not be another model's name, alias or slug.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

from router._core.catalog import (
    Catalog,
    DataPolicy,
    Link,
    Model,
    Note,
    NoteKind,
    Provider,
    Route,
    UserIdentifier,
    canonical_json,
    fold,
)
from router._core.duration import Duration
from router._errors import CatalogError

SLUG = r"^[a-z0-9][a-z0-9-]*$"


def _duration(value: Any) -> Duration:
    return Duration.parse(value)


DurationField = Annotated[Duration, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class LinkDoc(_Strict):
    title: str = Field(min_length=1)
    url: str | None = None


class NoteDoc(_Strict):
    kind: NoteKind = NoteKind.OTHER
    text: str = Field(min_length=1)
    url: str | None = None


class ProviderDoc(_Strict):
    name: str = Field(min_length=1)
    links: tuple[LinkDoc, ...] = ()


class ModelDoc(_Strict):
    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    params: dict[str, Any] = Field(default_factory=dict)
    variant_of: str | None = None
    notes: tuple[NoteDoc, ...] = ()


class PolicyDoc(_Strict):
    trains_on_api_data: StrictBool | None = None
    retention: DurationField | None = None
    flagged_retention: DurationField | None = None
    user_identifier: UserIdentifier | None = None
    notes: tuple[NoteDoc, ...] = ()


class RouteDoc(_Strict):
    models: tuple[str, ...] = Field(min_length=1)
    providers: tuple[str, ...] = Field(min_length=1)
    policy: PolicyDoc
    overrides: dict[str, PolicyDoc] = Field(default_factory=dict)
    provider_ids: dict[str, tuple[Annotated[str, Field(min_length=1)], ...]] = Field(
        default_factory=dict
    )


class CatalogDoc(_Strict):
    version: str = Field(min_length=1)
    effective: date
    source: str = ""
    providers: dict[Annotated[str, Field(pattern=SLUG)], ProviderDoc]
    models: dict[Annotated[str, Field(pattern=SLUG)], ModelDoc]
    routes: tuple[RouteDoc, ...] = Field(min_length=1)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate one catalog version from a YAML file; raise CatalogError on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([f"{path}: cannot be read ({exc.strerror or exc})"]) from exc
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str = "<catalog>") -> Catalog:
    """Validate catalog YAML text. Every problem is reported, each with its file and place."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise CatalogError([f"{source}:{where} is not valid YAML ({problem})"]) from exc
    if not isinstance(raw, dict):
        got = type(raw).__name__
        raise CatalogError(
            [f"{source}: expected a mapping with version, providers, models and routes (got {got})"]
        )
    return build_catalog(raw, source=source)


_SAFE_LOADER: Any = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)  # libyaml: same subset, ~8x faster


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[misc]
    """The safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            continue
        if key in first:
            problem = f"key {key!r} is given twice (first on line {first[key]}); keep one"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        first[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)
_BOOL_TAG = "tag:yaml.org,2002:bool"
# A boolean is written true or false: YAML 1.1 would also read yes/no/on/off (and y/n) as one.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _BOOL_TAG]
    for first, resolvers in _SAFE_LOADER.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def build_catalog(raw: Mapping[str, Any], *, source: str = "<catalog>") -> Catalog:
    """Validate a catalog given as plain data (the parsed YAML)."""
    try:
        doc = CatalogDoc.model_validate(raw)
    except ValidationError as exc:
        errors = _without_echoes(exc.errors())
        raise CatalogError([f"{source}: {_describe(err)}" for err in errors]) from exc
    problems = [f"{source}: {p}" for p in _cross_check(doc)]
    if problems:
        raise CatalogError(problems)
    return _assemble(doc, source=source)


def catalog_hash(doc: CatalogDoc) -> str:
    """SHA-256 of the catalog's canonical content: formatting and key order do not change it."""
    return hashlib.sha256(canonical_json(doc.model_dump(mode="json")).encode()).hexdigest()


def _without_echoes(errors: list[Any]) -> list[Any]:
    """Drop "routes: should have at least 1 item" when the items are wrong, not missing."""
    locs = [tuple(e["loc"]) for e in errors]
    return [
        e
        for e in errors
        if e["type"] != "too_short"
        or not any(len(loc) > len(e["loc"]) and loc[: len(e["loc"])] == e["loc"] for loc in locs)
    ]


def _describe(err: Mapping[str, Any]) -> str:
    place = _place(err["loc"])
    kind = err["type"]
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "[key]":
        place = _place(err["loc"][:-1])
        return f"{place}: {err['input']!r} is not a slug; use lowercase letters, digits and dashes (like 'gpt-4-1')"
    if kind == "extra_forbidden":
        return f"{place}: unknown field {err['loc'][-1]!r}; remove it or check its spelling"
    if kind == "missing":
        return f"{place}: required field is missing"
    if kind == "bool_type":
        return f"{place}: write true or false (got {err.get('input')!r})"
    if kind == "too_short":
        return f"{place}: list at least one item (got {err.get('input')!r})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "value_error" or "got" in msg:
        return f"{place}: {msg}"
    return f"{place}: {msg} (got {err.get('input')!r})"


def _place(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _cross_check(doc: CatalogDoc) -> Iterator[str]:
    yield from _check_names(doc)
    yield from _check_variants(doc)
    yield from _check_references(doc)
    yield from _check_provider_ids(doc)
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(doc.routes):
        for model in entry.models:
            for provider in entry.providers:
                if (model, provider) in seen:
                    yield (
                        f"routes[{i}]: route {model}/{provider} is already declared in "
                        f"routes[{seen[model, provider]}]; declare each route once"
                    )
                seen.setdefault((model, provider), i)
    served = {model for entry in doc.routes for model in entry.models}
    for slug in doc.models:
        if slug not in served:
            yield f"models.{slug}: no route serves this model; add it to an entry of 'routes' or remove it"


def _check_references(doc: CatalogDoc) -> Iterator[str]:
    known = ", ".join(doc.providers)
    for i, entry in enumerate(doc.routes):
        for j, model in enumerate(entry.models):
            if model not in doc.models:
                yield f"routes[{i}].models[{j}]: unknown model {model!r}; declare it under 'models'"
        for j, provider in enumerate(entry.providers):
            if provider not in doc.providers:
                yield f"routes[{i}].providers[{j}]: unknown provider {provider!r}; expected one of: {known}"
        for provider in entry.overrides:
            if provider not in entry.providers:
                yield (
                    f"routes[{i}].overrides.{provider}: provider {provider!r} is not among "
                    f"this entry's providers ({', '.join(entry.providers)})"
                )


def _check_provider_ids(doc: CatalogDoc) -> Iterator[str]:
    names = {fold(n): slug for slug, m in doc.models.items() for n in (slug, m.name, *m.aliases)}
    owner: dict[str, tuple[str, str]] = {}
    for i, entry in enumerate(doc.routes):
        for key, ids in entry.provider_ids.items():
            place = f"routes[{i}].provider_ids.{key}"
            model, _, provider = key.partition("/")
            if model not in entry.models or provider not in entry.providers:
                routes = [f"{m}/{p}" for m in entry.models for p in entry.providers]
                yield f"{place}: not a route of this entry; name one as 'model/provider' ({', '.join(routes[:4])}{', …' if len(routes) > 4 else ''})"
                continue
            for j, given in enumerate(ids):
                name = fold(given)
                if names.get(name, model) != model:
                    yield f"{place}[{j}]: {given!r} is already a name, alias or slug of model {names[name]!r}; an id may lead to one model only"
                elif name in owner and owner[name][0] != model:
                    yield f"{place}[{j}]: {given!r} also belongs to model {owner[name][0]!r} (route {owner[name][1]}); an id may lead to one model only"
                owner.setdefault(name, (model, key))


def _check_names(doc: CatalogDoc) -> Iterator[str]:
    owner: dict[str, str] = {}
    for slug, model in doc.models.items():
        for i, name in enumerate((slug, model.name, *model.aliases)):
            place = f"models.{slug}" + (
                "" if i == 0 else ".name" if i == 1 else f".aliases[{i - 2}]"
            )
            key = fold(name)
            if key in owner and owner[key] != slug:
                yield f"{place}: {name!r} is already a name, alias or slug of model {owner[key]!r} (names are compared case-insensitively)"
            elif key in owner and i > 1:
                yield f"{place}: {name!r} repeats a name of the same model"
            owner.setdefault(key, slug)
    seen: dict[str, str] = {}
    for slug, provider in doc.providers.items():
        for name in {fold(slug), fold(provider.name)}:
            if name in seen:
                yield f"providers.{slug}: {name!r} is already a name or slug of provider {seen[name]!r} (names are compared case-insensitively)"
            seen.setdefault(name, slug)


def _check_variants(doc: CatalogDoc) -> Iterator[str]:
    for slug, model in doc.models.items():
        if model.variant_of is not None and model.variant_of not in doc.models:
            yield f"models.{slug}.variant_of: unknown model {model.variant_of!r}; name the slug of a model under 'models'"


def _assemble(doc: CatalogDoc, *, source: str) -> Catalog:
    providers = {slug: _provider(slug, p) for slug, p in doc.providers.items()}
    models = {slug: _model(slug, m) for slug, m in doc.models.items()}
    routes: list[Route] = []
    for entry in doc.routes:
        for model in entry.models:
            for provider in entry.providers:
                policy = _policy(entry.policy, entry.overrides.get(provider))
                ids = entry.provider_ids.get(f"{model}/{provider}", ())
                routes.append(Route(models[model], providers[provider], policy, ids))
    return Catalog(
        version=doc.version,
        effective=doc.effective,
        content_hash=catalog_hash(doc),
        providers=tuple(providers.values()),
        models=tuple(models.values()),
        routes=tuple(routes),
        source=source,
    )


def _provider(slug: str, doc: ProviderDoc) -> Provider:
    return Provider(slug, doc.name, tuple(Link(k.title, k.url) for k in doc.links))


def _model(slug: str, doc: ModelDoc) -> Model:
    return Model(
        slug=slug,
        name=doc.name,
        aliases=doc.aliases,
        params=MappingProxyType(dict(doc.params)),
        variant_of=doc.variant_of,
        notes=_notes(doc.notes),
    )


def _notes(docs: Iterable[NoteDoc]) -> tuple[Note, ...]:
    return tuple(Note(n.kind, n.text, n.url) for n in docs)


def _policy(base: PolicyDoc, override: PolicyDoc | None) -> DataPolicy:
    merged = base if override is None else _overlay(base, override)
    notes = _notes(base.notes) + (() if override is None else _notes(override.notes))
    return DataPolicy(
        trains_on_api_data=merged.trains_on_api_data,
        retention=merged.retention,
        flagged_retention=merged.flagged_retention,
        user_identifier=merged.user_identifier,
        notes=notes,
    )


def _overlay(base: PolicyDoc, override: PolicyDoc) -> PolicyDoc:
    stated = {k: getattr(override, k) for k in override.model_fields_set if k != "notes"}
    return base.model_copy(update=stated)
