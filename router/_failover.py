"""Failover: try a decision's allowed routes in order until one answers.

For each route: scrub the call's identifiers as the route's policy requires, forward it
through the litellm adapter, and write a ``route.attempt`` record. A backend failure moves
on to the next allowed route; a request the provider refuses goes back to the caller at
once. A stream fails over only before its first chunk. Never a route the decision rejected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from router._core.catalog import Route
from router._core.decision import Decision
from router._core.pseudonym import Pseudonymizer
from router._core.scrub import Scrubbed, scrub
from router._errors import BackendUnavailable, RequestRejected, RouterError, UpstreamFailure
from router._settings import Settings
from router._upstream import adapter
from router._upstream.deployment import Deployment, Target

Forward = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One forwarding of a request to one allowed route."""

    route: Route
    outcome: str
    error: str = ""
    status_code: int | None = None
    latency_ms: float = 0.0

    def __str__(self) -> str:
        return f"{self.route.provider.name}: {self.error or self.outcome}"


@dataclass(frozen=True, slots=True)
class Call:
    """One request on its way: ids for the audit, the decision, the caller's arguments."""

    request_id: str
    user: str | None
    audit_user: str | None
    decision: Decision
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Step:
    """One attempt in progress."""

    call: Call
    route: Route
    number: int
    scrubbed: Scrubbed
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class Failover:
    """Forwards calls along a decision's allowed routes; every attempt is audited."""

    def __init__(
        self,
        deployment: Deployment,
        settings: Settings,
        pseudonymizer: Pseudonymizer,
        emit: Callable[..., None],
    ) -> None:
        self._deployment = deployment
        self._settings = settings
        self._pseudonymizer = pseudonymizer
        self._emit = emit

    async def complete(self, call: Call) -> Any:
        """The first allowed route's response; raises BackendUnavailable if all fail."""
        step, response = await self._first_answer(call, adapter.complete)
        self._attempted(step, "ok")
        self._annotate(response, step)
        return response

    async def stream(self, call: Call) -> AsyncIterator[Any]:
        """The chunks of the first allowed route that produced one."""
        step, chunks = await self._first_answer(call, adapter.open_stream)
        return self._relay(step, chunks)

    async def _first_answer(self, call: Call, forward: Forward) -> tuple[_Step, Any]:
        attempts: list[Attempt] = []
        for number, route in enumerate(call.decision.allowed, start=1):
            target, arguments, scrubbed = self._request_for(call, route)
            step = _Step(call, route, number, scrubbed)
            try:
                answer = await forward(target, arguments, **self._options(route))
            except asyncio.CancelledError:  # the server shuts down, or the caller went away
                self._attempted(step, "cancelled")
                raise
            except (UpstreamFailure, RequestRejected) as exc:
                attempts.append(self._failed(step, exc))
                if isinstance(exc, RequestRejected) or not exc.retryable:
                    raise
                continue
            return step, answer
        raise BackendUnavailable(call.decision.model.name, attempts)

    async def _relay(self, step: _Step, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
        count = 0
        outcome = "cancelled"  # the caller stopped reading (client gone, task cancelled)
        try:
            async for chunk in chunks:
                count += 1
                yield chunk
            outcome = "ok"
        except (UpstreamFailure, RequestRejected) as exc:
            outcome = "failed"
            self._failed(step, exc, chunks=count)
            raise
        finally:
            if outcome != "failed":
                self._attempted(step, outcome, chunks=count)

    def _request_for(self, call: Call, route: Route) -> tuple[Target, dict[str, Any], Scrubbed]:
        target = self._deployment.target(route.key)
        if target is None:  # the decision rejects such routes; a guard, not a path
            raise RouterError(f"route {route.key} has no target in the deployment")
        provider = route.provider.slug
        scrubbed = scrub(
            call.arguments,
            route.policy.effective_user_identifier,
            user=call.user,
            pseudonym=lambda raw: self._pseudonymizer.for_provider(raw, provider),
        )
        params = route.model.params if target.params is None else target.params
        return target, {**scrubbed.kwargs, **params}, scrubbed

    def _options(self, route: Route) -> dict[str, Any]:
        provider = self._settings.providers.get(route.provider.slug)
        return {
            "api_base": provider.api_base if provider else None,
            "timeout": self._settings.timeout,
            "offline": self._settings.offline,
            "offline_text": (
                f"[offline] policy-router chose {route.provider.name} for "
                f"{route.model.name}; no provider was contacted."
            ),
        }

    def _failed(self, step: _Step, exc: UpstreamFailure | RequestRejected, **extra: Any) -> Attempt:
        kind = exc.kind if isinstance(exc, UpstreamFailure) else "rejected"
        # The upstream's message stays out of the audit log: providers echo request content.
        self._attempted(step, kind, status_code=exc.status_code, **extra)
        return Attempt(step.route, kind, str(exc), exc.status_code, step.elapsed_ms())

    def _attempted(self, step: _Step, outcome: str, **extra: Any) -> None:
        route = step.route
        self._emit(
            "route.attempt",
            request_id=step.call.request_id,
            user=step.call.audit_user,
            model=route.model.slug,
            provider=route.provider.slug,
            route=route.key,
            attempt=step.number,
            outcome=outcome,
            latency_ms=round(step.elapsed_ms(), 3),
            identifier_rule=route.policy.effective_user_identifier.value,
            scrubbed_removed=list(step.scrubbed.removed),
            scrubbed_replaced=list(step.scrubbed.replaced),
            offline=self._settings.offline,
            **extra,
        )

    def _annotate(self, response: Any, step: _Step) -> None:
        """Where the response came from, for the HTTP layer and callers who want to know."""
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden["policy_router"] = {
                "request_id": step.call.request_id,
                "route": step.route.key,
                "provider": step.route.provider.slug,
                "offline": self._settings.offline,
            }
