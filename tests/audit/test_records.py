"""The audit event schema (router/_audit/records.py): declared once, checked on every record.

tests/conftest.py checks every record the suite writes in process against it; these tests
check the checker, and that what the readers filter by is declared by the events.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest

from router._audit import AuditLog, records

KEY = b"audit-key-for-tests-0123456789ab"


def _sealed(event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": "2026-01-01T00:00:00.000000Z", "event": event, **fields} | {
        "writer": "0123456789abcdef",
        "seq": 1,
        "chain": "0" * 64,
    }


REFUSED = {
    "catalog_version": "2025-11@0123456789ab",
    "request_id": "r1",
    "api": "chat",
    "user": None,
    "model": None,
    "reason": "UnknownModel",
    "detail": "unknown model",
}


def test_problems__a_valid_record_has_none() -> None:
    assert records.problems(_sealed("route.refused", **REFUSED)) == []
    assert records.problems(_sealed("route.refused", **REFUSED, prev="f" * 64)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reason": None}, ["field 'reason' must be str (got NoneType)"]),
        ({"api": 3}, ["field 'api' must be str (got int)"]),
        ({"alternatives": ["Kimi K2", 4]}, ["field 'alternatives' must be list[str] (got list)"]),
        ({"secret": "x"}, ["field 'secret' is not declared for route.refused"]),
        ({"seq": True}, ["field 'seq' must be int (got bool)"]),
    ],
    ids=["a required str is null", "a str is a number", "a list holds a number",
         "an undeclared field", "a bool is no int"],
)  # fmt: skip
def test_problems__each_field_is_declared_and_of_its_type(
    change: dict[str, Any], expected: list[str]
) -> None:
    assert records.problems(_sealed("route.refused", **REFUSED) | change) == expected


def test_problems__names_every_missing_field_and_an_unknown_event() -> None:
    partial = _sealed("route.refused", **{k: v for k, v in REFUSED.items() if k != "request_id"})
    assert records.problems(partial) == ["missing field 'request_id'"]
    assert records.problems({"event": "route.guess"}) == [
        "event 'route.guess' is not declared in router/_audit/records.py"
    ]


def test_fields__optional_ones_are_optional() -> None:
    required, optional = records.fields("route.attempt")
    assert {"status_code", "blocked_at", "chunks", "dropped_params", "prev"} <= optional
    assert {"ts", "event", "request_id", "outcome", "sends", "writer", "chain"} <= required
    assert records.fields("preferences.changed")[1] == {"catalog_version", "prev", "withheld"}


def test_searched__every_field_the_readers_filter_by_is_declared_with_its_type() -> None:
    declared: dict[str, set[Any]] = {}
    for body in [*records.EVENTS.values(), records.Chained]:
        for name, hint in typing.get_type_hints(body).items():
            declared.setdefault(name, set()).add(hint)
    for name, hint in typing.get_type_hints(records.Searched).items():
        assert name in declared, name
        assert hint in declared[name] or set(typing.get_args(hint)) >= declared[name], name


def test_checkpoint__the_writers_checkpoints_follow_the_schema() -> None:
    lines: list[str] = []
    points: list[str] = []
    log = AuditLog(lines.append, key=KEY, checkpoint=points.append)
    log.emit("route.refused", **REFUSED)
    log.close()
    announced, point = [json.loads(p) for p in points]
    assert announced["event"] == "audit.writer"
    assert records.problems(announced) == []
    assert records.problems(point) == []
    assert records.problems(json.loads(lines[0])) == []
