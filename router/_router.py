"""PolicyRouter: the drop-in for ``litellm.acompletion`` that routes only where policy allows.

The façade of the library: it builds the pipeline (router/_pipeline/pipeline.py) from the
settings and offers litellm's call shapes on it, one per API (router/_apis/). Everything a
request goes through (admission, preferences, decision, scrubbing, failover, audit) is the
pipeline's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from router._apis import messages as _messages
from router._apis import responses as _responses
from router._audit import AuditLog
from router._config.keyfile import pseudonym_key
from router._config.settings import Settings
from router._core.catalog import Catalog, Model
from router._core.decision import Decision
from router._core.preferences import Preferences
from router._core.pseudonym import Pseudonymizer
from router._errors import ConfigError
from router._observe.metrics import Metrics
from router._pipeline.loaded import Loaded, ModelAvailability, offline_when_unconfigured, read
from router._pipeline.loops import LoopThread, sync_result
from router._pipeline.pipeline import Pipeline
from router._pipeline.user_preferences import UserPreferences
from router._store.base import PreferenceStore
from router._store.lazy import LazyStore
from router._upstream.deployment import Deployment

__all__ = ["ModelAvailability", "PolicyRouter"]


class PolicyRouter:
    """Routes chat completions to backends allowed by the catalog and the user's preferences.

    ``reload()`` puts a new catalog and deployment in force without a restart; ``metrics``
    (``router._observe.metrics.Metrics``, reporting nothing by default) is told what happens.
    ``pipeline`` is what the proxy routes its requests through."""

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
        self.pipeline = Pipeline(
            catalog=catalog,
            deployment=deployment,
            settings=settings,
            store=store,
            audit=audit,
            pseudonymizer=pseudonymizer,
            environ=environ,
            metrics=metrics,
        )
        self._sync = LoopThread(self.pipeline.close_loop, "policy-router")  # the sync API's loop

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
        catalog, deployment = read(settings)
        settings = offline_when_unconfigured(settings, catalog, deployment)
        return cls(
            catalog=catalog,
            deployment=deployment,
            settings=settings,
            store=LazyStore(settings.resolved_store_url(), lock_timeout=settings.store_timeout),
            audit=audit_log or AuditLog.from_settings(settings),
            pseudonymizer=Pseudonymizer(pseudonym_key(settings)),
        )

    # -- what is in force -----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.pipeline.settings

    @property
    def audit(self) -> AuditLog:
        return self.pipeline.audit

    @audit.setter
    def audit(self, log: AuditLog) -> None:
        """Write the request records to ``log`` from now on (embedding, bench/audit.py)."""
        self.pipeline.audit = log

    @property
    def metrics(self) -> Metrics:
        return self.pipeline.metrics

    @property
    def preferences(self) -> UserPreferences:
        """Each user's stored preferences: ``await r.preferences.set(user, Preferences(...))``."""
        return self.pipeline.preferences

    @property
    def loaded(self) -> Loaded:
        """The catalog and deployment in force now."""
        return self.pipeline.loaded

    @property
    def catalog(self) -> Catalog:
        return self.pipeline.catalog

    @property
    def deployment(self) -> Deployment:
        return self.pipeline.deployment

    @property
    def operator_preferences(self) -> Preferences:
        """The operator's policy (settings ``org``), providers as slugs."""
        return self.pipeline.operator_preferences

    def observe(self, metrics: Metrics) -> None:
        """Report to ``metrics`` from now on (the proxy installs its Prometheus metrics)."""
        self.pipeline.observe(metrics)

    def reload(self, *, actor: str = "api") -> tuple[Catalog, Catalog]:
        """Read the catalog and deployment files again and put them in force at once (see
        ``Pipeline.reload``). Returns (old, new)."""
        return self.pipeline.reload(actor=actor)

    def canonical(self, preferences: Preferences) -> Preferences:
        """Provider names replaced by slugs; an unknown provider is an error, never ignored."""
        return self.pipeline.canonical(preferences)

    # -- deciding -------------------------------------------------------------------------

    async def effective_preferences(
        self, user: str | None, privacy: Preferences | Mapping[str, Any] | None = None
    ) -> Preferences:
        """The operator's policy tightened by the user's stored preferences and the request's."""
        return await self.pipeline.effective_preferences(user, privacy)

    def decide(
        self,
        model: Model,
        preferences: Preferences,
        dropped: Mapping[str, tuple[str, ...]] | None = None,
    ) -> Decision:
        """The decision for one model under already-combined preferences (pure); ``dropped``
        names, per route, the request's parameters that route would drop."""
        return self.pipeline.decide(model, preferences, dropped)

    async def explain(
        self,
        model: str,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision a request would get, without forwarding anything."""
        return await self.pipeline.explain(model, user, privacy=privacy)

    async def available_models(
        self,
        user: str | None = None,
        *,
        privacy: Preferences | Mapping[str, Any] | None = None,
    ) -> list[ModelAvailability]:
        """Models with at least one allowed route under the effective preferences."""
        return await self.pipeline.available_models(user, privacy=privacy)

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
        response, _ = await self.pipeline.route(
            model, messages, user, privacy, stream, request_id, kwargs, proxy=False, raw=False
        )  # every keyword goes through the surface check: none selects the proxy's behaviour
        return response

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
            self.pipeline, model, input, user, privacy, stream, request_id, kwargs, proxy=False
        )
        return response

    async def amessages(self, **request: Any) -> Any:
        """Like ``litellm.anthropic.messages.acreate``, routed only where the policy allows.

        Takes the Anthropic Messages request (the accepted surface of
        router/_core/messages.py; ``metadata.user_id`` is the end user) and returns the
        Messages response as a dict, or with ``stream=True`` an async iterator of Anthropic's
        SSE event bytes. The request takes the chat path (``api: "messages"``); errors are
        ``acompletion``'s.
        """
        result, _ = await _messages.route_messages(
            self.pipeline, request, _messages.user_of(request), request_id=None, proxy=False
        )
        return _messages.sse(result) if request.get("stream") else result

    # -- the sync API (router/_pipeline/loops.py) -----------------------------------------

    def completion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        user: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """``acompletion``, called synchronously (``litellm.completion``'s shape): the answer,
        or with ``stream=True`` a sync iterator of chunks. Works from any thread, and from
        code already inside a running event loop (the call runs on the router's own loop)."""
        return sync_result(
            self._sync.run(self.acompletion(model, messages, user, **kwargs)), self._sync
        )

    def responses(self, model: str, input: Any, user: str | None = None, **kwargs: Any) -> Any:
        """``aresponses``, called synchronously; a stream is a sync iterator of its events."""
        return sync_result(
            self._sync.run(self.aresponses(model, input, user, **kwargs)), self._sync
        )

    def messages(self, **request: Any) -> Any:
        """``amessages``, called synchronously; a stream is a sync iterator of SSE event bytes."""
        return sync_result(self._sync.run(self.amessages(**request)), self._sync)

    async def aclose(self) -> None:
        """Close what the router holds: the store's connections, the lean path's pooled client
        on this event loop (a later call opens a new one), the sync API's event loop and the
        audit log."""
        await asyncio.to_thread(self._sync.close)
        await self.pipeline.aclose()

    def close(self) -> None:
        """``aclose`` for sync code: closes what the sync calls opened, and the audit log."""
        self._sync.close()
        self.pipeline.audit.close()

    async def __aenter__(self) -> PolicyRouter:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
