"""PolicyRouter: the drop-in for ``litellm.acompletion`` that routes only where policy allows.

The shell around the pure core: it loads the catalog and deployment, reads the user's stored
preferences, decides, scrubs identifiers per route, forwards through the litellm adapter,
fails over between allowed routes, and writes every step to the audit log.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from router._audit import AuditLog
from router._core.catalog import Catalog, Model, Route
from router._core.catalog_load import load_catalog
from router._core.decision import Decision, decide
from router._core.preferences import Preferences, combine
from router._core.pseudonym import Pseudonymizer
from router._core.surface import SurfaceError, check_request
from router._dropin import dropin_error, take_limits
from router._errors import (
    ConfigError,
    InvalidRequest,
    PolicyViolation,
    RouterError,
    StoreUnavailable,
    UnknownModel,
)
from router._failover import Answered, Call, Failover
from router._keyfile import pseudonym_key
from router._settings import Settings
from router._store.base import PreferenceStore
from router._store.lazy import LazyStore
from router._upstream import setup
from router._upstream.deployment import Deployment, load_deployment
from router._user_preferences import UserPreferences


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
        cls,
        settings: Settings | None = None,
        *,
        audit_log: AuditLog | None = None,
        **overrides: Any,
    ) -> PolicyRouter:
        """Build from settings (environment, ``.env``, config file); ``overrides`` win.

        ``audit_log`` replaces the audit log that the ``audit`` setting names (for embedding
        and tests)."""
        if settings is not None and overrides:
            raise ConfigError(
                f"pass settings either as a Settings object or as keywords, not both "
                f"(got Settings and {', '.join(sorted(overrides))}): the keywords would be ignored"
            )
        settings = settings or Settings(**overrides)
        catalog = load_catalog(settings.catalog)
        deployment = load_deployment(settings.deployment).with_overrides(settings.route_models)
        return cls(
            catalog=catalog,
            deployment=deployment,
            settings=settings,
            store=LazyStore(settings.resolved_store_url(), lock_timeout=settings.store_timeout),
            audit=audit_log or AuditLog.from_settings(settings),
            pseudonymizer=Pseudonymizer(pseudonym_key(settings)),
        )

    def canonical(self, preferences: Preferences) -> Preferences:
        """Provider names replaced by slugs; an unknown provider is an error, never ignored."""
        allow = preferences.allow_providers
        return replace(
            preferences,
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

        Takes the OpenAI chat-completion parameters and a few reviewed extras (the accepted
        surface, router/_core/surface.py); anything else is refused by name. Returns
        litellm's response, or with ``stream=True`` an async iterator of its chunks.
        Raises UnknownModel, PolicyViolation, StoreUnavailable, InvalidRequest,
        RequestRejected or BackendUnavailable (with every attempt).
        """
        response, _ = await self.route_completion(
            model, messages, user, privacy=privacy, stream=stream, request_id=request_id, **kwargs
        )
        return response

    async def route_completion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
        stream: bool = False,
        request_id: str | None = None,
        proxy: bool = False,
        raw: bool = False,
        **kwargs: Any,
    ) -> tuple[Any, Answered]:
        """``acompletion``, with which route answered; ``proxy`` checks the proxy's surface.

        ``raw``: a route on the lean path answers the upstream's bytes (``Raw``, or SSE event
        bytes when streaming) instead of litellm's types; other routes answer as always.
        """
        arguments = {"messages": messages, "stream": stream, **kwargs}
        if user is not None:
            arguments["user"] = user
        try:
            call = await self._prepare(model, user, privacy, request_id, arguments, proxy=proxy)
            loading = time.monotonic()
            setup.configure(self.settings.transport)  # its import is no attempt's latency
            call = replace(call, limits=call.limits.excluding(time.monotonic() - loading), raw=raw)
            if stream:
                routed = await self._failover.stream(call)
                return routed, routed.answered
            return await self._failover.complete(call)
        except RouterError as exc:
            compatible = dropin_error(exc, model)
            if compatible is exc:
                raise
            raise compatible from exc.__cause__

    async def _prepare(
        self,
        model: str,
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        request_id: str | None,
        arguments: dict[str, Any],
        *,
        proxy: bool,
    ) -> Call:
        request_id = request_id or uuid.uuid4().hex
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        refused = {"request_id": request_id, "user": audit_user, "model": model}
        try:
            checked = _checked(arguments, proxy=proxy)
            limits = take_limits(checked)
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
        checked.pop("stream", None)
        return Call(request_id, user, audit_user, decision, checked, limits)

    def _emit(self, event: str, **fields: Any) -> None:
        self.audit.emit(event, catalog_version=self.catalog.label, **fields)

    def _emit_decision(self, request_id: str, audit_user: str | None, decision: Decision) -> None:
        self._emit(
            "route.decision",
            request_id=request_id,
            user=audit_user,
            **decision.to_dict() | {"model": decision.model.slug},
            offline=self.settings.offline,
        )

    async def aclose(self) -> None:
        await self._store.aclose()
        self.audit.close()

    async def __aenter__(self) -> PolicyRouter:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _checked(arguments: Mapping[str, Any], *, proxy: bool) -> dict[str, Any]:
    """The arguments, if all are within the accepted surface; else InvalidRequest naming one."""
    if "model" in arguments:
        raise InvalidRequest("pass 'model' once, as acompletion's own argument", param="model")
    try:
        return check_request(arguments, proxy=proxy)
    except SurfaceError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from None
