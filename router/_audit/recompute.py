"""Recomputing a decision from what it records it was made from, trusting nothing else in it.

A ``route.decision`` names its inputs:

- ``operator_policy_hash``: the operator's policy (``version`` of its preferences), which its
  writer announced in the checkpoint sink, or which the verifier knows from its own settings;
- ``stored_preferences_version``: the user's stored preferences (``version``), as a
  ``preferences.changed`` record in the files holds them; ``null``: none were stored;
- ``request_privacy``: the request's own ``privacy``, recorded whole (``null``: none).

The effective preferences are recomputed from them with ``combine``, and every candidate's
verdict and policy reasons with ``reasons_against``, under the catalog version the record
names. Stored preferences whose ``preferences.changed`` record is not in the files given
(written before them) cannot be recomputed: the recorded effective preferences must then be at
least as strict as the operator policy and the request make them, and such decisions are
counted. Deployment facts (credentials, model strings, dropped parameters) are taken as
recorded: they are reasons of known forms after the policy's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from router._core.catalog import Catalog, Model
from router._core.decision import reasons_against
from router._core.preferences import Preferences, combine, version
from router._errors import RouterError

INPUT_FIELDS: Final = ("operator_policy_hash", "stored_preferences_version", "request_privacy")
# How the router words a deployment fact (router/_router.py _unavailable_routes, the
# deployment's missing_credentials, decide's dropped parameters): never a policy reason.
_DEPLOYMENT: Final = ("no litellm model string", "no credentials: ", "would drop ")
_DROPPED: Final = "would drop "


@dataclass(frozen=True, slots=True)
class Recomputed:
    """A decision as its inputs make it: the effective preferences, and the verdicts."""

    preferences: Preferences
    policy_rejected: bool  # some route is rejected by the preferences (or require_parameters)
    problems: tuple[tuple[str | None, str], ...]  # (route key or None, what differs)


class Inputs:
    """What a decision's inputs name: operator policies by hash, stored preferences by version."""

    def __init__(self, operator_policies: dict[str, dict[str, Any]]) -> None:
        self._operator = operator_policies  # announced ones are added as the sink is read
        self._stored: dict[str, Preferences] = {}

    def know_operator_policy(self, fields: Mapping[str, Any]) -> None:
        preferences = Preferences.from_dict(fields)
        self._operator[version(preferences)] = preferences.to_dict()

    def knows(self, record: Mapping[str, Any]) -> tuple[bool, bool]:
        """Whether the operator policy and the stored preferences it names are known (yet)."""
        digest, stored = (
            record.get("operator_policy_hash"),
            record.get("stored_preferences_version"),
        )
        return digest in self._operator, stored in self._stored

    def unseen(self, record: Mapping[str, Any]) -> bool:
        """The decision names stored preferences no ``preferences.changed`` record here made."""
        stored = record.get("stored_preferences_version")
        return stored is not None and stored not in self._stored

    def changed(self, record: Mapping[str, Any]) -> None:
        """A ``preferences.changed`` record: its new preferences, by the version they make."""
        new = record.get("new")
        if isinstance(new, dict):
            try:
                preferences = Preferences.from_dict(new)
            except (RouterError, ValueError, TypeError):
                return
            self._stored[version(preferences)] = preferences

    def effective(self, record: Mapping[str, Any]) -> tuple[Preferences | None, str | None]:
        """The effective preferences the inputs make (else ``None``), and what is wrong."""
        missing = [name for name in INPUT_FIELDS if name not in record]
        if missing:
            return None, (
                f"decision without {', '.join(missing)}: what its preferences were made from "
                "is not recorded"
            )
        digest = record["operator_policy_hash"]
        policy = self._operator.get(digest) if isinstance(digest, str) else None
        if policy is None:
            return None, (
                "its operator policy was announced by no writer and is not the verifier's own: "
                "the decision cannot be recomputed (give the checkpoint files, or verify with "
                "the settings the router ran with)"
            )
        try:
            operator = Preferences.from_dict(policy)
            privacy = record["request_privacy"]
            request = None if privacy is None else Preferences.from_dict(privacy)
            recorded = Preferences.from_dict(record.get("preferences"))
        except (RouterError, ValueError, TypeError) as exc:
            return None, f"its inputs cannot be read ({type(exc).__name__})"
        return self._combined(operator, record["stored_preferences_version"], request, recorded)

    def _combined(
        self,
        operator: Preferences,
        stored_version: object,
        request: Preferences | None,
        recorded: Preferences,
    ) -> tuple[Preferences | None, str | None]:
        if stored_version is not None:
            stored = self._stored.get(stored_version) if isinstance(stored_version, str) else None
            if stored is None:
                floor = combine(operator, request)
                if combine(floor, recorded).to_dict() != recorded.to_dict():
                    return floor, (
                        "effective preferences are looser than the operator policy and the "
                        "request's privacy make them"
                    )
                return recorded, None
        else:
            stored = None
        made = combine(operator, stored, request)
        if made.to_dict() != recorded.to_dict():
            return made, (
                f"effective preferences {recorded.to_dict()} are not what its inputs make: "
                f"{made.to_dict()}"
            )
        return made, None


def recompute(
    catalog: Catalog, model: Model, preferences: Preferences, candidates: object
) -> Recomputed:
    """Every route of ``model`` judged under ``preferences``, against the recorded candidates."""
    routes = {r.key: r for r in catalog.routes_of(model)}
    recorded = {
        c["route"]: c
        for c in (candidates if isinstance(candidates, list) else [])
        if isinstance(c, dict) and isinstance(c.get("route"), str)
    }
    problems: list[tuple[str | None, str]] = [
        (key, f"route {key} of the model is missing from the decision's candidates")
        for key in sorted(set(routes) - set(recorded))
    ]
    problems += [
        (key, "candidate is not a route of the model in its catalog")
        for key in sorted(set(recorded) - set(routes))
    ]
    rejected = False
    for key, route in routes.items():
        policy = list(reasons_against(route, preferences))
        found = recorded.get(key)
        reasons = found.get("reasons") if found is not None else None
        reasons = reasons if isinstance(reasons, list) else []
        rejected = rejected or bool(policy) or any(str(r).startswith(_DROPPED) for r in reasons)
        if found is not None:
            problems += [(key, p) for p in _verdict(policy, found.get("verdict"), reasons)]
    return Recomputed(preferences, rejected, tuple(problems))


def _verdict(policy: list[str], verdict: object, reasons: list[Any]) -> Iterator[str]:
    """What is wrong with one candidate's recorded verdict and reasons."""
    if policy and (verdict != "rejected" or reasons[: len(policy)] != policy):
        yield f"its inputs reject this route ({'; '.join(policy)}); the decision says otherwise"
        return
    if verdict == "rejected" and not reasons:
        yield "rejected with no reason, though its inputs allow it"
    facts = reasons[len(policy) :]
    if any(not isinstance(r, str) or not r.startswith(_DEPLOYMENT) for r in facts):
        yield "rejected for a reason its inputs do not give and no deployment fact explains"
