"""The catalog and deployment in force, and what follows from them under the settings.

A request takes the ``Loaded`` in force when it starts and is decided, forwarded and audited
under it to its end, even if a reload puts another in force meanwhile.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from router._audit.records import Decided
from router._config.settings import Settings, check_catalog_names
from router._core.catalog import Catalog, Model, Route
from router._core.catalog_load import load_catalog
from router._core.decision import Decision, decide
from router._core.names import Named, resolve
from router._core.preferences import Preferences, version
from router._errors import UnknownModel
from router._observe.metrics import UNKNOWN_MODEL
from router._pipeline.failover import Failover
from router._pipeline.same_format import Translating, translating
from router._upstream import params, providers
from router._upstream.deployment import NOT_DEPLOYED, Deployment, load_deployment


@dataclass(frozen=True, slots=True)
class ModelAvailability:
    """A model with at least one allowed route, as ``available_models`` returns it."""

    slug: str
    name: str
    routes: tuple[Route, ...]
    model: Model


_DECIDED_LIMIT: Final = 4096  # decisions kept per catalog in force


@dataclass(frozen=True, slots=True)
class Loaded:
    """A catalog and a deployment, and what follows from them under the settings: the routes
    the deployment cannot serve, the operator's policy, the provider priority, the failover.
    A request takes the one in force when it starts and is decided, forwarded and audited
    under it to its end, even if a reload puts another in force meanwhile."""

    catalog: Catalog
    deployment: Deployment
    unavailable: Mapping[str, str]
    org: Preferences
    priority: tuple[str, ...]
    failover: Failover
    org_hash: str = ""  # version(org): a decision records it as operator_policy_hash
    # The routes whose target litellm serves (not the lean path: ``litellm_routes``), and the
    # models that have one: a request for such a model needs litellm imported.
    litellm_routes: frozenset[str] = frozenset()
    litellm_models: frozenset[str] = frozenset()
    # Allowing decisions already made, with their audit form: a decision is a pure function
    # of the model, the preferences and the dropped parameters under this catalog and
    # deployment (a reload makes a new Loaded). Bounded: emptied when full.
    _decided: dict[Hashable, tuple[Decision, Decided]] = field(
        default_factory=dict, compare=False, repr=False
    )

    _versions: dict[Preferences, str] = field(default_factory=dict, compare=False, repr=False)
    # Per model and API (messages, responses): the routes a request is translated for.
    _translating: dict[tuple[str, str], Translating] = field(
        default_factory=dict, compare=False, repr=False
    )

    def translating(self, model: Model, api: str, *, offline: bool) -> Translating:
        """The routes of ``model`` a request of ``api`` is translated to chat for
        (router/_pipeline/same_format.py, ``translating``), looked at once per model and API
        (``offline`` is the settings', fixed for the pipeline)."""
        key = (model.slug, api)
        known = self._translating.get(key)
        if known is None:
            known = self._translating[key] = translating(
                api, self.catalog.routes_of(model), self.deployment, model, offline=offline
            )
        return known

    def version_of(self, preferences: Preferences) -> str:
        """``version(preferences)`` (a stored preferences' version), computed once per value:
        hashing their JSON costs more than the rest of a decision's record."""
        known = self._versions.get(preferences)
        if known is None:
            if len(self._versions) >= _DECIDED_LIMIT:
                self._versions.clear()
            known = self._versions[preferences] = version(preferences)
        return known

    def named(self, name: str) -> Named:
        """The model ``name`` names (a catalog name or a litellm model string) and the
        providers it restricts to; UnknownModel with the closest names otherwise."""
        try:
            return Named(self.catalog.model(name))
        except UnknownModel:
            pass
        return resolve(
            self.catalog, name, strings=self.deployment.strings(), reaches=self.deployment.reaches
        )

    @property
    def servable_litellm_routes(self) -> tuple[str, ...]:
        """The routes litellm serves that the deployment can reach, in the catalog's order."""
        keys = self.litellm_routes
        return tuple(
            r.key for r in self.catalog.routes if r.key in keys and r.key not in self.unavailable
        )

    @property
    def servable_routes(self) -> int:
        """Routes of the catalog that the deployment can reach (credentials and model string)."""
        return len(self.catalog.routes) - len(self.unavailable)

    def decide(
        self,
        model: Model,
        preferences: Preferences,
        dropped: Mapping[str, tuple[str, ...]] | None = None,
    ) -> Decision:
        """``dropped`` names, per route, the request's parameters that route would drop."""
        return decide(
            model,
            self.catalog.routes_of(model),
            preferences,
            unavailable=self.unavailable,
            priority=self.priority,
            dropped=dropped,
        )

    def decided(
        self, model: Model, preferences: Preferences, dropped: Mapping[str, tuple[str, ...]]
    ) -> tuple[Decision, Decided]:
        """``decide``, and the decision's audit form; an allowing decision is made once."""
        key = (model.slug, preferences, tuple(sorted(dropped.items())))
        known = self._decided.get(key)
        if known is not None:
            return known
        decision = self.decide(model, preferences, dropped)
        made = (decision, cast(Decided, decision.to_dict() | {"model": model.slug}))
        if decision.allowed:  # a refusal (rare; fail-closed ones among them) is made anew
            if len(self._decided) >= _DECIDED_LIMIT:
                self._decided.clear()
            self._decided[key] = made
        return made

    def dropped(self, model: Model, arguments: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
        """Per route of ``model``: the caller's parameters litellm would drop there."""
        out = {}
        for route in self.catalog.routes_of(model):
            target = self.deployment.target(route.key)
            lost = () if target is None else params.unsupported(target, arguments)
            if lost:
                out[route.key] = lost
        return out

    def available(self, effective: Preferences) -> list[ModelAvailability]:
        out = []
        for model in self.catalog.models:
            decision = self.decide(model, effective)
            if decision.allowed:
                out.append(ModelAvailability(model.slug, model.name, decision.allowed, model))
        return out

    def unconfigured_only(self, decision: Decision) -> bool:
        """True when every route was rejected for the deployment's reason alone."""
        return bool(decision.rejected) and all(
            r.reasons == (self.unavailable.get(r.route.key),) for r in decision.rejected
        )


def read(settings: Settings) -> tuple[Catalog, Deployment]:
    """The catalog and deployment the settings name, each validated whole."""
    catalog = load_catalog(settings.catalog)
    check_catalog_names(settings, catalog)
    deployment = load_deployment(settings.deployment).with_overrides(settings.route_models)
    return catalog, deployment


def litellm_routes(catalog: Catalog, deployment: Deployment) -> frozenset[str]:
    """The routes of ``catalog`` whose deployment target litellm serves: a format the lean
    path does not speak (Anthropic, Bedrock, Vertex AI, OpenAI's Responses-API models), or
    ``path: litellm`` (router/_upstream/providers.py, ``serves``)."""
    return frozenset(
        route.key
        for route in catalog.routes
        if (target := deployment.target(route.key)) is not None and not providers.serves(target)
    )


def unavailable_routes(
    catalog: Catalog, deployment: Deployment, settings: Settings, environ: Mapping[str, str]
) -> dict[str, str]:
    """Routes the deployment cannot serve, each with what is missing."""
    out: dict[str, str] = {}
    for route in catalog.routes:
        target = deployment.target(route.key)
        if target is None:
            out[route.key] = NOT_DEPLOYED
        elif not settings.offline:
            missing = deployment.missing_credentials(target, environ)
            if missing:
                out[route.key] = missing
    return out


def offline_when_unconfigured(
    settings: Settings, catalog: Catalog, deployment: Deployment
) -> Settings:
    """With ``offline`` not set and no provider credentials at all, the library runs offline
    (answers made locally) and says so, once per process, on the ``router`` logger."""
    if "offline" in settings.model_fields_set or settings.offline:
        return settings
    unavailable = unavailable_routes(catalog, deployment, settings, os.environ)
    if len(unavailable) < len(catalog.routes):
        return settings
    _say_offline()
    return settings.model_copy(update={"offline": True})


@functools.cache
def _say_offline() -> None:
    logging.getLogger("router").warning(
        "policy-router: no provider credentials are set, so it runs offline: no provider is "
        "contacted and answers are made locally. Set a provider's key (OPENAI_API_KEY, "
        "...) to route for real, or POLICY_ROUTER_OFFLINE=false to refuse instead."
    )


def model_label(loaded: Loaded, model: str) -> str:
    """The catalog's slug for a metric label; never the caller's own text."""
    try:
        return loaded.named(model).model.slug
    except (UnknownModel, LookupError, TypeError):
        return UNKNOWN_MODEL
