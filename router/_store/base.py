"""The preference store: where each user's preferences persist, shared by every replica.

``open_store(url)`` picks the backend by the URL's scheme: ``sqlite:///path`` (one host) or
``postgresql://`` (several replicas). Both keep one row per user, the JSON of
``Preferences.to_dict()`` and the time it was written, in a schema that ``MIGRATIONS`` creates
and extends on open. There is no cache: every ``get`` reads the database, so a value that
``set`` returned on one replica is what every other replica reads next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from router._config.settings import STORE_TIMEOUT_SECONDS
from router._core.preferences import Preferences
from router._errors import (
    ConfigError,
    InvalidPreferences,
    StoredPreferencesInvalid,
    StoreUnavailable,
)

SQLITE_PREFIX: Final = "sqlite:///"
DEFAULT_TIMEOUT_SECONDS: Final = STORE_TIMEOUT_SECONDS
POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
ACCEPTED_URLS: Final = "'sqlite:///<path>', 'sqlite:///:memory:' or 'postgresql://user@host/db'"


class PreferenceStore(Protocol):
    """Each user's preferences, read and written by user id. Every method may raise
    ``StoreUnavailable``; a write has returned only once it is durable."""

    async def get(self, user: str) -> Preferences | None: ...

    async def set(self, user: str, prefs: Preferences) -> Preferences | None:
        """Store ``prefs``; return the previous value."""
        ...

    async def delete(self, user: str) -> Preferences | None:
        """Remove the user's preferences; return what they were."""
        ...

    async def list_users(self, *, limit: int = 100, after: str | None = None) -> list[str]:
        """Users with stored preferences, sorted by code point, the first ``limit`` after ``after``."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Migration:
    """One additive step of the schema, written once per backend's SQL dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


SCHEMA_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

# Append only: never edit or remove a released step, never drop what a released step made.
MIGRATIONS: Final = (
    Migration(
        version=1,
        description="user_preferences: one row per user, JSON preferences and updated_at",
        sqlite=(
            "CREATE TABLE user_preferences ("
            " user_id TEXT PRIMARY KEY, prefs TEXT NOT NULL, updated_at TEXT NOT NULL)",
        ),
        postgres=(
            'CREATE TABLE user_preferences ( user_id TEXT COLLATE "C" PRIMARY KEY,'
            " prefs JSONB NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
        ),
    ),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1].version


def pending_migrations(url: str, found: int) -> tuple[Migration, ...]:
    """The steps a store at schema version ``found`` still needs; refuse a newer store."""
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"preference store at {public_url(url)} has schema version {found}, but this "
            f"policy-router knows schema versions up to {SCHEMA_VERSION}: upgrade policy-router "
            "to the release that wrote it (the store was left unchanged)"
        )
    return tuple(m for m in MIGRATIONS if m.version > found)


def encode(prefs: Preferences) -> str:
    """The stored form: ``Preferences.to_dict()`` as compact JSON."""
    return json.dumps(prefs.to_dict(), sort_keys=True, separators=(",", ":"))


def decode(text: str | None) -> Preferences | None:
    """Read back what ``encode`` wrote; a row that does not parse is an error, never ignored."""
    if text is None:
        return None
    try:
        return Preferences.from_dict(json.loads(text))
    except (json.JSONDecodeError, InvalidPreferences) as exc:
        raise StoredPreferencesInvalid(
            f"stored preferences do not parse ({exc}): requests for this user are refused "
            "until their preferences are set again or deleted"
        ) from exc


def decode_previous(text: str | None) -> Preferences | None:
    """The value a write replaced, as ``set``/``delete`` return it: a row that did not decode
    reads as ``None``, so writing new preferences (or deleting) repairs it."""
    try:
        return decode(text)
    except StoredPreferencesInvalid:
        return None


_SECRET_QUERY_KEYS: Final = frozenset({"password", "sslpassword"})


def public_url(url: str) -> str:
    """``url`` with any password removed, fit for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.partition(":")[0] + "://<unparseable>"
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k.lower() not in _SECRET_QUERY_KEYS]
    if parts.password is None and len(kept) == len(query):
        return url
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}{at}{hosts}"
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(kept, safe="/:,")))


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    """The error every backend raises when its database cannot be used."""
    detail = redacted(url, str(exc) or type(exc).__name__)
    return StoreUnavailable(
        f"preference store at {public_url(url)} cannot be reached: {detail}; "
        "requests for users are refused until it is back"
    )


def redacted(url: str, text: str) -> str:
    """``text`` with the URL's password (if any) replaced by ``***``."""
    password = _password(url)
    return text.replace(password, "***") if password else text


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None
