"""The tamper matrix: a log the router itself wrote, tampered with one way per row, is refused
by ``audit verify``, with the checkpoint file the router wrote and without it.

Rows that a key holder writes are re-sealed with the audit key (every chain value after the
change recomputed), so only recomputation catches them without the checkpoint file. A few rows
need the checkpoint file (kept apart from the log, say shipped off the host as it is written):
cutting records off the end, a foreign chain under the same key, and a key holder's rewrite
consistent in every field; they run in that column only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from router import PolicyRouter, PolicyViolation
from router._audit import AuditLog, chain
from router._audit.verify import Report, verify
from router._config.settings import Settings
from tests._support.repo import REPO

KEY: Final = "audit-key-for-the-tamper-matrix-5e1f"
POLICIES: Final = REPO / "policies"
ORG: Final = {"allow_training": False}
USER: Final = "alice-tamper"
MESSAGES: Final = [{"role": "user", "content": "hi"}]

Lines = list[dict[str, Any]]


async def _write(tmp: Path) -> None:
    """Four requests through a real router (offline): one served under stored preferences and
    the request's privacy, one served under the operator policy alone, one refused by policy."""
    settings = Settings(
        offline=True,
        data_dir=tmp / "data",
        store_url=f"sqlite:///{tmp / 'prefs.sqlite3'}",
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
        audit_key=KEY,
        audit=str(tmp / "audit.jsonl"),
        audit_checkpoint=str(tmp / "checkpoints.jsonl"),
        org=ORG,
        # A module-scoped fixture runs before the suite's autouse settings: without this the
        # router would set litellm's process-wide transport to aiohttp, out of respx's sight
        # for the tests that run after this module.
        transport="httpx",
    )
    async with PolicyRouter.from_settings(settings) as router:
        await router.preferences.set(USER, {"max_retention": "30d"})
        privacy = {"deny_providers": ["groq"]}
        await router.acompletion("Kimi K2", MESSAGES, USER, privacy=privacy, request_id="served")
        await router.acompletion("Kimi K2", MESSAGES, request_id="plain")
        with pytest.raises(PolicyViolation):
            await router.acompletion(
                "Kimi K2", MESSAGES, USER, privacy={"allow_providers": ["openai"]}, request_id="no"
            )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lines, str]:
    tmp = tmp_path_factory.mktemp("tamper")
    asyncio.run(_write(tmp))
    lines = [json.loads(line) for line in (tmp / "audit.jsonl").read_text().splitlines()]
    return lines, (tmp / "checkpoints.jsonl").read_text()


def check(tmp: Path, records: Lines, points: str | None) -> Report:
    path = tmp / "audit.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    given = []
    if points is not None:
        (tmp / "checkpoints.jsonl").write_text(points)
        given = [tmp / "checkpoints.jsonl"]
    # without the checkpoint file the verifier knows the operator policy from its own settings
    return verify(
        [path], key=KEY.encode(), policies=POLICIES, checkpoints=given, operator_policies=[ORG]
    )


def reseal(records: Lines, key: bytes = KEY.encode()) -> Lines:
    """Every record's ``seq`` and ``chain`` made anew under ``key``: what a key holder can do."""
    out: Lines = []
    heads: dict[str, str] = {}
    counts: dict[str, int] = {}
    for record in records:
        fresh = {k: v for k, v in record.items() if k != "chain"}
        writer = fresh["writer"]
        counts[writer] = counts.get(writer, 0) + 1
        fresh["seq"] = counts[writer]
        prev = heads.get(writer, fresh.get("prev", chain.GENESIS))
        fresh["chain"] = chain.record_chain(key, prev, fresh)
        heads[writer] = fresh["chain"]
        out.append(fresh)
    return out


def _index(records: Lines, event: str, request: str) -> int:
    return next(
        i for i, r in enumerate(records) if r["event"] == event and r["request_id"] == request
    )


# -- the tampering, one function per row --------------------------------------------------


def edit_a_decision(records: Lines) -> Lines:
    i = _index(records, "route.decision", "served")
    return [*records[:i], records[i] | {"order": []}, *records[i + 1 :]]


def delete_an_attempt(records: Lines) -> Lines:
    i = _index(records, "route.attempt", "served")
    return [*records[:i], *records[i + 1 :]]


def swap_two_records(records: Lines) -> Lines:
    i = _index(records, "route.decision", "plain")
    return [*records[:i], records[i + 1], records[i], *records[i + 2 :]]


def cut_the_last_records(records: Lines) -> Lines:
    return records[:-2]


def add_a_foreign_chain(records: Lines, key: bytes = KEY.encode()) -> Lines:
    lines: list[str] = []
    foreign = AuditLog(lines.append, key=key)
    for event in ("route.decision", "route.attempt"):
        found = records[_index(records, event, "plain")]
        foreign.emit(event, **{k: v for k, v in found.items() if k not in chain.CHAIN_FIELDS | {"ts", "event"}})  # fmt: skip
    return [*records, *map(json.loads, lines)]


def add_a_foreign_chain_under_another_key(records: Lines) -> Lines:
    return add_a_foreign_chain(records, b"another-key-altogether-0123456789")


def erase_preferences_and_the_route_they_rejected(records: Lines) -> Lines:
    """The groq route, rejected by the request's deny_providers, shown allowed and first."""
    i = _index(records, "route.decision", "served")
    record = dict(records[i])
    rejected = next(c for c in record["candidates"] if c["verdict"] == "rejected")
    record["preferences"] = {k: v for k, v in record["preferences"].items() if k != "deny_providers"}  # fmt: skip
    record["candidates"] = [
        {"route": c["route"], "provider": c["provider"], "verdict": "allowed"}
        if c is rejected
        else c
        for c in record["candidates"]
    ]
    record["order"] = [rejected["route"], *record["order"]]
    return reseal([*records[:i], record, *records[i + 1 :]])


def erase_privacy_preferences_and_rejection_consistently(records: Lines) -> Lines:
    """As above, and the request's privacy too: every field agrees; only the chain knows."""
    out = erase_preferences_and_the_route_they_rejected(records)
    i = _index(out, "route.decision", "served")
    out[i] = out[i] | {"request_privacy": None}
    out[i]["candidates"] = [
        {k: v for k, v in c.items() if k != "reasons"} | {"verdict": "allowed"}
        for c in out[i]["candidates"]
    ]
    out[i]["order"] = [c["route"] for c in out[i]["candidates"]]
    return reseal(out)


def drop_a_rejected_candidate(records: Lines) -> Lines:
    i = _index(records, "route.decision", "served")
    kept = [c for c in records[i]["candidates"] if c["verdict"] != "rejected"]
    return reseal([*records[:i], records[i] | {"candidates": kept}, *records[i + 1 :]])


def point_a_decision_at_another_operator_policy(records: Lines) -> Lines:
    i = _index(records, "route.decision", "plain")
    record = records[i] | {"operator_policy_hash": "0123456789abcdef"}
    return reseal([*records[:i], record, *records[i + 1 :]])


def change_an_attempts_provider(records: Lines) -> Lines:
    i = _index(records, "route.attempt", "plain")
    other = "nebius" if records[i]["provider"] != "nebius" else "groq"
    return reseal([*records[:i], records[i] | {"provider": other}, *records[i + 1 :]])


def rewrite_a_refusal_as_unconfigured_backends(records: Lines) -> Lines:
    i = _index(records, "route.refused", "no")
    record = records[i] | {"reason": "BackendsUnconfigured"}
    return reseal([*records[:i], record, *records[i + 1 :]])


def add_a_refusal_to_a_served_request(records: Lines) -> Lines:
    i = _index(records, "route.decision", "plain")
    refusal = records[_index(records, "route.refused", "no")] | {"request_id": "plain"}
    return reseal([*records[: i + 1], refusal, *records[i + 1 :]])


def move_a_refusal_to_another_request(records: Lines) -> Lines:
    i = _index(records, "route.refused", "no")
    return reseal([*records[:i], records[i] | {"request_id": "never-decided"}, *records[i + 1 :]])


Tamper = Callable[[Lines], Lines]
BOTH, WITH_CHECKPOINTS = ("with the checkpoint file", "without it"), ("with the checkpoint file",)
EDITED, SEEN = "the record was edited", "record differs from the one a checkpoint saw"
# (the row as a sentence, the tampering, the columns it runs in, what verify must say)
MATRIX: list[tuple[str, Tamper, tuple[str, ...], str]] = [
    ("an edited decision is found", edit_a_decision, BOTH, EDITED),
    ("a deleted attempt is found", delete_an_attempt, BOTH, "records missing"),
    ("two records swapped are found", swap_two_records, BOTH, "repeated or out of order"),
    (
        "records cut off after a checkpoint are found",
        cut_the_last_records,
        WITH_CHECKPOINTS,
        "truncated: a checkpoint at",
    ),
    (
        "a foreign chain under the same key is found",
        add_a_foreign_chain,
        WITH_CHECKPOINTS,
        "foreign chain: this writer never announced itself",
    ),
    (
        "a foreign chain under another key is found",
        add_a_foreign_chain_under_another_key,
        BOTH,
        "(or the key differs)",
    ),
    (
        "a key holder erasing preferences and the route they rejected is found",
        erase_preferences_and_the_route_they_rejected,
        BOTH,
        "are not what its inputs make",
    ),
    (
        "a key holder erasing privacy, preferences and rejection alike is found",
        erase_privacy_preferences_and_rejection_consistently,
        WITH_CHECKPOINTS,
        SEEN,
    ),
    (
        "a key holder dropping a rejected candidate is found",
        drop_a_rejected_candidate,
        BOTH,
        "of the model is missing from the decision's candidates",
    ),
    (
        "a key holder naming another operator policy is found",
        point_a_decision_at_another_operator_policy,
        BOTH,
        "its operator policy was announced by no writer",
    ),
    (
        "a key holder changing an attempt's provider is found",
        change_an_attempts_provider,
        BOTH,
        "but its route's provider is",
    ),
    (
        "a key holder rewriting a policy refusal as unconfigured backends is found",
        rewrite_a_refusal_as_unconfigured_backends,
        BOTH,
        "refused as unconfigured backends, though its inputs reject routes by policy",
    ),
    (
        "a key holder adding a refusal to a served request is found",
        add_a_refusal_to_a_served_request,
        BOTH,
        "refused (PolicyViolation) although its decision allowed",
    ),
    (
        "a key holder moving a refusal to a request never decided is found",
        move_a_refusal_to_another_request,
        BOTH,
        "refusal without a route.decision for this request",
    ),
]


@pytest.mark.parametrize("mode", ["with the checkpoint file", "without it"])
def test_tamper__the_log_the_router_wrote_verifies(
    tmp_path: Path, written: tuple[Lines, str], mode: str
) -> None:
    records, points = written
    found = check(tmp_path, records, points if mode != "without it" else None)
    assert found.ok, found.to_dict()
    assert (found.decisions, found.attempts, found.refusals) == (3, 2, 1)
    assert found.announcements_checked is (mode != "without it")


@pytest.mark.parametrize(
    ("tamper", "mode", "said"),
    [
        pytest.param(tamper, mode, said, id=f"{name}, {mode}")
        for name, tamper, modes, said in MATRIX
        for mode in modes
    ],
)
def test_tamper__is_detected(
    tmp_path: Path, written: tuple[Lines, str], tamper: Tamper, mode: str, said: str
) -> None:
    records, points = written
    found = check(tmp_path, tamper(records), points if mode != "without it" else None)
    assert not found.ok
    reasons = [b.reason for b in found.breaks] + [v.reason for v in found.violations]
    assert any(said in reason for reason in reasons), reasons
