"""Failover: try a decision's allowed routes in order until one answers.

On each route, a transient failure (timeout, connection, 429, 5xx) is first resent to the
same route after a backoff, honouring the provider's ``retry-after`` (router/_core/resend.py),
by default twice, as the openai SDK does; each resend is its own audited attempt. The caller's
deadline bounds the whole call: no attempt starts after it, and no resend whose wait would
reach it is made.

For each route: scrub the call's identifiers as the route's policy requires, check the
identifier invariant on the scrubbed arguments (and, through the wire guard, on the request
litellm builds), forward it through the litellm adapter, and write a ``route.attempt`` record.
A backend failure moves on to the next allowed route; a request the provider refuses, or one
the invariant blocks, goes back to the caller at once. A stream fails over only before its
first chunk, and its attempt is recorded however it ends: read to the end, failed, closed
early, or never read at all. Never a route the decision rejected.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack, cast

from router._audit.records import Ending, Honesty, RouteAttempt
from router._config.settings import Settings
from router._core.catalog import Route, UserIdentifier
from router._core.decision import Decision
from router._core.invariant import identity_of
from router._core.pseudonym import Pseudonymizer
from router._core.resend import RESENT, delay
from router._core.scrub import Scrubbed, scrub
from router._core.values import one_write
from router._errors import (
    BackendUnavailable,
    IdentifierInRequest,
    RequestRejected,
    RouterError,
    UpstreamFailure,
)
from router._observe import tracing as _tracing
from router._observe.metrics import Metrics
from router._pipeline import same_format
from router._pipeline.dropin import Limits, deadline_failure, dropin_error
from router._upstream import adapter, anthropic, lean
from router._upstream.adapter import UpstreamCall
from router._upstream.deployment import Deployment
from router._upstream.guard import WireCheck

Forward = Callable[[UpstreamCall], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One forwarding of a request to one allowed route."""

    route: Route
    outcome: str
    error: str = ""
    status_code: int | None = None
    latency_ms: float = 0.0
    retry_after: float | None = None  # seconds the provider asked to wait (a rate limit)

    def __str__(self) -> str:
        return f"{self.route.provider.name}: {self.error or self.outcome}"


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class Call:
    """One request on its way: ids for the audit, the decision, the caller's arguments."""

    request_id: str
    user: str | None
    audit_user: str | None
    decision: Decision
    arguments: Mapping[str, Any]
    limits: Limits = field(default_factory=Limits)
    dropped: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # per route key
    started: float = 0.0  # time.perf_counter() when the router took the call (its overhead)
    raw: bool = False  # the lean path may answer the upstream's bytes (the proxy relays them)
    api: str = "chat"  # the API the caller spoke ("chat", "responses", "messages"): audited
    # A Messages request: sent as it came where the route speaks Messages, else translated
    # to chat (then ``arguments`` is unused); None: ``arguments`` are chat's.
    native: same_format.Request | None = None
    proxy: bool = False  # the surface column a translated request is checked against


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class Answered:
    """Which route answered a call, and how: what the HTTP layer and the audit report."""

    request_id: str
    route: Route
    offline: bool
    dropped: tuple[str, ...] = ()  # the caller's parameters the route left out
    overridden: tuple[str, ...] = ()  # the caller's parameters fixed params replaced
    native: bool = False  # a Messages or Responses request that went out as it came

    def plain(self) -> dict[str, Any]:
        """Where a response came from, and the caller's parameters it did not honour (if any)."""
        return {
            "request_id": self.request_id,
            "route": self.route.key,
            "provider": self.route.provider.slug,
            "offline": self.offline,
        } | self.honesty()

    def honesty(self) -> Honesty:
        """The caller's parameters the route did not send as given, if any."""
        return _honesty(self.dropped, self.overridden)


def _honesty(dropped: tuple[str, ...], overridden: tuple[str, ...]) -> Honesty:
    out = Honesty()
    if dropped:
        out["dropped_params"] = list(dropped)
    if overridden:
        out["overridden_params"] = list(overridden)
    return out


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class _Step:
    """One attempt in progress."""

    call: Call
    route: Route
    number: int
    scrubbed: Scrubbed
    check: WireCheck
    overridden: tuple[str, ...] = ()
    native: bool = False  # sent as it came (Messages to Anthropic, Responses to OpenAI)
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
        metrics: Metrics | None = None,
        clients: lean.Clients | None = None,
        *,
        catalog_version: str,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        """``emit(event, record)`` writes an audit record (``AuditLog.emit``); every record
        names ``catalog_version``, the catalog the decision was made under. ``sleep`` and
        ``jitter`` (a number in [0, 1)) pace the resends: asyncio.sleep and random.random
        unless given (tests give their own; no test waits)."""
        self._catalog_version = catalog_version
        self._sleep = sleep or asyncio.sleep
        self._jitter = jitter or random.random
        self._deployment = deployment
        self._settings = settings
        self._pseudonymizer = pseudonymizer
        self._emit = emit
        self._metrics = metrics or Metrics()
        self._clients = clients  # the lean path's pooled clients (the router's)

    async def complete(self, call: Call) -> tuple[Any, Answered]:
        """The first allowed route's response; raises BackendUnavailable if all fail."""
        step, response = await self._first_answer(call, adapter.complete)
        self._attempted(step, "ok")
        answered = self._answered(step)
        adapter.annotate(response, answered.plain())
        return response, answered

    async def stream(self, call: Call) -> RoutedStream:
        """The chunks of the first allowed route that produced one."""
        step, chunks = await self._first_answer(call, adapter.open_stream)
        route = step.route
        self._metrics.first_chunk(route.model.slug, route.provider.slug, step.elapsed_ms() / 1000)
        return RoutedStream(self, step, chunks)

    def _answered(self, step: _Step) -> Answered:
        call = step.call
        dropped = call.dropped.get(step.route.key, ())
        return Answered(
            call.request_id,
            step.route,
            self._settings.offline,
            dropped,
            step.overridden,
            native=step.native,
        )

    async def _first_answer(self, call: Call, forward: Forward) -> tuple[_Step, Any]:
        """Each allowed route in order; on each, a transient failure resent after a backoff
        (router/_core/resend.py) as long as the caller's deadline leaves time for it."""
        attempts: list[Attempt] = []
        resends = call.limits.resends(self._settings.resends)
        allowed = call.decision.allowed
        number = 0
        for index, route in enumerate(allowed):
            for resent in range(resends + 1):
                remaining = call.limits.remaining()
                if remaining is not None and remaining <= 0:
                    raise BackendUnavailable(call.decision.model.name, attempts)  # no attempt
                number += 1  # starts after the caller's deadline
                try:
                    return await self._attempt(call, route, number, remaining, forward, attempts)
                except UpstreamFailure as exc:
                    if not exc.retryable:
                        raise
                    wait = self._resend_after(exc, resent, resends, call)
                    if wait is None:
                        break
                await self._sleep(wait)
            if index + 1 < len(allowed):
                self._metrics.failover(route.model.slug, route.provider.slug)
        raise BackendUnavailable(call.decision.model.name, attempts)

    def _resend_after(
        self, exc: UpstreamFailure, resent: int, resends: int, call: Call
    ) -> float | None:
        """Seconds to wait before resending to the same route; None: move on (no resend left,
        not a transient failure, or no time for it before the caller's deadline)."""
        if resent >= resends or exc.kind not in RESENT:
            return None
        wait = delay(resent, exc.retry_after, self._jitter())
        remaining = call.limits.remaining()
        if remaining is not None and wait >= remaining:
            return None
        return wait

    async def _attempt(
        self,
        call: Call,
        route: Route,
        number: int,
        remaining: float | None,
        forward: Forward,
        attempts: list[Attempt],
    ) -> tuple[_Step, Any]:
        """One attempt, audited; a failure is added to ``attempts`` and raised."""
        upstream, step = self._request_for(call, route, number, remaining)
        if number == 1 and call.started:
            self._metrics.overhead(step.started - call.started)
        with _tracing.child("attempt") as span:
            if span is not None:
                _tracing.annotate(
                    span, model=route.model.slug, route=route.key,
                    provider=route.provider.slug, attempt=number,
                    user=call.audit_user, request_id=call.request_id,
                )  # fmt: skip
            try:
                self._check_arguments(step, upstream)
                answer = await _within(forward(upstream), remaining, upstream.target.prefix)
            except asyncio.CancelledError:  # the server shuts down, or the caller went away
                self._attempted(step, "cancelled")
                _tracing.annotate(span, outcome="cancelled")
                raise
            except (UpstreamFailure, RequestRejected, IdentifierInRequest) as exc:
                failed = self._failed(step, exc)
                attempts.append(failed)
                _tracing.annotate(span, outcome=failed.outcome, status_code=failed.status_code)
                raise
            _tracing.annotate(span, outcome="ok")
        return step, answer

    def _check_arguments(self, step: _Step, upstream: UpstreamCall) -> None:
        """The invariant on the scrubbed arguments, before litellm sees them."""
        identity = step.check.identity
        found = (
            None
            if identity is None
            else same_format.find_outside_content(upstream.arguments, identity, api=upstream.api)
        )
        if found is not None:
            step.check.found = found
            raise IdentifierInRequest(found)

    def _request_for(
        self, call: Call, route: Route, number: int, remaining: float | None
    ) -> tuple[UpstreamCall, _Step]:
        target = self._deployment.target(route.key)
        if target is None:  # the decision rejects such routes; a guard, not a path
            raise RouterError(f"route {route.key} has no target in the deployment")
        provider = route.provider.slug
        rule = route.policy.effective_user_identifier
        params = route.model.params if target.params is None else target.params
        request = call.native
        native = same_format.as_it_came(request, target, params, offline=self._settings.offline)
        arguments = same_format.arguments(
            call.arguments, request, call.user, native=native, proxy=call.proxy
        )
        scrubbed = scrub(
            arguments,
            rule,
            user=call.user,
            pseudonym=lambda raw: self._pseudonymizer.for_provider(raw, provider),
        )
        api = same_format.wire_api(request, native=native)
        if api == "messages":
            anthropic.sendable(scrubbed.kwargs)  # as litellm sends Anthropic the scrubbed user
        identity = (
            None if rule is UserIdentifier.ALLOWED or call.user is None else identity_of(call.user)
        )
        check = WireCheck(identity, functools.partial(same_format.content, arguments, api=api))
        settings = self._settings.providers.get(provider)
        upstream = UpstreamCall(
            target,
            {**scrubbed.kwargs, **params},
            api_base=settings.api_base if settings else None,
            clients=self._clients,
            timeout=(
                self._settings.timeout
                if remaining is None
                else min(self._settings.timeout, remaining)
            ),
            offline_text=(
                f"[offline] policy-router chose {route.provider.name} for "
                f"{route.model.name}; no provider was contacted."
                if self._settings.offline
                else None
            ),
            check=check,
            raw=call.raw  # a translated answer is parsed, or relayed to be rendered by us
            and (native or call.native is None or same_format.relays_plain(request, native=native)),
            parsed=same_format.renders_plain(request, native=native),  # rendered by us
            chunks=same_format.streams_plain(request, native=native),
            api=api,
        )
        overridden = (
            tuple(sorted(k for k, v in params.items() if k in arguments and arguments[k] != v))
            if params
            else ()
        )
        return upstream, _Step(call, route, number, scrubbed, check, overridden, native)

    def _failed(
        self,
        step: _Step,
        exc: UpstreamFailure | RequestRejected | IdentifierInRequest,
        **extra: Unpack[Ending],
    ) -> Attempt:
        wait = None
        if isinstance(exc, UpstreamFailure):
            kind, status, wait = str(exc.kind), exc.status_code, exc.retry_after
        elif isinstance(exc, IdentifierInRequest):
            kind, status = "blocked", None
            extra["blocked_at"] = exc.where
        else:
            kind, status = "rejected", exc.status_code
        # The upstream's message stays out of the audit log: providers echo request content.
        ending = Ending(status_code=status)
        ending.update(extra)
        self._attempted(step, kind, **ending)
        return Attempt(step.route, kind, str(exc), status, step.elapsed_ms(), wait)

    def _attempted(self, step: _Step, outcome: str, **ending: Unpack[Ending]) -> None:
        route = step.route
        elapsed_ms = step.elapsed_ms()
        self._metrics.attempt(route.model.slug, route.provider.slug, outcome, elapsed_ms / 1000)
        call = step.call
        record: RouteAttempt = {  # a literal: no keyword dict made and copied per record
            "catalog_version": self._catalog_version,
            "request_id": call.request_id,
            "api": call.api,
            "user": call.audit_user,
            "model": route.model.slug,
            "provider": route.provider.slug,
            "route": route.key,
            "attempt": step.number,
            "outcome": outcome,
            "latency_ms": round(elapsed_ms, 3),
            "identifier_rule": route.policy.effective_user_identifier.value,
            "scrubbed_removed": list(step.scrubbed.removed),
            "scrubbed_replaced": list(step.scrubbed.replaced),
            "sends": step.check.sends,
            "offline": self._settings.offline,
            **_honesty(call.dropped.get(route.key, ()), step.overridden),  # Answered's
            **ending,
        }
        self._emit("route.attempt", record, avoid=call.user)


class RoutedStream:
    """A stream's chunks, with the route that answered (``.answered``); litellm's chunks, or
    the lean path's ``Events`` (raw calls), counted per event.

    Its attempt is recorded once, however the stream ends: ``ok`` read to the end, the
    failure's kind, ``cancelled`` closed or dropped part-way (or its reader cancelled),
    ``abandoned`` opened (the provider was contacted) and never read (recorded when the
    stream is collected).

    A raw lean stream (``lean.Started`` with a ``tally``) counts its own events and tells
    this stream how it ended (``_ended``): iterated (``__aiter__``), it is the lean stream
    itself, with no layer of this class per read; the attempt is recorded as above.
    """

    def __init__(self, failover: Failover, step: _Step, chunks: AsyncIterator[Any]) -> None:
        self._failover = failover
        self._step = step
        self._chunks = chunks
        self._counted = 0  # the chunks handed out, where the stream keeps no tally
        self._recorded = False
        self._lean = chunks if isinstance(chunks, lean.Started) and chunks.tally else None
        if self._lean is not None:  # weakly: a stream dropped unread is collected at once
            cast(lean.Tally, self._lean.tally).ended = _ended_of(weakref.ref(self))
        self.answered = failover._answered(step)

    @functools.cached_property
    def _hidden_params(self) -> dict[str, Any]:
        """Where a caller finds a response's route (``adapter.annotate``'s), made when asked:
        the proxy reads ``answered``."""
        return {"policy_router": self.answered.plain()}

    def __aiter__(self) -> AsyncIterator[Any]:
        return self if self._lean is None else self._lean.__aiter__()

    async def __anext__(self) -> Any:
        if self._lean is not None:
            return await anext(self._lean)  # counted, and its end recorded, by the stream
        if self._recorded:
            raise StopAsyncIteration
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._record("ok")
            raise
        except (UpstreamFailure, RequestRejected) as exc:
            raise self._failure(exc) from exc.__cause__
        except BaseException:
            self._record("cancelled")
            raise
        if isinstance(chunk, lean.Events | lean.Chunks):  # one read's events: nothing to annotate
            self._counted += len(chunk)
            return chunk
        self._counted += 1
        adapter.annotate(chunk, self.answered.plain(), add=False)
        return chunk

    def _ended(self, error: BaseException | None) -> BaseException | None:
        """A raw lean stream's end (``lean.Tally.ended``): recorded as ``__anext__`` would;
        returns the error the stream raises instead (the drop-in error of a failure)."""
        if error is None:
            self._record("ok")
        elif isinstance(error, UpstreamFailure | RequestRejected) and not self._recorded:
            return self._failure(error)
        else:
            self._record("cancelled")
        return error

    def _failure(self, exc: UpstreamFailure | RequestRejected) -> RouterError:
        """A failure mid-stream, recorded: the error its reader sees."""
        self._recorded = True
        self._failover._failed(self._step, exc, chunks=self._count())
        return dropin_error(exc, self._step.route.model.name)

    def _count(self) -> int:
        return self._counted if self._lean is None else self._lean.handed()

    async def aclose(self) -> None:
        self._record("cancelled")
        await _close(self._chunks)

    def _record(self, outcome: str) -> None:
        if not self._recorded:
            self._recorded = True
            self._failover._attempted(self._step, outcome, chunks=self._count())

    def __del__(self) -> None:
        if not getattr(self, "_recorded", True):
            self._record("cancelled" if self._count() else "abandoned")


def _ended_of(
    ref: weakref.ref[RoutedStream],
) -> Callable[[BaseException | None], BaseException | None]:
    def ended(error: BaseException | None) -> BaseException | None:
        stream = ref()
        return error if stream is None else stream._ended(error)

    return ended


async def _close(chunks: AsyncIterator[Any]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


async def _within(sent: Awaitable[Any], remaining: float | None, provider: str) -> Any:
    """``sent``'s answer, or the attempt's timeout failure once the caller's deadline passes."""
    if remaining is None:
        return await sent
    try:
        return await asyncio.wait_for(sent, remaining)
    except TimeoutError:
        raise deadline_failure(provider, remaining) from None
