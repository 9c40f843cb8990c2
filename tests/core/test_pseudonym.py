"""Pseudonymizer: keyed, stable pseudonyms, one per provider and another for the audit log."""

from __future__ import annotations

import hmac
import re

import pytest

from router._core import pseudonym
from router._core.pseudonym import Pseudonymizer

KEY = b"k" * 32
USER = "alice.liddell@example.com"


def test_for_provider__is_stable_for_a_key_across_instances() -> None:
    # Fixed values: a pseudonym that changed between releases would split a user's history
    # at every provider (and stored pseudonyms would stop matching).
    assert (
        Pseudonymizer(KEY).for_provider("alice", "openai") == "u-465611ab9f68b4cfc9be04841426c928"
    )
    assert Pseudonymizer(KEY).for_provider("alice", "groq") == "u-d4ffe5654ec093148246011ad2d0685c"
    assert Pseudonymizer(KEY).for_audit("alice") == "user-b8e18a0714a474fc1094"


def test_for_provider__differs_per_provider_so_providers_cannot_join_logs() -> None:
    p = Pseudonymizer(KEY)
    seen = {p.for_provider(USER, provider) for provider in ("openai", "groq", "nebius")}
    assert len(seen) == 3
    assert p.for_audit(USER) not in seen


def test_pseudonyms__differ_per_user_and_per_key() -> None:
    p = Pseudonymizer(KEY)
    assert p.for_provider("alice", "openai") != p.for_provider("bob", "openai")
    assert p.for_audit("alice") != p.for_audit("bob")
    other = Pseudonymizer(b"x" * 32)
    assert other.for_provider("alice", "openai") != p.for_provider("alice", "openai")
    assert other.for_audit("alice") != p.for_audit("alice")


def test_pseudonyms__have_a_fixed_shape_and_hold_nothing_of_the_user() -> None:
    p = Pseudonymizer(KEY)
    provider, audit = p.for_provider(USER, "openai"), p.for_audit(USER)
    assert re.fullmatch(r"u-[0-9a-f]{32}", provider)
    assert re.fullmatch(r"user-[0-9a-f]{20}", audit)
    assert "alice" not in provider + audit


def test_context_and_user__cannot_be_shifted_into_each_other() -> None:
    """User 'x' at provider 'ab' and user 'bx' at provider 'a' join to the same text but for
    the separator between them."""
    p = Pseudonymizer(KEY)
    assert p.for_provider("x", "ab") != p.for_provider("bx", "a")


def test_repr__hides_the_key() -> None:
    assert repr(Pseudonymizer(b"secret-key-material")) == "Pseudonymizer(key=<hidden>)"
    assert "secret" not in str(Pseudonymizer(b"secret-key-material"))


def _hmac(context: str, user: str) -> str:
    return hmac.digest(KEY, f"{context}\x00{user}".encode(), "sha256").hex()


def test_pseudonyms__remembered_answer_what_the_hmac_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked again (from the memo), and after the memo filled up and started again."""
    monkeypatch.setattr(pseudonym, "MEMO_SIZE", 2)
    p = Pseudonymizer(KEY)
    for _ in range(3):
        for i in range(5):
            assert p.for_audit(f"id-{i}") == "user-" + _hmac("audit", f"id-{i}")[:20]
            assert (
                p.for_provider(f"id-{i}", "groq") == "u-" + _hmac("provider:groq", f"id-{i}")[:32]
            )
            assert len(p._memo) <= 2
    other = Pseudonymizer(b"x" * 32)
    assert other.for_audit("id-0") != p.for_audit("id-0")  # one memo per key
