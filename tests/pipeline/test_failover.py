"""Failover, with the adapter stubbed: which routes are tried, in what order, with which
arguments, when it stops, and the ``route.attempt`` record of each try.

The wire itself (what litellm sends each provider) is tested in tests/upstream/test_wire.py,
and failover end to end through PolicyRouter in tests/test_router.py.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from router import Preferences, decide
from router._config.settings import Settings
from router._core.catalog import Catalog
from router._core.catalog_load import build_catalog
from router._core.pseudonym import Pseudonymizer
from router._errors import (
    BackendUnavailable,
    FailureKind,
    RequestRejected,
    RouterError,
    UpstreamFailure,
)
from router._pipeline.failover import Call, Failover
from router._upstream import adapter, lean
from router._upstream.adapter import UpstreamCall
from router._upstream.deployment import Deployment, Target

USER = "sentinel-user-failover-3e1d"
PSEUDONYMS = Pseudonymizer(b"f" * 32)


def _catalog() -> Catalog:
    """One model with three routes, tried in this order, each with its own identifier rule."""

    def entry(provider: str, identifier: str) -> dict[str, Any]:
        policy = {"trains_on_api_data": False, "retention": "none", "user_identifier": identifier}
        return {"models": ["m"], "providers": [provider], "policy": policy}

    return build_catalog(
        {
            "version": "test",
            "effective": "2025-11-20",
            "providers": {
                "groq": {"name": "Groq"},
                "nebius": {"name": "Nebius"},
                "together": {"name": "Together.ai"},
            },
            "models": {"m": {"name": "M", "params": {"reasoning_effort": "medium"}}},
            "routes": [
                entry("groq", "omit"),
                entry("nebius", "pseudonymous"),
                entry("together", "allowed"),
            ],
        }
    )


CATALOG = _catalog()
TARGETS = {
    "m/groq": Target("groq/m"),
    "m/nebius": Target("nebius/m", {"temperature": 0}),  # its own params replace the model's
    "m/together": Target("together_ai/m"),
}


REACHES = {
    "groq": frozenset({"groq"}),
    "nebius": frozenset({"nebius"}),
    "together": frozenset({"together_ai"}),
}


def _failure(kind: FailureKind, status: int | None = 503) -> UpstreamFailure:
    return UpstreamFailure(
        f"provider said: {USER} was here", kind=kind, status_code=status, provider="x"
    )


@dataclass
class Reply:
    """A response: an object, as litellm's are (the route that answered is noted on it)."""

    text: str


async def _answer(failover: Failover, call: Call) -> tuple[str, str]:
    """The answer's text and the provider the failover says answered."""
    response, answered = await failover.complete(call)
    return response.text, answered.route.provider.slug


@dataclass
class _Raw:
    """An upstream's SSE reads (bytes, or an error raised by the read), relayed raw."""

    pieces: list[bytes | BaseException]


class _Opened:
    """An opened answer whose body is ``pieces``."""

    def __init__(self, pieces: list[bytes | BaseException]) -> None:
        self._pieces = pieces
        self.closed = False

    async def pieces(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            if isinstance(piece, BaseException):
                raise piece
            yield piece

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeAdapter:
    """Stands in for router._upstream.adapter: answers per litellm prefix, records each call."""

    answers: dict[str, list[Any]]
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def _next(self, call: UpstreamCall) -> Any:
        options = {
            "api_base": call.api_base,
            "timeout": call.timeout,
            "offline_text": call.offline_text,
        }
        self.calls.append((call.target.prefix, dict(call.arguments), options))
        answer = self.answers[call.target.prefix].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def complete(self, call: UpstreamCall) -> Any:
        return self._next(call)

    async def open_stream(self, call: UpstreamCall) -> AsyncIterator[Any]:
        answer = self._next(call)
        if isinstance(answer, _Raw):  # the lean path's raw stream, as lean.open_stream makes it
            tally, prefix = lean.Tally(), call.target.prefix
            opened = cast(Any, _Opened(answer.pieces))
            events = lean._raw_events(opened, prefix, tally, checked=False)
            return await lean.started(events, prefix, tally)
        return _chunks(answer)

    @property
    def prefixes(self) -> list[str]:
        return [prefix for prefix, _, _ in self.calls]


async def _chunks(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        if isinstance(item, BaseException):
            raise item
        yield item


async def _read_into(received: list[Any], chunks: AsyncIterator[Any]) -> None:
    async for chunk in chunks:
        received.append(chunk)


@dataclass
class Harness:
    failover: Failover
    fake: FakeAdapter
    records: list[dict[str, Any]]

    def attempts(self) -> list[tuple[str, int, str]]:
        return [(r["provider"], r["attempt"], r["outcome"]) for r in self.records]


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    fake = FakeAdapter({})
    monkeypatch.setattr(adapter, "complete", fake.complete)
    monkeypatch.setattr(adapter, "open_stream", fake.open_stream)
    records: list[dict[str, Any]] = []
    settings = Settings(timeout=7.5, providers={"nebius": {"api_base": "http://127.0.0.1:9/v1"}})

    def emit(event: str, record: dict[str, Any], /, *, avoid: str | None = None) -> None:
        records.append({"event": event, **record})  # avoid: the writer's input, not a field

    deployment = Deployment(TARGETS, {}, REACHES)
    failover = Failover(deployment, settings, PSEUDONYMS, emit, catalog_version=CATALOG.label)
    return Harness(failover, fake, records)


def _call(**preferences: Any) -> Call:
    model = CATALOG.model("M")
    decision = decide(model, CATALOG.routes_of("M"), Preferences(**preferences))
    arguments = {"messages": [{"role": "user", "content": "hi"}], "user": USER}
    return Call("req-1", USER, "user-audit", decision, arguments)


async def test_complete__the_first_route_that_answers_answers(harness: Harness) -> None:
    harness.fake.answers = {"groq": [Reply("from groq")]}
    assert await _answer(harness.failover, _call()) == ("from groq", "groq")
    assert harness.fake.prefixes == ["groq"]
    assert harness.attempts() == [("groq", 1, "ok")]


@pytest.mark.parametrize(
    "kind",
    [k for k in FailureKind if k is not FailureKind.BUDGET],
    ids=lambda k: f"{k.value} moves on",
)
async def test_complete__a_backend_failure_moves_to_the_next_allowed_route(
    harness: Harness, kind: FailureKind
) -> None:
    harness.fake.answers = {"groq": [_failure(kind)], "nebius": [Reply("from nebius")]}
    assert await _answer(harness.failover, _call()) == ("from nebius", "nebius")
    assert harness.attempts() == [("groq", 1, kind.value), ("nebius", 2, "ok")]
    assert harness.records[0]["status_code"] == 503


async def test_complete__an_exhausted_budget_stops_at_once(harness: Harness) -> None:
    harness.fake.answers = {"groq": [_failure(FailureKind.BUDGET, None)]}
    with pytest.raises(UpstreamFailure) as caught:
        await harness.failover.complete(_call())
    assert caught.value.kind is FailureKind.BUDGET
    assert harness.fake.prefixes == ["groq"]
    assert harness.attempts() == [("groq", 1, "budget")]


async def test_complete__a_rejected_request_goes_back_to_the_caller_unretried(
    harness: Harness,
) -> None:
    rejected = RequestRejected("groq: bad request (400)", status_code=400, provider="groq")
    harness.fake.answers = {"groq": [rejected]}
    with pytest.raises(RequestRejected) as caught:
        await harness.failover.complete(_call())
    assert caught.value is rejected
    assert harness.fake.prefixes == ["groq"]
    assert harness.attempts() == [("groq", 1, "rejected")]
    assert harness.records[0]["status_code"] == 400


async def test_complete__every_route_failing_lists_each_attempt(harness: Harness) -> None:
    harness.fake.answers = {
        "groq": [_failure(FailureKind.TIMEOUT, None)],
        "nebius": [_failure(FailureKind.SERVER)],
        "together_ai": [_failure(FailureKind.RATE_LIMIT, 429)],
    }
    with pytest.raises(BackendUnavailable) as caught:
        await harness.failover.complete(_call())
    attempts = caught.value.attempts
    assert [(a.route.provider.slug, a.outcome, a.status_code) for a in attempts] == [
        ("groq", "timeout", None),
        ("nebius", "server", 503),
        ("together", "rate_limit", 429),
    ]
    assert str(caught.value).startswith("every allowed route of 'M' failed: Groq: provider said")
    assert harness.attempts() == [
        ("groq", 1, "timeout"),
        ("nebius", 2, "server"),
        ("together", 3, "rate_limit"),
    ]


async def test_complete__never_a_route_the_decision_rejected(harness: Harness) -> None:
    harness.fake.answers = {"nebius": [_failure(FailureKind.SERVER)], "together_ai": [Reply("t")]}
    call = _call(deny_providers=["groq"])
    assert [r.provider.slug for r in call.decision.allowed] == ["nebius", "together"]
    assert await _answer(harness.failover, call) == ("t", "together")
    assert harness.fake.prefixes == ["nebius", "together_ai"]


async def test_complete__no_allowed_route_tries_nothing(harness: Harness) -> None:
    call = _call(deny_providers=["groq", "nebius", "together"])
    with pytest.raises(BackendUnavailable) as caught:
        await harness.failover.complete(call)
    assert str(caught.value) == "every allowed route of 'M' failed: no route was tried"
    assert (harness.fake.calls, harness.records) == ([], [])


async def test_complete__each_route_gets_the_identifier_its_policy_allows(
    harness: Harness,
) -> None:
    failed = _failure(FailureKind.SERVER)
    harness.fake.answers = {"groq": [failed], "nebius": [failed], "together_ai": [Reply("ok")]}
    await harness.failover.complete(_call())
    sent = {prefix: arguments.get("user") for prefix, arguments, _ in harness.fake.calls}
    assert sent == {
        "groq": None,  # omit
        "nebius": PSEUDONYMS.for_provider(USER, "nebius"),  # pseudonymous
        "together_ai": USER,  # allowed
    }
    assert "user" not in harness.fake.calls[0][1]
    scrubbed = [
        (r["scrubbed_removed"], r["scrubbed_replaced"], r["identifier_rule"])
        for r in harness.records
    ]
    assert scrubbed == [
        (["user"], [], "omit"),
        ([], ["user"], "pseudonymous"),
        ([], [], "allowed"),
    ]


async def test_complete__model_params_unless_the_target_fixes_its_own(harness: Harness) -> None:
    harness.fake.answers = {"groq": [_failure(FailureKind.SERVER)], "nebius": [Reply("ok")]}
    await harness.failover.complete(_call())
    (_, groq, _), (_, nebius, _) = harness.fake.calls
    assert (groq.get("reasoning_effort"), "temperature" in groq) == ("medium", False)
    assert (nebius.get("temperature"), "reasoning_effort" in nebius) == (0, False)


async def test_complete__options_come_from_the_settings_of_each_provider(
    harness: Harness,
) -> None:
    harness.fake.answers = {"groq": [_failure(FailureKind.SERVER)], "nebius": [Reply("ok")]}
    await harness.failover.complete(_call())
    (_, _, groq), (_, _, nebius) = harness.fake.calls
    assert (groq["api_base"], nebius["api_base"]) == (None, "http://127.0.0.1:9/v1")
    assert (groq["timeout"], groq["offline_text"]) == (7.5, None)  # online: litellm is asked


async def test_attempt_records__carry_ids_but_never_the_user_or_upstream_words(
    harness: Harness,
) -> None:
    harness.fake.answers = {"groq": [_failure(FailureKind.SERVER)], "nebius": [Reply("ok")]}
    await harness.failover.complete(_call())
    for record in harness.records:
        assert record["event"] == "route.attempt"
        assert (record["request_id"], record["user"], record["model"]) == (
            "req-1",
            "user-audit",
            "m",
        )
        assert record["route"] == f"m/{record['provider']}"
        assert record["latency_ms"] >= 0
        assert USER not in repr(record)
        assert "provider said" not in repr(record)


async def test_stream__fails_over_before_the_first_chunk(harness: Harness) -> None:
    harness.fake.answers = {"groq": [_failure(FailureKind.CONNECTION)], "nebius": [["a", "b"]]}
    chunks = await harness.failover.stream(_call())
    assert [chunk async for chunk in chunks] == ["a", "b"]
    assert harness.attempts() == [("groq", 1, "connection"), ("nebius", 2, "ok")]
    assert harness.records[-1]["chunks"] == 2


async def test_stream__a_failure_after_a_chunk_is_raised_not_failed_over(
    harness: Harness,
) -> None:
    harness.fake.answers = {"groq": [["a", _failure(FailureKind.SERVER)]], "nebius": [["b"]]}
    chunks = await harness.failover.stream(_call())
    received: list[Any] = []
    with pytest.raises(UpstreamFailure):
        await _read_into(received, chunks)
    assert received == ["a"]
    assert harness.fake.prefixes == ["groq"]
    assert harness.attempts() == [("groq", 1, "server")]
    assert harness.records[0]["chunks"] == 1


async def test_stream__a_reader_that_stops_early_is_recorded_as_cancelled(
    harness: Harness,
) -> None:
    harness.fake.answers = {"groq": [["a", "b", "c"]]}
    chunks = await harness.failover.stream(_call())
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    assert harness.attempts() == [("groq", 1, "cancelled")]
    assert harness.records[0]["chunks"] == 1


# A raw lean stream (lean.Started with a Tally): iterated, it is the lean generator itself, which
# counts its events and tells the RoutedStream how it ended; the records are as for any stream.


async def test_raw_stream__read_to_its_end_counts_each_event_once(harness: Harness) -> None:
    reads = [b"data: a\n\ndata: b\n\n", b"data: c\n\n", b"data: [DONE]\n\n"]
    harness.fake.answers = {"groq": [_Raw(reads)]}
    chunks = await harness.failover.stream(_call())
    assert inspect.isasyncgen(aiter(chunks))  # no layer of the router's per read
    assert [list(events) async for events in chunks] == [[b"a", b"b"], [b"c"]]
    assert harness.attempts() == [("groq", 1, "ok")]
    assert harness.records[0]["chunks"] == 3


async def test_raw_stream__read_with_anext_is_the_same(harness: Harness) -> None:
    harness.fake.answers = {"groq": [_Raw([b"data: a\n\n", b"data: b\n\ndata: [DONE]\n\n"])]}
    chunks = await harness.failover.stream(_call())
    first = await anext(chunks)  # type: ignore[call-overload]
    assert (type(first), list(first)) == (lean.Events, [b"a"])
    last = await anext(chunks)  # type: ignore[call-overload]
    assert (type(last), list(last)) == (lean.EventsEnded, [b"b"])  # [DONE] came with it
    with pytest.raises(StopAsyncIteration):
        await anext(chunks)  # type: ignore[call-overload]
    assert harness.attempts() == [("groq", 1, "ok")]
    assert harness.records[0]["chunks"] == 2


async def test_raw_stream__fails_over_before_its_first_chunk(harness: Harness) -> None:
    harness.fake.answers = {
        "groq": [_Raw([ConnectionResetError("reset")])],
        "nebius": [_Raw([b"data: b\n\n"])],
    }
    chunks = await harness.failover.stream(_call())
    assert [list(events) async for events in chunks] == [[b"b"]]
    assert harness.attempts() == [("groq", 1, "connection"), ("nebius", 2, "ok")]
    assert harness.records[-1]["chunks"] == 1


async def test_raw_stream__a_failure_after_a_chunk_is_raised_and_recorded_with_its_count(
    harness: Harness,
) -> None:
    reads = [b"data: a\n\ndata: b\n\n", ConnectionResetError("reset")]
    harness.fake.answers = {"groq": [_Raw(reads)], "nebius": [_Raw([b"data: c\n\n"])]}
    chunks = await harness.failover.stream(_call())
    received: list[Any] = []
    with pytest.raises(UpstreamFailure, match="connection") as raised:
        await _read_into(received, chunks)
    assert [list(events) for events in received] == [[b"a", b"b"]]
    assert isinstance(raised.value.__cause__, ConnectionResetError)
    assert harness.fake.prefixes == ["groq"]  # no failover after the first chunk
    assert harness.attempts() == [("groq", 1, "connection")]
    assert harness.records[0]["chunks"] == 2


async def test_raw_stream__a_reader_that_stops_early_is_recorded_as_cancelled(
    harness: Harness,
) -> None:
    reads = [b"data: a\n\ndata: b\n\n", b"data: c\n\n"]
    harness.fake.answers = {"groq": [_Raw(reads)]}
    chunks = await harness.failover.stream(_call())
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    assert harness.attempts() == [("groq", 1, "cancelled")]
    assert harness.records[0]["chunks"] == 2


async def test_raw_stream__closed_unread_counts_no_chunk(harness: Harness) -> None:
    harness.fake.answers = {"groq": [_Raw([b"data: a\n\n", b"data: b\n\n"])]}
    chunks = await harness.failover.stream(_call())
    await chunks.aclose()  # type: ignore[attr-defined]
    assert harness.attempts() == [("groq", 1, "cancelled")]
    assert harness.records[0]["chunks"] == 0  # the first read, held, was never handed out


async def test_raw_stream__never_read_is_recorded_as_abandoned_when_collected(
    harness: Harness,
) -> None:
    harness.fake.answers = {"groq": [_Raw([b"data: a\n\n"])]}
    chunks = await harness.failover.stream(_call())
    del chunks
    gc.collect()
    assert harness.attempts() == [("groq", 1, "abandoned")]
    assert harness.records[0]["chunks"] == 0


async def test_a_route_without_a_target__is_an_error_never_a_guess(harness: Harness) -> None:
    failover = Failover(
        Deployment({}, {}), Settings(), PSEUDONYMS, lambda *_, **__: None, catalog_version="c"
    )
    with pytest.raises(RouterError, match=r"^route m/groq has no target in the deployment$"):
        await failover.complete(_call())
    assert harness.fake.calls == []
