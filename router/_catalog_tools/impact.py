"""What a new catalog would take from the users who stored preferences, before it is rolled out.

For each user, the operator's policy tightened by their stored preferences is decided under
the old catalog and under the new one, for every model of the old catalog (or the models
named). A user *loses* a model when it has an allowed route under the old catalog and none
under the new one (the model may be gone: see ``match_models``). A user whose stored
preferences name a provider the new catalog lacks loses everything: their requests would be
refused until the preferences are set again. The deployment is left out (credentials are
not policy); so are users with no stored preferences, who get the operator's policy alone
(``org_lost``).

Pure: the stored preferences are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from router._catalog_tools.diff import match_models
from router._core.catalog import Catalog, Model
from router._core.decision import canonical, decide
from router._core.preferences import Preferences, combine
from router._errors import UnknownProvider


@dataclass(frozen=True, slots=True)
class Impact:
    """Who would lose what. Users are named as the caller named them (pseudonyms)."""

    old_version: str
    new_version: str
    models: tuple[str, ...]
    users_checked: int
    lost: dict[str, tuple[str, ...]]  # old model slug -> users who lose it
    lost_every_model: tuple[str, ...]
    invalid_under_new: tuple[str, ...]
    org_lost: tuple[str, ...]

    def to_dict(self, *, with_users: bool) -> dict[str, Any]:
        """Counts; with ``with_users`` the users too."""

        def users(names: Sequence[str]) -> dict[str, Any]:
            return (
                {"count": len(names), "users": list(names)} if with_users else {"count": len(names)}
            )

        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "models": list(self.models),
            "users_checked": self.users_checked,
            "lost_by_model": {m: users(u) for m, u in self.lost.items() if u},
            "lost_every_model": users(self.lost_every_model),
            "stored_preferences_invalid_under_new": users(self.invalid_under_new),
            "lost_by_operator_policy_alone": list(self.org_lost),
        }


def impact(
    old: Catalog,
    new: Catalog,
    org: Preferences,
    stored: Iterable[tuple[str, Preferences]],
    models: Sequence[str] = (),
) -> Impact:
    """Decide each user's models under both catalogs. ``models`` (names, aliases or slugs of
    the old catalog) limits the check; empty: every model of the old catalog."""
    chosen = tuple(old.model(m) for m in models) if models else old.models
    successor = {o.slug: n for o, n in match_models(old, new)}
    pairs = [(m, successor.get(m.slug)) for m in chosen]
    lost: dict[str, list[str]] = {m.slug: [] for m in chosen}
    every: list[str] = []
    invalid: list[str] = []
    count = 0
    org_old, org_new = canonical(old, org), _safe(new, org)
    for user, prefs in stored:
        count += 1
        mine_old, mine_new = _safe(old, prefs), _safe(new, prefs)
        if mine_old is None:
            continue  # refused under the old catalog already: nothing to lose
        if mine_new is None:
            invalid.append(user)
            continue
        new_effective = None if org_new is None else combine(org_new, mine_new)
        had, gone = _losses(old, new, pairs, combine(org_old, mine_old), new_effective)
        for slug in gone:
            lost[slug].append(user)
        if had and len(gone) == had:
            every.append(user)
    org_had_lost = _losses(old, new, pairs, org_old, org_new)[1]
    return Impact(
        old.version,
        new.version,
        tuple(m.slug for m in chosen),
        count,
        {slug: tuple(users) for slug, users in lost.items()},
        tuple(every),
        tuple(invalid),
        tuple(org_had_lost),
    )


def _losses(
    old: Catalog,
    new: Catalog,
    pairs: Sequence[tuple[Model, Model | None]],
    old_effective: Preferences,
    new_effective: Preferences | None,
) -> tuple[int, list[str]]:
    """How many models had an allowed route under ``old``, and which of them have none now."""
    had, gone = 0, []
    for before, after in pairs:
        if not decide(before, old.routes_of(before), old_effective).allowed:
            continue
        had += 1
        if (
            after is None
            or new_effective is None
            or not decide(after, new.routes_of(after), new_effective).allowed
        ):
            gone.append(before.slug)
    return had, gone


def _safe(catalog: Catalog, preferences: Preferences) -> Preferences | None:
    try:
        return canonical(catalog, preferences)
    except UnknownProvider:
        return None
