"""The audit writer's own identifier check: no record holds the request's raw user id."""

from __future__ import annotations

import json
from typing import Final

from router._audit import AuditLog
from router._audit.withhold import WITHHELD, withheld

USER: Final = "patient-4417-x"


REFUSED: Final = {
    "catalog_version": "v@0123456789ab",
    "request_id": "r1",
    "api": "chat",
    "user": "user-0123456789abcdef0123",
    "model": None,
    "reason": "InvalidRequest",
}


def test_emit__a_value_holding_the_id_is_withheld_and_its_place_named() -> None:
    lines: list[str] = []
    log = AuditLog(lines.append)
    detail = f"unsupported argument {USER!r}"
    log.emit("route.refused", REFUSED, avoid=USER, detail=detail, alternatives=["x", f"for {USER}"])
    (line,) = lines
    assert USER not in line
    record = json.loads(line)
    assert record["detail"] == WITHHELD
    assert record["alternatives"] == ["x", WITHHELD]
    assert record["withheld"] == ["detail", "alternatives[1]"]
    assert (record["event"], record["request_id"], record["api"]) == ("route.refused", "r1", "chat")


def test_emit__a_key_holding_the_id_is_named_by_position() -> None:
    lines: list[str] = []
    changed = {"request_id": "r1", "user": "user-0123", "actor": "api", "action": "set"}
    AuditLog(lines.append).emit(
        "preferences.changed", changed, avoid=USER, old=None, new={"a": 1, USER: 2}
    )
    record = json.loads(lines[0])
    assert USER not in lines[0]
    assert record["new"] == {"a": 1, "{withheld#1}": 2}
    assert record["withheld"] == ["new.{key#1}"]


def test_emit__without_the_id_the_record_is_unchanged() -> None:
    record = {"event": "route.decision", "user": "user-abc", "model": "gpt-4-1"}
    assert withheld(record, USER) is record


def test_emit__the_routers_vocabulary_is_not_withheld() -> None:
    """A user whose id is a word the router uses (an API name, a provider slug) does not
    erase the record's own fields: they are not caller data."""
    record = {"event": "route.attempt", "api": "chat", "provider": "chat", "detail": "chat"}
    out = withheld(record, "chat")
    assert (out["api"], out["provider"], out["detail"]) == ("chat", "chat", WITHHELD)


def test_emit__a_short_id_matches_as_a_word_of_its_own() -> None:
    record = {"event": "route.refused", "detail": "about bob's request", "a": "bobcat", "b": "bob"}
    out = withheld(record, "bob")
    assert (out["detail"], out["a"], out["b"]) == (WITHHELD, "bobcat", WITHHELD)
    assert out["withheld"] == ["detail", "b"]
