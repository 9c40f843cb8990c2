"""Audit records: the schema of each event, declared once, and reading logs back.

Each event's fields and their types are one ``TypedDict`` below: writers build records with
it (mypy checks every name and type: router/_pipeline/pipeline.py, router/_pipeline/failover.py,
router/_pipeline/user_preferences.py, router/_audit/log.py), readers read through it (verify, policy,
query cast a record to its event's dict, so every key they read is one declared here), and
``problems`` checks a parsed record against it (the test suite checks every record it writes:
tests/conftest.py). Adding a field is one line in its event's class (``NotRequired[...]`` when
some records of the event go without it); the writer then passes it.

A record on disk is ``ts`` and ``event`` (written by ``AuditLog.emit``), its event's fields in
the order the writer gives them, then the chain's ``writer``, ``seq``, ``prev`` (first record of
a file) and ``chain`` (router/_audit/chain.py). No ``from __future__ import annotations`` here:
Python 3.11 reads ``NotRequired`` only from evaluated annotations.
"""

import sys
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final, Literal, NamedTuple, NotRequired, TypedDict

import orjson

from router._audit.chain import CHECKPOINT_EVENT, CUT_EVENT, WRITER_EVENT

# --- the events -----------------------------------------------------------------------------


class Request(TypedDict):
    """What every record of one request carries."""

    catalog_version: str  # label@hash12 of the catalog in force
    request_id: str
    api: str  # chat, responses or messages: the API the caller spoke
    user: str | None  # the keyed audit pseudonym, never the raw id


class Decided(TypedDict):
    """The decision's audit form (router/_core/decision.py ``Decision.to_dict``, model by slug)."""

    model: str
    preferences: dict[str, Any]  # effective: operator, stored and request preferences combined
    order: list[str]  # the allowed routes, in the order they will be tried
    candidates: list[dict[str, Any]]  # every route: route, provider, verdict, reasons


class RouteDecision(Request, Decided):
    """``route.decision``: what was decided for a request, before any attempt, and what its
    effective preferences were made from (``audit verify`` recomputes them from these)."""

    operator_policy_hash: str  # version() of the operator's policy (router/_core/preferences.py)
    stored_preferences_version: str | None  # version() of the user's stored preferences, if any
    request_privacy: dict[str, Any] | None  # the request's own privacy object, providers as slugs
    offline: bool


class Honesty(TypedDict, total=False):
    """The caller's parameters a route did not send as given ("Honest parameters")."""

    dropped_params: list[str]  # left out: the route does not take them
    overridden_params: list[str]  # replaced by the route's fixed params


class Ending(TypedDict, total=False):
    """How an attempt that did not simply answer ended."""

    status_code: int | None  # a failed attempt's HTTP status, where there was one
    blocked_at: str  # where the identifier invariant found the user id
    chunks: int  # a stream's chunks relayed


class RouteAttempt(Request, Honesty, Ending):
    """``route.attempt``: one forwarding of a request to one allowed route."""

    model: str
    provider: str
    route: str
    attempt: int  # 1, 2, … within the request
    outcome: str  # ok, a FailureKind, rejected, blocked, cancelled, abandoned
    latency_ms: float
    identifier_rule: str  # omit, pseudonymous, allowed
    scrubbed_removed: list[str]  # field paths
    scrubbed_replaced: list[str]
    sends: int  # requests the attempt put on the wire
    offline: bool


class RouteRefused(Request):
    """``route.refused``: a request refused before any attempt."""

    model: str | None  # the catalog's slug; None for a name it does not know (see asked)
    reason: str  # the error's class name
    detail: NotRequired[str]
    alternatives: NotRequired[list[str]]  # models allowed under the same preferences
    asked: NotRequired[dict[str, Any]]  # a name the catalog does not know: its hash and length


class Catalogued(TypedDict, total=False):
    """The catalog in force, where the writer knows it."""

    catalog_version: str


class PreferencesChanged(Catalogued):
    """``preferences.changed``: a user's stored preferences were set, updated or deleted."""

    request_id: str
    user: str  # the audit pseudonym
    actor: str
    action: str  # set, update, delete
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class CatalogLoaded(TypedDict):
    """``catalog.loaded``: a reload put a catalog and deployment in force."""

    catalog_version: str
    actor: str
    old_label: str
    old_hash: str
    new_label: str
    new_hash: str
    servable_routes: int


class Chained(TypedDict):
    """What the writer adds to every record (router/_audit/chain.py)."""

    ts: str  # UTC, ISO 8601 with microseconds and Z
    event: str
    writer: str
    seq: int
    prev: NotRequired[str]  # the first record of each file: the chain value it continues from
    withheld: NotRequired[list[str]]  # places whose value held the raw user id (withhold.py)
    chain: str


class Checkpoint(TypedDict):
    """``audit.checkpoint``, in the checkpoint sink: the writer's count and head so far."""

    ts: str
    event: str
    writer: str
    seq: int
    head: str
    mac: str


class WriterAnnounced(TypedDict):
    """``audit.writer``, in the checkpoint sink: a writer's first words, before its first
    record (a chain from a writer never announced is foreign: router/_audit/verify.py)."""

    ts: str
    event: str
    writer: str
    operator_policy: NotRequired[dict[str, Any]]  # a router's writer says what it runs under
    operator_policy_hash: NotRequired[str]
    retention: NotRequired[str]
    mac: str


class Cut(TypedDict):
    """``audit.cut``, in the checkpoint sink: rotated files dropped past the retention, and
    where each writer's chain stood at the cut (router/_audit/retention.py)."""

    ts: str
    event: str
    file: str
    retention: str
    writers: dict[str, Any]  # writer -> {seq, head}
    mac: str


EVENTS: Final[Mapping[str, type[Any]]] = {
    "route.decision": RouteDecision,
    "route.attempt": RouteAttempt,
    "route.refused": RouteRefused,
    "preferences.changed": PreferencesChanged,
    "catalog.loaded": CatalogLoaded,
}


class Searched(TypedDict, total=False):
    """The fields ``audit query`` filters and counts by, whatever the event (each declared,
    with this type, by some event above: tests/audit/test_records.py checks it)."""

    ts: str
    event: str
    request_id: str
    catalog_version: str
    user: str | None
    model: str | None
    provider: str
    outcome: str
    action: str
    reason: str
    route: str
    offline: bool


# --- checking a record against its event's schema ---------------------------------------------

Check = Callable[[object], bool]


class _Schema(NamedTuple):
    required: frozenset[str]
    checks: Mapping[str, tuple[Check, str]]  # each field: its check, and its type as declared


def problems(record: Mapping[str, Any]) -> list[str]:
    """What is wrong with a parsed record under its event's schema (empty: nothing). Every
    field must be declared: an undeclared one is a problem, as is a missing or ill-typed one."""
    schema = _SCHEMAS.get(record.get("event"))  # type: ignore[arg-type]
    if schema is None:
        return [f"event {record.get('event')!r} is not declared in router/_audit/records.py"]
    found = [f"missing field {name!r}" for name in schema.required if name not in record]
    for name, value in record.items():
        known = schema.checks.get(name)
        if known is None:
            found.append(f"field {name!r} is not declared for {record['event']}")
        elif not known[0](value):
            found.append(f"field {name!r} must be {known[1]} (got {type(value).__name__})")
    return found


def fields(event: str) -> tuple[frozenset[str], frozenset[str]]:
    """The required and the optional fields of ``event``'s records, the chain's included."""
    schema = _SCHEMAS[event]
    return schema.required, frozenset(schema.checks) - schema.required


def _schema(*parts: type[Any]) -> _Schema:
    checks: dict[str, tuple[Check, str]] = {}
    required: set[str] = set()
    for part in parts:
        for name, hint in typing.get_type_hints(part).items():
            checks[name] = (_check(hint), _describe(hint))
        required |= part.__required_keys__
    return _Schema(frozenset(required), checks)


def _check(hint: Any) -> Check:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return lambda _: True
    if hint is None or hint is type(None):
        return lambda v: v is None
    if hint is bool:
        return lambda v: isinstance(v, bool)
    if hint is int:
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    if hint is float:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if origin in (types.UnionType, typing.Union):
        each = [_check(a) for a in args]
        return lambda v: any(c(v) for c in each)
    if origin is Literal:
        return lambda v: v in args
    if origin is list:
        item = _check(args[0])
        return lambda v: isinstance(v, list) and all(item(i) for i in v)
    if origin is dict:
        value = _check(args[1])
        return lambda v: (
            isinstance(v, dict) and all(isinstance(k, str) and value(i) for k, i in v.items())
        )
    if isinstance(hint, type):
        return lambda v: isinstance(v, hint)
    raise TypeError(f"router/_audit/records.py: no check for the annotation {hint!r}")


def _describe(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


_SCHEMAS: Final[Mapping[str, _Schema]] = {
    **{event: _schema(body, Chained) for event, body in EVENTS.items()},
    CHECKPOINT_EVENT: _schema(Checkpoint),
    WRITER_EVENT: _schema(WriterAnnounced),
    CUT_EVENT: _schema(Cut),
}


# --- reading logs back ------------------------------------------------------------------------


class Line(NamedTuple):
    """One line of an audit log: where it is, and its record (``None``: not a JSON object)."""

    file: str
    number: int
    record: dict[str, Any] | None
    raw: bytes


def read(sources: Iterable[str | Path]) -> Iterator[Line]:
    """Every non-blank line of the sources, in order; ``-`` is standard input."""
    for source in sources:
        if str(source) == "-":
            yield from _lines("<stdin>", sys.stdin.buffer)
            continue
        with Path(source).open("rb") as stream:
            yield from _lines(str(source), stream)


def _lines(name: str, stream: IO[bytes]) -> Iterator[Line]:
    for number, raw in enumerate(stream, start=1):
        if raw.isspace():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            record = None
        yield Line(name, number, record if isinstance(record, dict) else None, raw)
