"""The errors policy-router raises, one hierarchy with one root.

RouterError
├── CatalogError            the declared catalog (or a page) is invalid; nothing was loaded
├── ConfigError             settings or deployment configuration is invalid
│   └── MissingExtra        (also ModuleNotFoundError) a part used without its extra installed
├── InvalidPreferences      (also ValueError) a preference field does not parse
├── InvalidRequest          (also ValueError) the caller's arguments cannot be routed as given
│   └── IdentifierInRequest the user id is in a field the router cannot scrub; nothing was sent
├── UnknownModel            (also LookupError) no model has that name, alias or slug
├── UnknownProvider         (also LookupError) no provider has that name or slug
├── PolicyViolation         no route of the model is allowed; carries the decision
│   └── BackendsUnconfigured  every route was rejected only because this deployment cannot
│                           reach it (no credentials, no litellm model string): the
│                           operator's to fix, not the policy's refusal (the proxy: 503)
├── StoreUnavailable        the preference store cannot be used (unreachable, or locked past
│   │                       POLICY_ROUTER_STORE_TIMEOUT); the request is refused
│   └── StoredPreferencesInvalid  a user's stored row does not decode, or names a provider the
│                           catalog no longer has: a server-side data fault; the request is refused
├── RequestRejected         a provider refused the request itself (400-class); not failed over
├── UpstreamFailure         one route's backend failed (timeout, 429, 5xx, auth); failed over
└── BackendUnavailable      every allowed route failed; carries each attempt
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from router._core.decision import Decision


class RouterError(Exception):
    """Root of every error policy-router raises on purpose."""


class CatalogError(RouterError):
    """The catalog is invalid. ``problems`` lists every problem found, each naming its place."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = (
            "the catalog is invalid" if count == 1 else f"the catalog is invalid ({count} problems)"
        )
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConfigError(RouterError):
    """Settings or deployment configuration is invalid."""


class MissingExtra(ConfigError, ModuleNotFoundError):
    """A part of policy-router is used without the extra that installs its dependencies."""

    def __init__(self, extra: str, what: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'policy-router[{extra}]'")


def require_extra(extra: str, what: str, *modules: str) -> None:
    """MissingExtra unless every one of ``modules`` is installed (found, not imported)."""
    if not all(installed(m) for m in modules):
        raise MissingExtra(extra, what)


def installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        return False


class InvalidPreferences(RouterError, ValueError):
    """A preference field does not parse. The message names the field, the value and what is accepted."""


class InvalidRequest(RouterError, ValueError):
    """The caller's arguments cannot be routed as given (for example, they name a backend).

    ``param`` names the argument at fault, where one is (the proxy reports it as OpenAI's
    ``param``)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class IdentifierInRequest(InvalidRequest):
    """The raw user id is in a field that is neither content nor an identifier field, on a
    route that must not see it. The attempt was blocked before anything was sent."""

    def __init__(self, where: str) -> None:
        self.where = where
        top = where.removeprefix("$.").split(".")[0].split("[")[0].split(":")[0]
        super().__init__(
            f"the user id is in {where}, which the router cannot scrub (it is not an identifier "
            "field, and its meaning is the caller's); the route this model would use must not "
            "see it: remove the id from that field",
            param=top or None,
        )


class UnknownModel(RouterError, LookupError):
    """No model of the catalog has that display name, alias or slug."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f"; known models include {', '.join(known[:5])}" if known else ""
        super().__init__(
            f"unknown model {name!r}: name a model of the catalog by display name, alias or slug "
            f"(see 'policy-router models'){hint}"
        )


class UnknownProvider(RouterError, LookupError):
    """No provider of the catalog has that display name or slug."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(
            f"unknown provider {name!r}: name a provider by display name or slug{hint}"
        )


class PolicyViolation(RouterError):
    """No route of the requested model is allowed under the effective preferences."""

    def __init__(self, decision: Decision, alternatives: Sequence[str]) -> None:
        self.decision = decision
        self.alternatives = tuple(alternatives)
        reasons = "; ".join(
            f"{r.route.provider.name}: {', '.join(r.reasons)}" for r in decision.rejected
        )
        alt = (
            f" Models allowed under the same preferences: {', '.join(self.alternatives)}."
            if self.alternatives
            else " No model of the catalog is allowed under these preferences."
        )
        super().__init__(
            f"no route of {decision.model.name!r} is allowed by the privacy policy ({reasons}).{alt}"
        )


class BackendsUnconfigured(PolicyViolation):
    """Every route of the model was rejected only because the deployment cannot serve it:
    its provider's credentials are not set, or the deployment has no litellm model string for
    it. The policy would allow at least one of them. A PolicyViolation too, so that callers'
    ``except PolicyViolation`` keeps working; the proxy answers 503 ``backends_unconfigured``
    (not 403), and the drop-in class is litellm's ServiceUnavailableError."""

    def __init__(self, decision: Decision, alternatives: Sequence[str]) -> None:
        super().__init__(decision, alternatives)
        self.args = (
            f"no route of {decision.model.name!r} can be served by this deployment: "
            + "; ".join(
                f"{r.route.provider.name}: {', '.join(r.reasons)}" for r in decision.rejected
            )
            + ". The operator must set the credentials or add the routes to the deployment "
            "(policy-router serve logs each provider's state at start-up).",
        )


class StoreUnavailable(RouterError):
    """The preference store cannot be reached; requests for the user are refused, never guessed."""


class StoredPreferencesInvalid(StoreUnavailable):
    """A user's stored preferences cannot be used: the row does not decode, or it names a
    provider the catalog no longer has. Not the caller's fault; requests for the user are
    refused (never routed as if the row said nothing) until the preferences are set again."""


class RequestRejected(RouterError):
    """A provider refused the request itself (bad parameters, content policy): not a backend failure."""

    def __init__(self, message: str, *, status_code: int | None = None, provider: str = "") -> None:
        self.status_code = status_code
        self.provider = provider
        super().__init__(message)


class BackendUnavailable(RouterError):
    """Every allowed route was tried and failed. ``attempts`` has one entry per route tried."""

    def __init__(self, model: str, attempts: Sequence[object]) -> None:
        self.attempts = tuple(attempts)
        tried = "; ".join(str(a) for a in self.attempts) or "no route was tried"
        super().__init__(f"every allowed route of {model!r} failed: {tried}")


class FailureKind(StrEnum):
    """Why a backend failed; every kind but ``budget`` is worth trying the next route for."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    BAD_RESPONSE = "bad_response"
    CONFIG = "config"
    BUDGET = "budget"


_NOT_RETRYABLE: Final = frozenset({FailureKind.BUDGET})


class UpstreamFailure(RouterError):
    """One route's backend failed; ``retryable`` says whether another route may succeed.

    The message names the litellm provider, the kind and the HTTP status, with litellm's
    own first line, credentials redacted. ``__cause__`` is litellm's exception, unredacted.
    """

    def __init__(
        self, message: str, *, kind: FailureKind, status_code: int | None, provider: str
    ) -> None:
        self.kind = kind
        self.status_code = status_code
        self.provider = provider
        self.retryable = kind not in _NOT_RETRYABLE
        super().__init__(message)
