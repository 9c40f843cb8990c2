"""The pipeline every request takes: admission, preferences, decision, failover, audit.

The shell around the pure core: it loads the catalog and deployment, reads the user's stored
preferences, decides, scrubs identifiers per route, forwards through the upstream adapter,
fails over between allowed routes, and writes every step to the audit log. The APIs
(router/_apis/) translate their requests into one call of ``Pipeline.route``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from router._audit import AuditLog
from router._audit.records import CatalogLoaded, RouteDecision, RouteRefused
from router._config.settings import Settings
from router._core.catalog import Catalog, Model
from router._core.decision import Decision, canonical
from router._core.invariant import holds_user
from router._core.preferences import Preferences, combine, version
from router._core.pseudonym import Pseudonymizer
from router._errors import (
    BackendsUnconfigured,
    ConfigError,
    InvalidRequest,
    PolicyViolation,
    RouterError,
    StoredPreferencesInvalid,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
)
from router._observe import tracing as _tracing
from router._observe.metrics import Metrics, outcome_of
from router._pipeline import admission, same_format
from router._pipeline.dropin import dropin_error, take_limits
from router._pipeline.failover import Answered, Call, Failover
from router._pipeline.loaded import (
    Loaded,
    ModelAvailability,
    litellm_routes,
    model_label,
    read,
    unavailable_routes,
)
from router._pipeline.loops import LoopEnd
from router._pipeline.user_preferences import UserPreferences
from router._store.base import PreferenceStore
from router._upstream import lean, setup
from router._upstream.deployment import Deployment
from router._upstream.own import own

_REQUEST_ID_HOLDS_USER: Final = (
    "request_id holds the user id; the request id is copied into every audit record and log "
    "line, where the id must never be: pass a random id (or none, and the router makes one)"
)


class Pipeline:
    """The request pipeline behind PolicyRouter and the proxy: the catalog and deployment in
    force, the user's stored preferences, admission, the decision, failover and the audit.

    ``route()`` takes one request of any API (chat, responses, messages) through it;
    ``reload()`` puts a new catalog and deployment in force without a restart; ``metrics``
    (``router._observe.metrics.Metrics``, reporting nothing by default) is told what happens."""

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
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.audit = audit
        self.metrics = metrics or Metrics()
        self._store = store
        self._pseudonymizer = pseudonymizer
        self._environ = os.environ if environ is None else environ
        self._clients = lean.Clients(
            settings.transport
        )  # the lean path's pool, kept across reloads
        self._litellm_ready = False  # litellm configured: by the first request that needs it
        self._loop_end = LoopEnd(self.close_loop)  # closes what a loop held when it ends
        self.preferences = UserPreferences(
            store,
            audit,
            pseudonymizer,
            validate=self.canonical,
            audit_fields={"catalog_version": catalog.label},
        )
        self._loaded = self._load(catalog, deployment)
        self.metrics.catalog(None, catalog)
        org = self._loaded.org  # what a decision's operator_policy_hash names, for audit verify
        audit.announce(operator_policy=org.to_dict(), operator_policy_hash=version(org))

    @property
    def loaded(self) -> Loaded:
        """The catalog and deployment in force now."""
        return self._loaded

    @property
    def catalog(self) -> Catalog:
        return self._loaded.catalog

    @property
    def deployment(self) -> Deployment:
        return self._loaded.deployment

    def _load(self, catalog: Catalog, deployment: Deployment) -> Loaded:
        settings = self.settings
        org = canonical(catalog, settings.org.preferences())
        by_litellm = litellm_routes(catalog, deployment)
        return Loaded(
            catalog,
            deployment,
            MappingProxyType(unavailable_routes(catalog, deployment, settings, self._environ)),
            org,
            tuple(catalog.provider(p).slug for p in settings.provider_priority),
            Failover(
                deployment,
                settings,
                self._pseudonymizer,
                self._audited,
                self.metrics,
                self._clients,
                catalog_version=catalog.label,
            ),
            version(org),
            by_litellm,
            frozenset(r.model.slug for r in catalog.routes if r.key in by_litellm),
        )

    def observe(self, metrics: Metrics) -> None:
        """Report to ``metrics`` from now on (the proxy installs its Prometheus metrics)."""
        self.metrics = metrics
        loaded = self._loaded
        self._loaded = self._load(loaded.catalog, loaded.deployment)
        metrics.catalog(None, loaded.catalog)

    def reload(self, *, actor: str = "api") -> tuple[Catalog, Catalog]:
        """Read the catalog and deployment files again and put them in force at once.

        Both are validated whole first: on any problem this raises CatalogError or
        ConfigError with the loader's message and the ones in force stay. Requests already
        started finish under the version they started with. Writes a ``catalog.loaded``
        audit record (old and new label and hash, ``actor``). Returns (old, new)."""
        catalog, deployment = read(self.settings)
        try:
            new = self._load(catalog, deployment)
        except UnknownProvider as exc:
            raise ConfigError(
                f"the new catalog has no provider {exc.name!r}, which the settings name "
                "(org allow/deny_providers or provider_priority); the catalog in force is kept"
            ) from None
        old, self._loaded = self._loaded, new
        self.preferences.audit_fields = {"catalog_version": catalog.label}
        loaded = CatalogLoaded(
            catalog_version=catalog.label,
            actor=actor,
            old_label=old.catalog.label,
            old_hash=old.catalog.content_hash,
            new_label=catalog.label,
            new_hash=catalog.content_hash,
            servable_routes=new.servable_routes,
        )
        self.audit.emit("catalog.loaded", loaded)
        self.metrics.catalog(old.catalog, catalog)
        return old.catalog, catalog

    def canonical(self, preferences: Preferences) -> Preferences:
        """Provider names replaced by slugs; an unknown provider is an error, never ignored."""
        return canonical(self._loaded.catalog, preferences)

    # -- deciding -------------------------------------------------------------------------

    async def effective_preferences(
        self, user: str | None, privacy: Preferences | Mapping[str, Any] | None = None
    ) -> Preferences:
        """The operator's policy tightened by the user's stored preferences and the request's."""
        return await self._effective(self._loaded, user, privacy)

    async def _effective(
        self,
        loaded: Loaded,
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        providers: frozenset[str] | None = None,
    ) -> Preferences:
        """``providers``: the providers a litellm model string named (a tightening)."""
        return combine(loaded.org, *await self._inputs(loaded, user, privacy, providers))

    async def _inputs(
        self,
        loaded: Loaded,
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        providers: frozenset[str] | None = None,
    ) -> tuple[Preferences | None, Preferences | None]:
        """What the effective preferences are made from, besides the operator's policy: the
        user's stored preferences and the request's own ``privacy`` (providers as slugs),
        tightened by the providers a litellm model string named (recorded with it, so that
        the decision recomputes from what the audit holds)."""
        stored = await self._stored(user) if user else None
        request = (
            canonical(loaded.catalog, Preferences.from_dict(privacy))
            if privacy is not None
            else None
        )
        if providers is not None:
            request = combine(request, Preferences(allow_providers=providers))
        return stored, request

    async def _stored(self, user: str) -> Preferences | None:
        started, ok = time.perf_counter(), False
        with _tracing.child("store_read") as span:
            try:
                stored = await self.preferences.get(user)
                ok = True
            except StoredPreferencesInvalid:
                ok = True  # read fine; the row is at fault, not the store
                raise
            finally:
                self.metrics.store_read(time.perf_counter() - started, ok)
                _tracing.annotate(span, outcome="ok" if ok else "failed")
        return stored

    @property
    def operator_preferences(self) -> Preferences:
        """The operator's policy (settings ``org``), providers as slugs."""
        return self._loaded.org

    def decide(
        self,
        model: Model,
        preferences: Preferences,
        dropped: Mapping[str, tuple[str, ...]] | None = None,
    ) -> Decision:
        """The decision for one model under already-combined preferences (pure); ``dropped``
        names, per route, the request's parameters that route would drop."""
        return self._loaded.decide(model, preferences, dropped)

    async def explain(
        self,
        model: str,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision a request would get, without forwarding anything."""
        loaded = self._loaded
        named = loaded.named(model)
        effective = await self._effective(loaded, user, privacy, named.providers)
        return loaded.decide(named.model, effective)

    async def available_models(
        self,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> list[ModelAvailability]:
        """Models with at least one allowed route under the effective preferences."""
        loaded = self._loaded
        return loaded.available(await self._effective(loaded, user, privacy))

    # -- forwarding -----------------------------------------------------------------------

    async def route(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        stream: bool,
        request_id: str | None,
        kwargs: Mapping[str, Any],
        *,
        proxy: bool,
        raw: bool,
        api: str = "chat",
        native: same_format.Request | None = None,
    ) -> tuple[Any, Answered]:
        """One request of any API through the pipeline. ``native``: a Messages or Responses
        request, sent as it came where a route speaks its API (then ``messages`` is empty and
        ``kwargs`` holds at most the call's limits)."""
        started = time.perf_counter()
        loaded = self._loaded
        arguments = {"messages": messages, "stream": stream, **kwargs}
        if user is not None:
            arguments["user"] = user
        self._loop_end.watch()
        with own(), _tracing.span("request", catalog_version=loaded.catalog.label) as span:
            if span is not None:
                _tracing.annotate(
                    span,
                    request_id=None if holds_user(request_id, user) else request_id,
                    user=self._pseudonymizer.for_audit(user) if user else None,
                    stream=stream,
                )
            return await self._forward(
                loaded, span, model, user, privacy, stream, request_id, arguments,
                proxy=proxy, raw=raw, started=started, api=api, native=native,
            )  # fmt: skip

    async def decide_only(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        request_id: str | None,
        kwargs: Mapping[str, Any],
        *,
        api: str,
    ) -> Decision:
        """Admission and the decision for a request that is not forwarded (the Messages API's
        ``count_tokens``): the same checks and audit records as ``route`` up to its decision
        (``route.decision``, or ``route.refused``), the allowing decision returned."""
        arguments = {"messages": messages, **kwargs}
        if user is not None:
            arguments["user"] = user
        call = await self._prepare(
            self._loaded, model, user, privacy, request_id, arguments,
            proxy=True, started=time.perf_counter(), api=api, forwards=False,
        )  # fmt: skip
        return call.decision

    async def _forward(
        self,
        loaded: Loaded,
        span: Any,
        model: str,
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        stream: bool,
        request_id: str | None,
        arguments: dict[str, Any],
        *,
        proxy: bool,
        raw: bool,
        started: float,
        api: str,
        native: same_format.Request | None,
    ) -> tuple[Any, Answered]:
        try:
            call = await self._prepare(
                loaded, model, user, privacy, request_id, arguments,
                proxy=proxy, started=started, api=api, raw=raw, native=native,
            )  # fmt: skip
            if stream:
                routed = await loaded.failover.stream(call)
                answer: tuple[Any, Answered] = (routed, routed.answered)
            else:
                answer = await loaded.failover.complete(call)
        except RouterError as exc:
            label = model_label(loaded, model)
            outcome, reason = outcome_of(exc)
            self.metrics.request(label, outcome, reason)
            _tracing.annotate(span, model=label, outcome=outcome, reason=reason)
            compatible = dropin_error(exc, model)
            if compatible is exc:
                raise
            raise compatible from exc.__cause__
        self.metrics.request(call.decision.model.slug, "ok", None)
        if span is not None:
            route = answer[1].route
            _tracing.annotate(
                span, model=route.model.slug, route=route.key, provider=route.provider.slug,
                outcome="ok", request_id=call.request_id,
            )  # fmt: skip
        return answer

    async def _prepare(
        self,
        loaded: Loaded,
        model: str,
        user: str | None,
        privacy: Preferences | Mapping[str, Any] | None,
        request_id: str | None,
        arguments: dict[str, Any],
        *,
        proxy: bool,
        started: float,
        api: str,
        raw: bool = False,
        forwards: bool = True,
        native: same_format.Request | None = None,
    ) -> Call:
        given, request_id = request_id, request_id or uuid.uuid4().hex
        if holds_user(given, user):
            request_id = uuid.uuid4().hex  # the records never carry it
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        label = loaded.catalog.label
        try:
            if request_id != given and given:
                raise InvalidRequest(_REQUEST_ID_HOLDS_USER, param="request_id")
            checked = admission.checked(
                arguments, proxy=proxy, model=model, user=user, same_format=native is not None
            )
            limits = take_limits(checked)
            named = loaded.named(model)
            found = named.model
            if native is not None:
                same_format.resolved(native, found)
            admission.check_fixed(
                loaded.catalog, found, checked if native is None else native.as_chat_fixed()
            )
            stored, request = await self._inputs(loaded, user, privacy, named.providers)
        except (UnknownModel, StoreUnavailable, InvalidRequest, ValueError, LookupError) as exc:
            why = RouteRefused(
                catalog_version=label, request_id=request_id, api=api, user=audit_user,
                model=None, reason=type(exc).__name__, detail=str(exc),
            )  # fmt: skip
            self.audit.emit("route.refused", self._asked(why, loaded, model), avoid=user)
            raise
        translating = (
            ()
            if native is None
            else loaded.translating(found, native.api, offline=self.settings.offline)
        )
        spent = await self._litellm_for(
            loaded, found, types=forwards and not raw, native=native, translating=translating
        )
        if spent:  # litellm's one-time import is no part of the call's deadline
            limits, started = limits.excluding(spent), started + spent
        effective = combine(loaded.org, stored, request)
        dropped = (
            loaded.dropped(found, checked)
            if native is None
            else same_format.dropped(translating, native)
        )
        with _tracing.child("decision", model=found.slug) as span:
            decision, rendered = loaded.decided(found, effective, dropped)
            if span is not None:
                _tracing.annotate(
                    span, allowed=len(decision.allowed), rejected=len(decision.rejected)
                )
        self.metrics.decision(found.slug, len(decision.allowed))
        record: RouteDecision = {  # a literal: no keyword dict made and copied per record
            "catalog_version": label, "request_id": request_id, "api": api, "user": audit_user,
            **rendered,
            "operator_policy_hash": loaded.org_hash,
            "stored_preferences_version": None if stored is None else loaded.version_of(stored),
            "request_privacy": None if request is None else request.to_dict(),
            "offline": self.settings.offline,
        }  # fmt: skip
        self.audit.emit("route.decision", record, avoid=user)
        if not decision.allowed:
            alternatives = [m.name for m in loaded.available(effective)]
            error = BackendsUnconfigured if loaded.unconfigured_only(decision) else PolicyViolation
            why = RouteRefused(
                catalog_version=label, request_id=request_id, api=api, user=audit_user,
                model=found.slug, reason=error.__name__, alternatives=alternatives,
            )  # fmt: skip
            self.audit.emit("route.refused", why, avoid=user)
            raise error(decision, alternatives)
        checked.pop("stream", None)
        return Call(
            request_id,
            user,
            audit_user,
            decision,
            checked,
            limits,
            dropped,
            started=started,
            api=api,
            raw=raw,
            native=native,
            proxy=proxy,
        )

    async def _litellm_for(
        self,
        loaded: Loaded,
        model: Model,
        *,
        types: bool,
        native: same_format.Request | None,
        translating: same_format.Translating,
    ) -> float:
        """Import (in a worker thread) and configure litellm, once, if this request needs it:
        a route of ``model`` that litellm serves (its parameter table, its translation), or
        ``types``, litellm's response types (the library's answers; the proxy relays bytes);
        for a Messages or Responses request (``native``), a route it is translated for
        (``translating``) where the translation takes litellm (its adapter or bridge, both
        ways: not a plain Messages request, JSON or stream), or, for the library's Responses
        answers, litellm's types. Returns the seconds waited for it (0: not needed, or done
        before)."""
        if self._litellm_ready:
            return 0.0
        if native is not None:
            adapts = bool(translating) and same_format.adapts(native)
            types = adapts or (types and native.api == "responses")
        if not (types or model.slug in loaded.litellm_models):
            return 0.0
        waiting = time.monotonic()
        await setup.configured(self.settings.transport)
        self._litellm_ready = True
        return time.monotonic() - waiting

    def refused(
        self,
        request_id: str,
        user: str | None,
        model: str | None,
        reason: str,
        detail: str,
        *,
        api: str = "chat",
    ) -> None:
        """Audit a request refused before it reached ``acompletion`` (bad input at the HTTP
        layer): a ``route.refused`` record, with the user's pseudonym if the id is one."""
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        loaded = self._loaded
        why = RouteRefused(
            catalog_version=loaded.catalog.label, request_id=request_id, api=api,
            user=audit_user, model=None, reason=reason, detail=detail,
        )  # fmt: skip
        self.audit.emit("route.refused", self._asked(why, loaded, model), avoid=user)

    def _asked(self, why: RouteRefused, loaded: Loaded, model: object) -> RouteRefused:
        """``why`` with its model: the catalog's slug, or for a name the catalog does not
        know its keyed hash and length (``asked``), never the name itself."""
        if isinstance(model, str):
            try:
                why["model"] = loaded.catalog.model(model).slug
            except LookupError:  # UnknownModel
                why["asked"] = {"hash": self._pseudonymizer.for_name(model), "length": len(model)}
        return why

    def _audited(self, event: str, record: Mapping[str, Any], *, avoid: str | None = None) -> None:
        """Write an audit record to the log in use now (``self.audit`` may be replaced);
        ``avoid``: the request's raw user id, which the writer withholds."""
        self.audit.emit(event, record, avoid=avoid)

    async def aclose(self) -> None:
        """Close what the router holds: the store's connections, the lean path's pooled client
        on this event loop (a later call opens a new one) and the audit log."""
        await self._clients.aclose()
        await self._store.aclose()
        self.audit.close()

    async def close_loop(self) -> None:
        """What the running loop holds, as it ends: its lean client, litellm's clients made on
        it, and the store's connections (reopened by a later call on another loop)."""
        await self._clients.aclose()
        await setup.close_loop_clients()
        await self._store.aclose()
