"""UserPreferences: validated, durable, audited changes, against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from router import InvalidPreferences, Preferences, StoreUnavailable, UnknownProvider
from router._audit import AuditLog
from router._audit.chain import CHAIN_FIELDS
from router._core.pseudonym import Pseudonymizer
from router._pipeline.user_preferences import UserPreferences
from router._store import PreferenceStore, open_store
from tests._support.stores import BACKENDS, make_backend

USER = "alice.liddell@example.com"
PSEUDONYMS = Pseudonymizer(b"k" * 32)
KNOWN_PROVIDERS = frozenset({"anthropic", "mistral", "openai"})


def only_known_providers(prefs: Preferences) -> Preferences:
    """A stand-in for the router's catalog check: unknown providers are refused."""
    named = (prefs.allow_providers or frozenset()) | prefs.deny_providers
    for name in sorted(named - KNOWN_PROVIDERS):
        raise UnknownProvider(name, sorted(KNOWN_PROVIDERS))
    return prefs


@dataclass
class Subject:
    api: UserPreferences
    store: PreferenceStore
    lines: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture(params=BACKENDS)
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    async with make_backend(request.param, tmp_path) as backend:
        store = await open_store(backend.url)
        lines: list[str] = []
        api = UserPreferences(store, AuditLog(lines.append), PSEUDONYMS, only_known_providers)
        yield Subject(api, store, lines)
        await store.aclose()


async def test_get__unknown_user_is_none(subject: Subject) -> None:
    assert await subject.api.get(USER) is None


async def test_set__accepts_a_dict_and_returns_what_was_stored(subject: Subject) -> None:
    stored = await subject.api.set(USER, {"max_retention": "none", "deny_providers": ["OpenAI"]})
    expected = Preferences(max_retention="none", deny_providers=frozenset({"openai"}))
    assert stored == expected
    assert await subject.api.get(USER) == expected


async def test_set__stores_what_validate_returns(subject: Subject) -> None:
    api = UserPreferences(
        subject.store,
        AuditLog(subject.lines.append),
        PSEUDONYMS,
        lambda p: Preferences(max_retention=p.max_retention, allow_training=False),
    )
    assert await api.set(USER, Preferences(max_retention="30d")) == Preferences(
        max_retention="30d", allow_training=False
    )
    assert await subject.store.get(USER) == Preferences(max_retention="30d", allow_training=False)


async def test_set__audits_pseudonym_actor_old_and_new(subject: Subject) -> None:
    await subject.api.set(USER, {"max_retention": "30d"})
    await subject.api.set(USER, {"max_retention": "none", "allow_training": False}, actor="cli")
    ids = [r["request_id"] for r in subject.records()]
    assert len(set(ids)) == 2  # each change without a caller's id gets its own
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    records = [
        {k: v for k, v in r.items() if k not in ("ts", "request_id", *CHAIN_FIELDS)}
        for r in subject.records()
    ]
    assert records == [
        {
            "event": "preferences.changed",
            "user": PSEUDONYMS.for_audit(USER),
            "actor": "api",
            "action": "set",
            "old": None,
            "new": {"max_retention": "30d"},
        },
        {
            "event": "preferences.changed",
            "user": PSEUDONYMS.for_audit(USER),
            "actor": "cli",
            "action": "set",
            "old": {"max_retention": "30d"},
            "new": {"max_retention": "none", "allow_training": False},
        },
    ]


async def test_audit__never_contains_the_raw_user_id(subject: Subject) -> None:
    await subject.api.set(USER, {"max_retention": "24h"})
    await subject.api.delete(USER)
    assert len(subject.lines) == 2
    for line in subject.lines:
        assert USER not in line
        assert "alice" not in line


async def test_delete__audits_and_returns_true(subject: Subject) -> None:
    await subject.api.set(USER, {"max_retention": "24h"})
    subject.lines.clear()
    assert await subject.api.delete(USER, actor="admin") is True
    assert await subject.api.get(USER) is None
    [record] = subject.records()
    assert {k: record[k] for k in ("event", "user", "actor", "action", "old", "new")} == {
        "event": "preferences.changed",
        "user": PSEUDONYMS.for_audit(USER),
        "actor": "admin",
        "action": "delete",
        "old": {"max_retention": "24h"},
        "new": None,
    }


async def test_delete__unknown_user_returns_false_and_audits_nothing(subject: Subject) -> None:
    assert await subject.api.delete(USER) is False
    assert subject.lines == []


@pytest.mark.parametrize(
    ("prefs", "error", "message"),
    [
        pytest.param(
            {"max_retention": "3 weeks ago"},
            InvalidPreferences,
            "'max_retention' must be 'none', a duration like '24h', '30d', '90d' or '2y', "
            "or 'unlimited' (got a string of 11 characters)",
            id="a retention that does not parse",
        ),
        pytest.param(
            {"retention": "24h"},
            InvalidPreferences,
            "unknown preference field 'retention'; expected one of: max_retention, "
            "allow_flagged_retention, allow_training, allow_providers, deny_providers, "
            "require_parameters",
            id="an unknown field",
        ),
        pytest.param(
            {"deny_providers": ["openai", "acme"]},
            UnknownProvider,
            "unknown provider (a name of 4 characters): name a provider by display name or slug "
            "(known: anthropic, mistral, openai)",
            id="a provider validate does not know",
        ),
    ],
)
async def test_set__invalid_preferences_write_nothing_and_audit_nothing(
    subject: Subject, prefs: dict[str, Any], error: type[Exception], message: str
) -> None:
    await subject.api.set(USER, {"max_retention": "30d"})
    subject.lines.clear()
    with pytest.raises(error) as caught:
        await subject.api.set(USER, prefs)
    assert str(caught.value) == message
    assert await subject.store.get(USER) == Preferences(max_retention="30d")
    assert subject.lines == []


async def test_set__store_unavailable_audits_nothing(subject: Subject) -> None:
    await subject.store.aclose()
    with pytest.raises(StoreUnavailable):
        await subject.api.set(USER, {"max_retention": "30d"})
    assert subject.lines == []


@pytest.mark.parametrize(
    ("user", "message"),
    [
        pytest.param(
            "",
            "user id must be a non-empty string of at most 256 characters (got an empty string)",
            id="empty",
        ),
        pytest.param(
            None,
            "user id must be a non-empty string of at most 256 characters (got NoneType)",
            id="not a string",
        ),
        pytest.param(
            "u" * 257,
            "user id must be at most 256 characters (got 257 characters)",
            id="too long",
        ),
        pytest.param(
            "alice\x00",
            "user id must not contain control characters (tab, newline, NUL…)",
            id="a NUL character",
        ),
    ],
)
async def test_user_id__refused_by_every_method(subject: Subject, user: Any, message: str) -> None:
    for call in (
        subject.api.get(user),
        subject.api.set(user, {"max_retention": "none"}),
        subject.api.delete(user),
    ):
        with pytest.raises(InvalidPreferences) as caught:
            await call
        assert str(caught.value) == message
    assert await subject.store.list_users() == []
    assert subject.lines == []


async def test_user_id__256_characters_and_unicode_accepted(subject: Subject) -> None:
    longest, accented = "u" * 256, "émile ☃"
    for user in (longest, accented):
        await subject.api.set(user, {"allow_training": False})
    assert await subject.api.list_users() == sorted([longest, accented])


async def test_list_users__pages_with_after(subject: Subject) -> None:
    for user in ("carol", "alice", "bob"):
        await subject.api.set(user, {"max_retention": "24h"})
    assert await subject.api.list_users(limit=2) == ["alice", "bob"]
    assert await subject.api.list_users(limit=2, after="bob") == ["carol"]
    assert await subject.api.list_users(after="carol") == []


@pytest.mark.parametrize("limit", [0, -1, 1001, True, 2.5])
async def test_list_users__limit_out_of_range_is_refused(subject: Subject, limit: Any) -> None:
    with pytest.raises(InvalidPreferences) as caught:
        await subject.api.list_users(limit=limit)
    assert str(caught.value) == f"'limit' must be an integer from 1 to 1000 (got {limit!r})"


async def test_ping__reachable_store_returns(subject: Subject) -> None:
    await subject.api.ping()


def test_check_user__refuses_exactly_unicodes_control_and_surrogate_characters() -> None:
    import unicodedata

    from router._pipeline.user_preferences import check_user

    refused = set()
    for point in range(0x110000):
        try:
            check_user(f"user-{chr(point)}")
        except InvalidPreferences:
            refused.add(point)
    expected = {p for p in range(0x110000) if unicodedata.category(chr(p)) in {"Cc", "Cs"}}
    assert refused == expected


@pytest.mark.parametrize(
    ("user", "says"),
    [
        ("a\x00b", "control characters"),
        ("a\x9fb", "control characters"),
        (f"a{chr(0xD800)}b", "lone surrogate"),
        (f"a{chr(0xDFFF)}b", "lone surrogate"),
        (f"{chr(0xD800)}\x00", "control characters"),  # both: the control character is named first
    ],
)
def test_check_user__names_what_is_at_fault(user: str, says: str) -> None:
    from router._pipeline.user_preferences import check_user

    with pytest.raises(InvalidPreferences, match=says):
        check_user(user)
