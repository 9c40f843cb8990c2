"""Each end user's stored preferences, as ``PolicyRouter.preferences`` exposes them.

Every change is validated first (an invalid one writes nothing and logs nothing), written
durably, then recorded in the audit log as ``preferences.changed`` with the user's pseudonym,
never the raw id.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from router._audit import AuditLog
from router._audit.records import Catalogued, PreferencesChanged
from router._core.preferences import Preferences, merge
from router._core.pseudonym import Pseudonymizer
from router._errors import InvalidPreferences, StoredPreferencesInvalid, UnknownProvider
from router._store.base import PreferenceStore

MAX_USER_LENGTH: Final = 256
# Unicode's categories Cc (control characters) and Cs (surrogates): fixed ranges, one search
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_REFUSED: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # either: one search
MAX_PAGE: Final = 1000


class UserPreferences:
    """Read, change and list users' preferences; every change is audited."""

    def __init__(
        self,
        store: PreferenceStore,
        audit: AuditLog,
        pseudonymizer: Pseudonymizer,
        validate: Callable[[Preferences], Preferences] | None = None,
        audit_fields: Catalogued | None = None,
    ) -> None:
        """``audit_fields`` go into every record (the router passes its catalog version)."""
        self._store = store
        self.audit_fields = audit_fields or Catalogued()
        self._audit = audit
        self._pseudonymizer = pseudonymizer
        self._validate = validate
        self._changing = asyncio.Lock()

    async def get(self, user: str) -> Preferences | None:
        """The user's stored preferences, or ``None`` if they have stored none.

        What is read is validated again as a write is (the catalog may have changed since):
        a provider it no longer has raises ``StoredPreferencesInvalid``, never read as absent."""
        stored = await self._store.get(check_user(user))
        if stored is None or self._validate is None:
            return stored
        try:
            return self._validate(stored)
        except (UnknownProvider, InvalidPreferences) as exc:
            stale = f"provider {exc.name!r}" if isinstance(exc, UnknownProvider) else str(exc)
            raise StoredPreferencesInvalid(
                f"stored preferences name {stale}, which the catalog does not have: requests "
                "for this user are refused until their preferences are set again (PUT "
                "/v1/users/{user}/preferences, or 'policy-router prefs set') or deleted"
            ) from exc

    async def set(
        self,
        user: str,
        prefs: Preferences | Mapping[str, Any],
        *,
        actor: str = "api",
        request_id: str | None = None,
    ) -> Preferences:
        """Validate and store the user's preferences; return them as stored.

        ``actor`` (who made the change) and ``request_id`` go into the audit record."""
        user = check_user(user)
        new = Preferences.from_dict(prefs)
        if self._validate is not None:
            new = self._validate(new)
        async with self._changing:
            old = await self._store.set(user, new)
        self._changed(user, actor, request_id, "set", old, new)
        return new

    async def update(
        self,
        user: str,
        patch: Mapping[str, Any] | Preferences,
        *,
        actor: str = "api",
        request_id: str | None = None,
    ) -> Preferences:
        """Change only the fields ``patch`` names (JSON Merge Patch: ``None`` removes a field)
        and keep the others; return the preferences as stored. A ``Preferences`` patch names
        the fields it constrains. Audited as ``preferences.changed`` with action ``update``.

        The read and the write are serialised within this process; two processes updating
        one user at once can lose one update (the last write wins)."""
        user = check_user(user)
        fields = patch.to_dict() if isinstance(patch, Preferences) else patch
        if not isinstance(fields, Mapping):
            raise InvalidPreferences(
                f"a preferences patch must be an object of preference fields (got {type(fields).__name__})"
            )
        async with self._changing:
            new = merge(await self._store.get(user), fields)
            if self._validate is not None:
                new = self._validate(new)
            old = await self._store.set(user, new)
        self._changed(user, actor, request_id, "update", old, new)
        return new

    async def delete(self, user: str, *, actor: str = "api", request_id: str | None = None) -> bool:
        """Forget the user's preferences; ``False`` if there were none."""
        old = await self._store.delete(check_user(user))
        if old is None:
            return False
        self._changed(user, actor, request_id, "delete", old, None)
        return True

    async def list_users(self, limit: int = 100, after: str | None = None) -> list[str]:
        """Users with stored preferences, sorted; pass the last one as ``after`` for the next page."""
        return await self._store.list_users(limit=_page_size(limit), after=after)

    async def page(self, limit: int = 100, after: str | None = None) -> tuple[list[str], bool]:
        """``list_users`` and whether more users follow the page."""
        users = await self._store.list_users(limit=_page_size(limit) + 1, after=after)
        return users[:limit], len(users) > limit

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the store cannot be used."""
        await self._store.ping()

    async def aclose(self) -> None:
        await self._store.aclose()

    def _changed(
        self,
        user: str,
        actor: str,
        request_id: str | None,
        action: str,
        old: Preferences | None,
        new: Preferences | None,
    ) -> None:
        record = PreferencesChanged(
            **self.audit_fields,
            request_id=request_id or uuid.uuid4().hex,
            user=self._pseudonymizer.for_audit(user),
            actor=actor,
            action=action,
            old=None if old is None else old.to_dict(),
            new=None if new is None else new.to_dict(),
        )
        self._audit.emit("preferences.changed", record, avoid=user)


def _page_size(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidPreferences(f"'limit' must be an integer from 1 to {MAX_PAGE} (got {limit!r})")
    return limit


def check_user(user: object) -> str:
    """A user id as accepted: a non-empty string of at most 256 characters, no control characters."""
    if not isinstance(user, str) or not user:
        raise InvalidPreferences(
            f"user id must be a non-empty string of at most {MAX_USER_LENGTH} characters "
            f"(got {_describe(user)})"
        )
    if len(user) > MAX_USER_LENGTH:
        raise InvalidPreferences(
            f"user id must be at most {MAX_USER_LENGTH} characters (got {len(user)} characters)"
        )
    if _REFUSED.search(user) is None:
        return user  # the common case: one search, then which one is at fault if not
    if _CONTROL.search(user):
        raise InvalidPreferences("user id must not contain control characters (tab, newline, NUL…)")
    if _SURROGATE.search(user):
        raise InvalidPreferences(
            "user id must be valid Unicode text (got a lone surrogate, such as '\\ud800' in JSON)"
        )
    return user


def _describe(user: object) -> str:
    return "an empty string" if user == "" else type(user).__name__
