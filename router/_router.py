"""PolicyRouter: the drop-in for ``litellm.acompletion`` that routes only where policy allows.

The shell around the pure core: it loads the catalog and deployment, reads the user's stored
preferences, decides, scrubs identifiers per route, forwards through the litellm adapter,
fails over between allowed routes, and writes every step to the audit log.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from router import _messages, _responses, _tracing
from router._audit import AuditLog
from router._core.catalog import Catalog, Model, Route
from router._core.catalog_load import load_catalog
from router._core.decision import Decision, canonical, decide
from router._core.preferences import Preferences, combine
from router._core.pseudonym import Pseudonymizer
from router._core.surface import SurfaceError, check_request
from router._dropin import dropin_error, take_limits
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
from router._failover import Answered, Call, Failover
from router._keyfile import pseudonym_key
from router._metrics import UNKNOWN_MODEL, Metrics, outcome_of
from router._settings import Settings
from router._store.base import PreferenceStore
from router._store.lazy import LazyStore
from router._upstream import lean, params, setup
from router._upstream.deployment import NOT_DEPLOYED, Deployment, load_deployment
from router._user_preferences import UserPreferences

log = logging.getLogger("router")


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
    # Allowing decisions already made, with their audit form: a decision is a pure function
    # of the model, the preferences and the dropped parameters under this catalog and
    # deployment (a reload makes a new Loaded). Bounded: emptied when full.
    _decided: dict[Hashable, tuple[Decision, dict[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False
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
    ) -> tuple[Decision, dict[str, Any]]:
        """``decide``, and the decision's audit form; an allowing decision is made once."""
        key = (model.slug, preferences, tuple(sorted(dropped.items())))
        known = self._decided.get(key)
        if known is not None:
            return known
        decision = self.decide(model, preferences, dropped)
        made = (decision, decision.to_dict() | {"model": model.slug})
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


class PolicyRouter:
    """Routes chat completions to backends allowed by the catalog and the user's preferences.

    ``reload()`` puts a new catalog and deployment in force without a restart; ``metrics``
    (``router._metrics.Metrics``, reporting nothing by default) is told what happens."""

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
        self._clients = lean.Clients()  # the lean path's pool, kept across reloads
        self.preferences = UserPreferences(
            store,
            audit,
            pseudonymizer,
            validate=self.canonical,
            audit_fields={"catalog_version": catalog.label},
        )
        self._loaded = self._load(catalog, deployment)
        self.metrics.catalog(None, catalog)

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
        catalog, deployment = _read(settings)
        settings = _offline_when_unconfigured(settings, catalog, deployment)
        return cls(
            catalog=catalog,
            deployment=deployment,
            settings=settings,
            store=LazyStore(settings.resolved_store_url(), lock_timeout=settings.store_timeout),
            audit=audit_log or AuditLog.from_settings(settings),
            pseudonymizer=Pseudonymizer(pseudonym_key(settings)),
        )

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
        return Loaded(
            catalog,
            deployment,
            MappingProxyType(_unavailable_routes(catalog, deployment, settings, self._environ)),
            canonical(catalog, settings.org.preferences()),
            tuple(catalog.provider(p).slug for p in settings.provider_priority),
            Failover(
                deployment,
                settings,
                self._pseudonymizer,
                functools.partial(self._emit, catalog.label),
                self.metrics,
                self._clients,
            ),
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
        catalog, deployment = _read(self.settings)
        try:
            new = self._load(catalog, deployment)
        except UnknownProvider as exc:
            raise ConfigError(
                f"the new catalog has no provider {exc.name!r}, which the settings name "
                "(org allow/deny_providers or provider_priority); the catalog in force is kept"
            ) from None
        old, self._loaded = self._loaded, new
        self.preferences.audit_fields = {"catalog_version": catalog.label}
        self._emit(
            catalog.label,
            "catalog.loaded",
            actor=actor,
            old_label=old.catalog.label,
            old_hash=old.catalog.content_hash,
            new_label=catalog.label,
            new_hash=catalog.content_hash,
            servable_routes=new.servable_routes,
        )
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
        self, loaded: Loaded, user: str | None, privacy: Preferences | Mapping[str, Any] | None
    ) -> Preferences:
        stored = await self._stored(user) if user else None
        request = (
            canonical(loaded.catalog, Preferences.from_dict(privacy))
            if privacy is not None
            else None
        )
        return combine(loaded.org, stored, request)

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
        found = loaded.catalog.model(model)
        return loaded.decide(found, await self._effective(loaded, user, privacy))

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
        response, _ = await self._route(
            model, messages, user, privacy, stream, request_id, kwargs, proxy=False, raw=False
        )  # every keyword goes through the surface check: none selects the proxy's behaviour
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
        return await self._route(
            model, messages, user, privacy, stream, request_id, kwargs, proxy=proxy, raw=raw
        )

    async def aresponses(
        self,
        model: str,
        input: Any,  # litellm.aresponses' own name
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
        stream: bool = False,
        request_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Like ``litellm.aresponses``, routed only to backends the policy allows.

        Takes the Responses parameters of its accepted surface (router/_core/responses.py);
        anything else, and anything that would keep state at the provider, is refused by name.
        The request takes the chat path: the same decision, scrubbing, failover and audit
        (``api: "responses"``). Returns litellm's ``ResponsesAPIResponse``, or with
        ``stream=True`` an async iterator of its Responses stream events. Raises what
        ``acompletion`` raises.
        """
        response, _ = await _responses.respond(
            self, model, input, user, privacy, stream, request_id, kwargs, proxy=False
        )
        return response

    async def route_responses(
        self,
        model: str,
        input: Any,  # litellm.aresponses' own name
        user: str | None,
        *,
        privacy: Preferences | Mapping[str, Any] | None,
        stream: bool,
        request_id: str | None,
        arguments: Mapping[str, Any],
    ) -> tuple[Any, Answered]:
        """``aresponses`` for the proxy: its surface, and which route answered; ``arguments``
        are the body's other fields, as sent."""
        return await _responses.respond(
            self, model, input, user, privacy, stream, request_id, arguments, proxy=True
        )

    async def amessages(self, **request: Any) -> Any:
        """Like ``litellm.anthropic.messages.acreate``, routed only where the policy allows.

        Takes the Anthropic Messages request (the accepted surface of
        router/_core/messages.py; ``metadata.user_id`` is the end user) and returns the
        Messages response as a dict, or with ``stream=True`` an async iterator of Anthropic's
        SSE event bytes. The request takes the chat path (``api: "messages"``); errors are
        ``acompletion``'s.
        """
        result, _ = await _messages.route_messages(
            self, request, _messages.user_of(request), request_id=None, proxy=False
        )
        return _messages.sse(result) if request.get("stream") else result

    async def route_messages(
        self,
        request: Mapping[str, Any],
        user: str | None,
        *,
        request_id: str | None = None,
    ) -> tuple[Any, Answered]:
        """A Messages request for the proxy: the response (a dict) or its events (an async
        iterator of dicts), and the route that answered; ``user`` is the settled end user."""
        return await _messages.route_messages(
            self, request, user, request_id=request_id, proxy=True
        )

    async def _route(
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
    ) -> tuple[Any, Answered]:
        started = time.perf_counter()
        loaded = self._loaded
        arguments = {"messages": messages, "stream": stream, **kwargs}
        if user is not None:
            arguments["user"] = user
        with _tracing.span("request", catalog_version=loaded.catalog.label) as span:
            if span is not None:
                _tracing.annotate(
                    span,
                    request_id=request_id,
                    user=self._pseudonymizer.for_audit(user) if user else None,
                    stream=stream,
                )
            return await self._forward(
                loaded, span, model, user, privacy, stream, request_id, arguments,
                proxy=proxy, raw=raw, started=started, api=api,
            )  # fmt: skip

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
    ) -> tuple[Any, Answered]:
        try:
            call = await self._prepare(
                loaded, model, user, privacy, request_id, arguments,
                proxy=proxy, started=started, api=api,
            )  # fmt: skip
            loading = time.monotonic()
            setup.configure(self.settings.transport)  # its import is no attempt's latency
            spent = time.monotonic() - loading
            call = replace(
                call, limits=call.limits.excluding(spent), started=started + spent, raw=raw
            )
            if stream:
                routed = await loaded.failover.stream(call)
                answer: tuple[Any, Answered] = (routed, routed.answered)
            else:
                answer = await loaded.failover.complete(call)
        except RouterError as exc:
            label = _model_label(loaded, model)
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
    ) -> Call:
        request_id = request_id or uuid.uuid4().hex
        audit_user = self._pseudonymizer.for_audit(user) if user else None
        refused = {"request_id": request_id, "api": api, "user": audit_user, "model": model}
        label = loaded.catalog.label
        try:
            checked = _checked(arguments, proxy=proxy)
            limits = take_limits(checked)
            found = loaded.catalog.model(model)
            _check_fixed(loaded.catalog, found, checked)
            effective = await self._effective(loaded, user, privacy)
        except (UnknownModel, StoreUnavailable, InvalidRequest, ValueError, LookupError) as exc:
            self._emit(
                label, "route.refused", **refused, reason=type(exc).__name__, detail=str(exc)
            )
            raise
        dropped = loaded.dropped(found, checked)
        with _tracing.child("decision", model=found.slug) as span:
            decision, rendered = loaded.decided(found, effective, dropped)
            if span is not None:
                _tracing.annotate(
                    span, allowed=len(decision.allowed), rejected=len(decision.rejected)
                )
        self.metrics.decision(found.slug, len(decision.allowed))
        self._emit(
            label,
            "route.decision",
            request_id=request_id,
            api=api,
            user=audit_user,
            **rendered,
            offline=self.settings.offline,
        )
        if not decision.allowed:
            alternatives = [m.name for m in loaded.available(effective)]
            error = BackendsUnconfigured if loaded.unconfigured_only(decision) else PolicyViolation
            self._emit(
                label, "route.refused", **refused | {"model": found.slug},
                reason=error.__name__, alternatives=alternatives,
            )  # fmt: skip
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
        )

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
        self._emit(
            self._loaded.catalog.label, "route.refused", request_id=request_id, api=api,
            user=audit_user, model=model, reason=reason, detail=detail,
        )  # fmt: skip

    def _emit(self, catalog_version: str, event: str, **fields: Any) -> None:
        self.audit.emit(event, catalog_version=catalog_version, **fields)

    async def aclose(self) -> None:
        """Close what the router holds: the store's connections, the lean path's pooled client
        on this event loop (a later call opens a new one) and the audit log."""
        await self._clients.aclose()
        await self._store.aclose()
        self.audit.close()

    async def __aenter__(self) -> PolicyRouter:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _read(settings: Settings) -> tuple[Catalog, Deployment]:
    """The catalog and deployment the settings name, each validated whole."""
    catalog = load_catalog(settings.catalog)
    deployment = load_deployment(settings.deployment).with_overrides(settings.route_models)
    return catalog, deployment


def _unavailable_routes(
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


def _offline_when_unconfigured(
    settings: Settings, catalog: Catalog, deployment: Deployment
) -> Settings:
    """With ``offline`` not set and no provider credentials at all, the library runs offline
    (litellm's mock answers) and says so, once per process, on the ``router`` logger."""
    if "offline" in settings.model_fields_set or settings.offline:
        return settings
    unavailable = _unavailable_routes(catalog, deployment, settings, os.environ)
    if len(unavailable) < len(catalog.routes):
        return settings
    _say_offline()
    return settings.model_copy(update={"offline": True})


@functools.cache
def _say_offline() -> None:
    log.warning(
        "policy-router: no provider credentials are set, so it runs offline: no provider is "
        "contacted and answers come from litellm's mock. Set a provider's key (OPENAI_API_KEY, "
        "...) to route for real, or POLICY_ROUTER_OFFLINE=false to refuse instead."
    )


def _model_label(loaded: Loaded, model: str) -> str:
    """The catalog's slug for a metric label; never the caller's own text."""
    try:
        return loaded.catalog.model(model).slug
    except (UnknownModel, LookupError, TypeError):
        return UNKNOWN_MODEL


def _check_fixed(catalog: Catalog, model: Model, arguments: Mapping[str, Any]) -> None:
    """A caller's value that differs from one the catalog fixes for the model: refused."""
    for name, fixed in model.params.items():
        if name in arguments and arguments[name] != fixed:
            base = model.variant_of and catalog.model(model.variant_of).name
            instead = f", or ask for {base!r} to choose it yourself" if base else ""
            raise InvalidRequest(
                f"{name!r}: the request's {arguments[name]!r} conflicts with model "
                f"{model.name!r}, which fixes {name}={fixed!r} (its catalog params); "
                f"leave {name!r} out{instead}",
                param=name,
            )


def _checked(arguments: Mapping[str, Any], *, proxy: bool) -> dict[str, Any]:
    """The arguments, if all are within the accepted surface; else InvalidRequest naming one."""
    if "model" in arguments:
        raise InvalidRequest("pass 'model' once, as acompletion's own argument", param="model")
    try:
        return check_request(arguments, proxy=proxy)
    except SurfaceError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from None
