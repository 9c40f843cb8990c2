"""PolicyRouter: the drop-in for ``litellm.acompletion`` that routes only where policy allows.

The shell around the pure core: it loads the catalog and deployment, reads the user's stored
preferences, decides, scrubs identifiers per route, forwards through the litellm adapter,
fails over between allowed routes, and writes every step to the audit log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from router._audit import AuditLog
from router._core.catalog import Catalog, Model, Route
from router._core.catalog_load import load_catalog
from router._core.decision import Decision, decide
from router._core.preferences import Preferences, combine
from router._core.pseudonym import Pseudonymizer
from router._errors import (
    InvalidRequest,
    PolicyViolation,
    StoreUnavailable,
    UnknownModel,
)
from router._failover import Call, Failover
from router._keyfile import load_or_create_key
from router._settings import Settings
from router._store.base import PreferenceStore
from router._store.lazy import LazyStore
from router._upstream import adapter, setup
from router._upstream.deployment import Deployment, load_deployment
from router._user_preferences import UserPreferences

# Arguments that would choose or reach a backend behind the decision's back, or hand the
# request to an observer: refused before anything is decided.
# The adapter's own refusals (adapter.REFUSED) are part of it by construction.
BACKEND_KWARGS: Final = adapter.REFUSED | frozenset(
    {
        "api_base", "api_version", "custom_llm_provider", "mock_response", "fallbacks",
        "model_list", "num_retries", "max_retries", "deployment_id", "organization",
        "allowed_openai_params", "additional_drop_params", "drop_params", "extra_query",
        "input_cost_per_token", "output_cost_per_token", "client", "http_client",
    }
)  # fmt: skip
BACKEND_PREFIXES: Final = ("aws_", "vertex_", "azure_", "litellm_", "watsonx_")


@dataclass(frozen=True, slots=True)
class ModelAvailability:
    """A model with at least one allowed route, as ``available_models`` returns it."""

    slug: str
    name: str
    routes: tuple[Route, ...]
    model: Model


class PolicyRouter:
    """Routes chat completions to backends allowed by the catalog and the user's preferences."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        deployment: Deployment,
        settings: Settings,
        store: PreferenceStore,
        audit: AuditLog,
        pseudonymizer: Pseudonymizer,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.deployment = deployment
        self.settings = settings
        self.audit = audit
        self._store = store
        self._pseudonymizer = pseudonymizer
        self.preferences = UserPreferences(
            store,
            audit,
            pseudonymizer,
            validate=self.canonical,
            audit_fields={"catalog_version": catalog.label},
        )
        self._org = self.canonical(settings.org.preferences())
        self._priority = tuple(catalog.provider(p).slug for p in settings.provider_priority)
        self._unavailable = self._unavailable_routes(os.environ if environ is None else environ)
        self._failover = Failover(deployment, settings, pseudonymizer, self._emit)

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, audit: AuditLog | None = None, **overrides: Any
    ) -> PolicyRouter:
        """Build from settings (environment, ``.env``, config file); ``overrides`` win.

        ``audit`` replaces the audit log the settings name (for embedding and tests)."""
        settings = settings or Settings(**overrides)
        catalog = load_catalog(settings.catalog)
        deployment = load_deployment(settings.deployment).with_overrides(settings.route_models)
        key = (
            settings.pseudonym_key.get_secret_value().encode()
            if settings.pseudonym_key
            else load_or_create_key(settings.resolved_data_dir() / "pseudonym.key")
        )
        return cls(
            catalog=catalog,
            deployment=deployment,
            settings=settings,
            store=LazyStore(settings.resolved_store_url()),
            audit=audit or AuditLog(settings.audit),
            pseudonymizer=Pseudonymizer(key),
        )

    def canonical(self, preferences: Preferences) -> Preferences:
        """Provider names replaced by slugs; an unknown provider is an error, never ignored."""
        allow = preferences.allow_providers
        return Preferences(
            max_retention=preferences.max_retention,
            allow_flagged_retention=preferences.allow_flagged_retention,
            allow_training=preferences.allow_training,
            allow_providers=None if allow is None else self._slugs(allow),
            deny_providers=self._slugs(preferences.deny_providers),
        )

    def _slugs(self, names: frozenset[str]) -> frozenset[str]:
        return frozenset(self.catalog.provider(n).slug for n in names)

    def _unavailable_routes(self, environ: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for route in self.catalog.routes:
            target = self.deployment.target(route.key)
            if target is None:
                out[route.key] = "no litellm model string for this route in the deployment"
            elif not self.settings.offline:
                missing = self.deployment.missing_credentials(target, environ)
                if missing:
                    out[route.key] = missing
        return out

    # -- deciding -------------------------------------------------------------------------

    async def effective_preferences(
        self, user: str | None, privacy: Preferences | Mapping[str, Any] | None = None
    ) -> Preferences:
        """The operator's policy tightened by the user's stored preferences and the request's."""
        stored = await self.preferences.get(user) if user else None
        request = self.canonical(Preferences.from_dict(privacy)) if privacy is not None else None
        return combine(self._org, stored, request)

    def decide(self, model: Model, preferences: Preferences) -> Decision:
        """The decision for one model under already-combined preferences (pure)."""
        return decide(
            model,
            self.catalog.routes_of(model),
            preferences,
            unavailable=self._unavailable,
            priority=self._priority,
        )

    async def explain(
        self,
        model: str,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision a request would get, without forwarding anything."""
        found = self.catalog.model(model)
        return self.decide(found, await self.effective_preferences(user, privacy))

    async def available_models(
        self,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> list[ModelAvailability]:
        """Models with at least one allowed route under the effective preferences."""
        effective = await self.effective_preferences(user, privacy)
        return self._available(effective)

    def _available(self, effective: Preferences) -> list[ModelAvailability]:
        out = []
        for model in self.catalog.models:
            decision = self.decide(model, effective)
            if decision.allowed:
                out.append(ModelAvailability(model.slug, model.name, decision.allowed, model))
        return out

    # -- forwarding -----------------------------------------------------------------------

    async def acompletion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
        stream: bool = False,
        request_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Like ``litellm.acompletion``, routed only to backends the policy allows.

        Returns litellm's response, or with ``stream=True`` an async iterator of its chunks.
        Raises UnknownModel, PolicyViolation, StoreUnavailable, RequestRejected or
        BackendUnavailable (with every attempt).
        """
        call = await self._prepare(model, messages, user, privacy, request_id, kwargs)
        setup.configure(self.settings.transport)  # its import is no attempt's latency
        if stream:
            return await self._failover.stream(call)
        return await self._failover.complete(call)

    async def _prepare(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        request_id: str | None,
        kwargs: dict[str, Any],
    ) -> Call:
        request_id = request_id or uuid.uuid4().hex
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        refused = {"request_id": request_id, "user": audit_user, "model": model}
        try:
            _check_kwargs(kwargs)
            found = self.catalog.model(model)
            effective = await self.effective_preferences(user, privacy)
        except (UnknownModel, StoreUnavailable, InvalidRequest, ValueError, LookupError) as exc:
            self._emit("route.refused", **refused, reason=type(exc).__name__, detail=str(exc))
            raise
        decision = self.decide(found, effective)
        self._emit_decision(request_id, audit_user, decision)
        if not decision.allowed:
            alternatives = [m.name for m in self._available(effective)]
            self._emit(
                "route.refused", **refused | {"model": found.slug},
                reason="PolicyViolation", alternatives=alternatives,
            )  # fmt: skip
            raise PolicyViolation(decision, alternatives)
        base = {**kwargs, "messages": messages}
        if user is not None:
            base["user"] = user
        return Call(request_id, user, audit_user, decision, base)

    def refused(
        self, request_id: str, user: str | None, model: str | None, reason: str, detail: str
    ) -> None:
        """Audit a request refused before it reached ``acompletion`` (bad input at the HTTP
        layer): a ``route.refused`` record, with the user's pseudonym if the id is one."""
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        self._emit(
            "route.refused", request_id=request_id, user=audit_user, model=model,
            reason=reason, detail=detail,
        )  # fmt: skip

    def _emit(self, event: str, **fields: Any) -> None:
        self.audit.emit(event, catalog_version=self.catalog.label, **fields)

    def _emit_decision(self, request_id: str, audit_user: str | None, decision: Decision) -> None:
        self._emit(
            "route.decision",
            request_id=request_id,
            user=audit_user,
            model=decision.model.slug,
            preferences=decision.preferences.to_dict(),
            candidates=decision.candidates(),
            order=[r.key for r in decision.allowed],
            offline=self.settings.offline,
        )

    async def aclose(self) -> None:
        await self._store.aclose()
        self.audit.close()

    async def __aenter__(self) -> PolicyRouter:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
    if kwargs.get("store"):
        raise InvalidRequest(
            "'store' asks the provider to keep the completion, beyond the retention the catalog "
            "declares for the route; remove it"
        )
    named = sorted(k for k in kwargs if k in BACKEND_KWARGS or k.startswith(BACKEND_PREFIXES))
    if named:
        raise InvalidRequest(
            f"the router chooses the backend from the policy; remove {', '.join(map(repr, named))} "
            "(set provider endpoints with POLICY_ROUTER_PROVIDERS__<SLUG>__API_BASE instead)"
        )
    if "model" in kwargs or "messages" in kwargs:
        raise InvalidRequest("pass 'model' and 'messages' once, as acompletion's own arguments")
