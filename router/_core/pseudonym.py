"""Keyed pseudonyms of user identifiers: HMAC-SHA-256 under the operator's key.

One user gets a different pseudonym per provider (providers cannot join their logs) and
another one in the audit log, all stable across restarts and replicas sharing the key.

A pseudonym is a pure function of the key and the id, so each ``Pseudonymizer`` keeps the
last ``MEMO_SIZE`` it made (per context and id): a user's requests after the first cost a
dictionary lookup, not an HMAC (OpenSSL's one-shot HMAC fetches the digest each time: about
20k instructions per call).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Final

MEMO_SIZE: Final = 4096  # pseudonyms kept per Pseudonymizer; past it the memo starts again


@dataclass(frozen=True, slots=True)
class Pseudonymizer:
    key: bytes
    _memo: dict[tuple[str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<hidden>)"

    def _digest(self, context: str, user: str) -> str:
        memo = self._memo
        found = memo.get((context, user))
        if found is not None:
            return found
        # surrogatepass: a lone surrogate (refused, but audited) hashes; valid text is unchanged
        message = f"{context}\x00{user}".encode("utf-8", "surrogatepass")
        made = hmac.digest(self.key, message, "sha256").hex()[:32]  # one call: OpenSSL's
        if len(memo) >= MEMO_SIZE:
            memo.clear()  # bounded: a flood of new ids costs an HMAC each, never memory
        memo[context, user] = made
        return made

    def for_provider(self, user: str, provider: str) -> str:
        """The identifier a ``pseudonymous`` route receives instead of the user's id."""
        return "u-" + self._digest(f"provider:{provider}", user)

    def for_name(self, name: str) -> str:
        """How the audit log names a model name that the catalog does not know: it proves what
        was asked (recompute it from a guess) without holding it."""
        return "name-" + self._digest("asked", name)[:20]

    def for_audit(self, user: str) -> str:
        """How the audit log names a user: never the raw id."""
        return "user-" + self._digest("audit", user)[:20]
