"""``audit verify``: any edited, deleted, reordered or inserted record is found and located;
truncation after a checkpoint is found; an attempt its catalog rejects fails verification."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from router._audit import AuditLog
from router._audit.verify import Report, verify
from router._core.catalog_load import load_catalog
from router._core.decision import decide
from router._core.preferences import Preferences, version
from tests._support.repo import CURRENT_CATALOG, REPO

# Hand-made records test the writer and the verifier, not the router's schema.
pytestmark = pytest.mark.audit_free_form

KEY = b"audit-key-for-tests-0123456789ab"
POLICIES = REPO / "policies"
CATALOG = load_catalog(CURRENT_CATALOG)


NO_POLICY = version(Preferences())  # the operator policy of these logs: none


def decision(
    request: str, model: str, preferences: dict[str, Any], order: list[str]
) -> dict[str, Any]:
    """A decision as the router records it, made under ``preferences`` (the request's own
    privacy, no operator policy, nothing stored); routes left out of ``order`` are rejected
    for the deployment (no credentials); a route in ``order`` is claimed allowed."""
    subject = CATALOG.model(model)
    routes = CATALOG.routes_of(subject)
    unavailable = {r.key: "no credentials: set TEST_API_KEY" for r in routes if r.key not in order}
    made = decide(subject, routes, Preferences.from_dict(preferences), unavailable=unavailable)
    candidates = [
        {"route": c["route"], "provider": c["provider"], "verdict": "allowed"}
        if c["route"] in order
        else c
        for c in made.candidates()
    ]
    return {
        "catalog_version": CATALOG.label,
        "request_id": request,
        "user": "user-0123",
        "model": subject.slug,
        "preferences": made.preferences.to_dict(),
        "order": order,
        "candidates": candidates,
        "operator_policy_hash": NO_POLICY,
        "stored_preferences_version": None,
        "request_privacy": Preferences.from_dict(preferences).to_dict() if preferences else None,
        "offline": True,
    }


def attempt(request: str, route: str, **extra: Any) -> dict[str, Any]:
    found = next(r for r in CATALOG.routes if r.key == route)
    rule = found.policy.effective_user_identifier.value
    return {
        "catalog_version": CATALOG.label,
        "request_id": request,
        "user": "user-0123",
        "model": found.model.slug,
        "provider": found.provider.slug,
        "route": route,
        "attempt": 1,
        "outcome": "ok",
        "identifier_rule": rule,
        "scrubbed_removed": ["user"] if rule == "omit" else [],
        "scrubbed_replaced": ["user"] if rule == "pseudonymous" else [],
        "offline": True,
    } | extra


def kimi_routes(preferences: dict[str, Any]) -> list[str]:
    model = CATALOG.model("Kimi K2")
    made = decide(model, CATALOG.routes_of(model), Preferences.from_dict(preferences))
    return [r.key for r in made.allowed]


def write_log(path: Path, checkpoints: Path | None = None) -> list[str]:
    """Three requests (one failing over) and a preference change, as the router writes them."""
    log = AuditLog(path, key=KEY, checkpoint=checkpoints, checkpoint_every=100)
    strict = {"max_retention": "none"}
    order = kimi_routes(strict)
    log.emit("route.decision", **decision("r1", "kimi-k2", strict, order))
    log.emit("route.attempt", **attempt("r1", order[0]))
    log.emit(
        "preferences.changed", user="user-0123", actor="cli", action="set", old=None, new=strict
    )
    log.emit("route.decision", **decision("r2", "kimi-k2", strict, order))
    log.emit("route.attempt", **attempt("r2", order[0], outcome="timeout"))
    log.emit("route.attempt", **attempt("r2", order[1], attempt=2))
    log.close()
    return path.read_text().splitlines()


def check(path: Path, checkpoints: Path | None = None) -> Report:
    return verify(
        [path],
        key=KEY,
        policies=POLICIES,
        checkpoints=[checkpoints] if checkpoints else [],
        operator_policies=[{}],
    )


def test_verify__an_untouched_log_holds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, tmp_path / "cp.jsonl")
    found = check(path, tmp_path / "cp.jsonl")
    assert found.ok, found.to_dict()
    assert (found.records, found.writers, found.decisions, found.attempts) == (6, 1, 2, 3)
    assert found.checkpoints == 1


def _edit(lines: list[str], i: int) -> list[str]:
    record = json.loads(lines[i])
    record["user"] = "user-someone-else"
    return [*lines[:i], json.dumps(record), *lines[i + 1 :]]


def _delete(lines: list[str], i: int) -> list[str]:
    return [*lines[:i], *lines[i + 1 :]]


def _swap(lines: list[str], i: int) -> list[str]:
    out = list(lines)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _insert_copy(lines: list[str], i: int) -> list[str]:
    return [*lines[:i], lines[i - 1 if i else 1], *lines[i:]]


def _insert_plain(lines: list[str], i: int) -> list[str]:
    forged = {"ts": "2025-11-02T00:00:00Z", "event": "route.attempt", "request_id": "r1"}
    return [*lines[:i], json.dumps(forged), *lines[i:]]


def _insert_forged_chain(lines: list[str], i: int) -> list[str]:
    record = json.loads(lines[i])
    record["outcome"] = "ok"
    record["request_id"] = "forged"
    return [*lines[:i], json.dumps(record), *lines[i:]]


TAMPERING: list[tuple[str, Callable[[list[str], int], list[str]], int]] = [
    ("edit", _edit, 6),
    ("delete", _delete, 5),  # the last one: see the truncation test
    ("reorder", _swap, 5),
    ("insert-a-copy", _insert_copy, 6),
    ("insert-a-record-without-chain", _insert_plain, 6),
    ("insert-a-record-with-a-made-up-chain", _insert_forged_chain, 6),
]


@pytest.mark.parametrize(
    ("tamper", "positions"),
    [pytest.param(t, n, id=name) for name, t, n in TAMPERING],
)
def test_verify__any_single_record_tampered_with_is_found_at_its_line(
    tmp_path: Path, tamper: Callable[[list[str], int], list[str]], positions: int
) -> None:
    original = write_log(tmp_path / "original.jsonl")
    for i in range(positions):
        path = tmp_path / f"tampered-{i}.jsonl"
        path.write_text("\n".join(tamper(original, i)) + "\n")
        found = check(path)
        assert not found.ok, (i, found.to_dict())
        first = found.breaks[0]
        assert (first.file, first.line) == (str(path), i + 1), (i, found.to_dict())


def test_verify__edit_reports_the_records_checked_and_the_reason(tmp_path: Path) -> None:
    lines = write_log(tmp_path / "original.jsonl")
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join(_edit(lines, 3)) + "\n")
    found = check(path).to_dict()
    assert found["records"] == 6
    assert found["first_break"] == {
        "file": str(path),
        "line": 4,
        "writer": json.loads(lines[3])["writer"],
        "reason": "chain value does not match: the record was edited (or the key differs)",
    }


def test_verify__truncation_after_the_last_checkpoint_is_found(tmp_path: Path) -> None:
    path, points = tmp_path / "audit.jsonl", tmp_path / "checkpoints.jsonl"
    lines = write_log(path, points)
    for keep in (5, 3, 0):
        path.write_text("".join(f"{line}\n" for line in lines[:keep]))
        found = check(path, points)
        assert not found.ok
        assert found.breaks[-1].file == str(points)
        assert "truncated: a checkpoint at" in found.breaks[-1].reason
        assert "counts 6 records" in found.breaks[-1].reason


def test_verify__a_forged_checkpoint_is_refused(tmp_path: Path) -> None:
    path, points = tmp_path / "audit.jsonl", tmp_path / "checkpoints.jsonl"
    write_log(path, points)
    announced, checkpoint = points.read_text().splitlines()
    point = json.loads(checkpoint)
    point["seq"] = 3
    points.write_text(f"{announced}\n{json.dumps(point)}\n")
    found = check(path, points)
    assert [b.reason for b in found.breaks] == ["checkpoint's mac does not match: forged or edited"]


def test_verify__another_key_breaks_every_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path)
    found = verify([path], key=b"not the key", policies=POLICIES)
    assert len(found.breaks) == 6


def test_verify__a_rotated_log_verifies_across_its_files_and_not_without_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.emit("preferences.changed", action="set")
    log.emit("preferences.changed", action="set")
    path.rename(tmp_path / "audit.jsonl.1")
    log.emit("preferences.changed", action="delete")
    log.emit("preferences.changed", action="set")
    log.close()
    rotated = tmp_path / "audit.jsonl.1"
    assert verify([rotated, path], key=KEY, policies=POLICIES).ok
    assert verify([path], key=KEY, policies=POLICIES).ok  # starts from the 'prev' it names
    backwards = verify([path, rotated], key=KEY, policies=POLICIES)
    assert (backwards.breaks[0].file, backwards.breaks[0].line) == (str(rotated), 1)
    lines = path.read_text().splitlines()
    path.write_text(lines[1] + "\n")  # the new file's first record removed
    found = verify([rotated, path], key=KEY, policies=POLICIES)
    assert (found.breaks[0].file, found.breaks[0].line) == (str(path), 1)
    assert "record #4 follows #2" in found.breaks[0].reason


# -- the policy re-check ------------------------------------------------------------------


def policy_log(path: Path, *records: tuple[str, dict[str, Any]]) -> Report:
    log = AuditLog(path, key=KEY)
    for event, fields in records:
        log.emit(event, **fields)
    log.close()
    return verify([path], key=KEY, policies=POLICIES, operator_policies=[{}])


def test_verify__an_attempt_to_a_route_the_catalog_rejects_fails(tmp_path: Path) -> None:
    strict = {"max_retention": "none"}
    kept = next(r for r in CATALOG.routes if r.policy.effective_retention.seconds > 0)
    model = kept.model.slug
    found = policy_log(
        tmp_path / "audit.jsonl",
        ("route.decision", decision("r1", model, strict, [kept.key])),
        ("route.attempt", attempt("r1", kept.key)),
    )
    assert not found.breaks
    assert not found.ok
    assert [(v.line, v.route) for v in found.violations] == [
        (1, kept.key),  # its inputs reject the route the decision claims allowed
        (1, kept.key),  # and the order holds it
        (2, kept.key),  # and the attempt went there
    ]
    assert found.violations[0].reason.startswith("its inputs reject this route (it keeps API data")
    assert (
        "rejects it under the recorded preferences: it keeps API data" in found.violations[2].reason
    )


def test_verify__an_attempt_outside_its_decision_fails(tmp_path: Path) -> None:
    loose: dict[str, Any] = {}
    routes = kimi_routes(loose)
    found = policy_log(
        tmp_path / "audit.jsonl",
        ("route.decision", decision("r1", "kimi-k2", loose, routes[:1])),
        ("route.attempt", attempt("r1", routes[1])),
        ("route.attempt", attempt("r-without-decision", routes[0])),
    )
    assert [v.reason for v in found.violations] == [
        "route is not among those its decision allowed",
        "no route.decision for this request in the files given",
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"identifier_rule": "allowed"}, "identifier_rule 'allowed'; the catalog says 'omit'"),
        (
            {"scrubbed_replaced": ["user"], "scrubbed_removed": []},
            "fields user were replaced by a pseudonym on an 'omit' route",
        ),
    ],
    ids=["wrong-rule", "pseudonym-on-an-omit-route"],
)
def test_verify__scrubbed_fields_must_fit_the_routes_identifier_rule(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    routes = kimi_routes({})
    assert CATALOG.routes_of("Kimi K2")[0].policy.effective_user_identifier.value == "omit"
    found = policy_log(
        tmp_path / "audit.jsonl",
        ("route.decision", decision("r1", "kimi-k2", {}, routes)),
        ("route.attempt", attempt("r1", routes[0], **change)),
    )
    assert [v.reason for v in found.violations] == [reason]


def test_verify__an_unknown_catalog_version_fails(tmp_path: Path) -> None:
    record = decision("r1", "kimi-k2", {}, kimi_routes({})) | {
        "catalog_version": "2030-01@000000000000"
    }
    found = policy_log(tmp_path / "audit.jsonl", ("route.decision", record))
    assert found.violations[0].reason.startswith(
        "catalog version '2030-01@000000000000' is not among"
    )


def test_verify__routes_rejected_only_for_credentials_are_no_violation(tmp_path: Path) -> None:
    """The deployment may reject more than the policy; the policy re-check does not mind."""
    routes = kimi_routes({})
    found = policy_log(
        tmp_path / "audit.jsonl",
        ("route.decision", decision("r1", "kimi-k2", {}, routes[1:2])),
        ("route.attempt", attempt("r1", routes[1])),
    )
    assert found.ok, found.to_dict()


def test_verify__a_line_re_encoded_with_other_spacing_still_holds(tmp_path: Path) -> None:
    """Log shippers may re-encode JSON; the values and their order are what is protected."""
    lines = write_log(tmp_path / "original.jsonl")
    path = tmp_path / "reencoded.jsonl"
    path.write_text("".join(json.dumps(json.loads(line)) + "\n" for line in lines))
    assert check(path).ok


def test_verify__values_json_cannot_hold_are_written_as_text_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=KEY)
    log.emit("preferences.changed", where=Path("/x"), ratio=0.1, nested={"k": [1, 2.5, None]})
    log.close()
    assert json.loads(path.read_text())["where"] == "/x"
    assert verify([path], key=KEY, policies=POLICIES).ok


def test_verify__replicas_in_one_file_keep_their_own_chains(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines: list[str] = []
    first, second = AuditLog(lines.append, key=KEY), AuditLog(lines.append, key=KEY)
    for n in range(3):
        first.emit("preferences.changed", action="set", n=n)
        second.emit("preferences.changed", action="set", n=n)
    path.write_text("\n".join(lines) + "\n")
    found = check(path)
    assert found.ok
    assert found.writers == 2
    lines[3] = lines[3].replace('"n":1', '"n":7')  # the second writer's second record
    path.write_text("\n".join(lines) + "\n")
    found = check(path)
    assert [(b.line, b.writer) for b in found.breaks] == [(4, second.writer)]
