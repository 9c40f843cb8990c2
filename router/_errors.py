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

The error table: what each error is outside the library is declared once, on its class
(``RouterError`` lists the attributes), and read by the proxy's error bodies
(router/_server/errors.py), the drop-in's litellm classes (router/_upstream/compat.py resolves
the name) and the metrics (router/_observe/metrics.py). An error whose answer depends on what the
provider said (RequestRejected, UpstreamFailure, BackendUnavailable) sets the attributes it
refines on the instance: the class's value is its default. tests/test_errors.py checks that
every class declares every attribute and that the statuses agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from router._core.decision import Decision


class RouterError(Exception):
    """Root of every error policy-router raises on purpose.

    Each subclass declares, once, what it is outside the library:

    - ``http_status``: the status the proxy answers with;
    - ``error_code``: the ``code`` of the proxy's error body;
    - ``openai_type``: the ``type`` of OpenAI's error body;
    - ``anthropic_type``: the ``type`` of Anthropic's error body (the Messages paths);
    - ``litellm_class``: the name of the litellm (and so openai) exception class a drop-in
      caller catches, whose ``status_code`` is ``http_status``; ``None``: the operator's to fix,
      no class;
    - ``metric_outcome`` and ``metric_reason``: the request's outcome and, for a refusal, its
      reason class in the metrics (bounded labels).

    Unexpected here (the root itself): an internal error, the operator's log says what.
    """

    http_status: int = 500
    error_code: str = "internal_error"
    openai_type: str = "server_error"
    anthropic_type: str = "api_error"
    litellm_class: str | None = None
    metric_outcome: str = "failed"
    metric_reason: str | None = None


class CatalogError(RouterError):
    """The catalog is invalid. ``problems`` lists every problem found, each naming its place."""

    http_status = 500
    error_code = "internal_error"
    openai_type = "server_error"
    anthropic_type = "api_error"
    litellm_class = None
    metric_outcome = "failed"
    metric_reason = None

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = (
            "the catalog is invalid" if count == 1 else f"the catalog is invalid ({count} problems)"
        )
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class ConfigError(RouterError):
    """Settings or deployment configuration is invalid."""

    http_status = 500
    error_code = "misconfigured"
    openai_type = "server_error"
    anthropic_type = "api_error"
    litellm_class = None
    metric_outcome = "failed"
    metric_reason = None


class MissingExtra(ConfigError, ModuleNotFoundError):
    """A part of policy-router is used without the extra that installs its dependencies."""

    http_status = 500
    error_code = "misconfigured"
    openai_type = "server_error"
    anthropic_type = "api_error"
    litellm_class = None
    metric_outcome = "failed"
    metric_reason = None

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

    http_status = 400
    error_code = "invalid_value"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    litellm_class = "BadRequestError"
    metric_outcome = "refused"
    metric_reason = "invalid_preferences"


class InvalidRequest(RouterError, ValueError):
    """The caller's arguments cannot be routed as given (for example, they name a backend).

    ``param`` names the argument at fault, where one is (the proxy reports it as OpenAI's
    ``param``)."""

    http_status = 400
    error_code = "invalid_value"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    litellm_class = "BadRequestError"
    metric_outcome = "refused"
    metric_reason: str | None = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class IdentifierInRequest(InvalidRequest):
    """The raw user id is in a field that is neither content nor an identifier field, on a
    route that must not see it. The attempt was blocked before anything was sent."""

    http_status = 400
    error_code = "invalid_value"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    litellm_class = "BadRequestError"
    metric_outcome = "blocked"
    metric_reason: str | None = None  # blocked: no refusal reason

    def __init__(self, where: str) -> None:
        self.where = where
        top = where.removeprefix("$.").split(".")[0].split("[")[0].split(":")[0]
        super().__init__(
            f"the user id is in {where}, which the router does not rewrite (its value is the "
            "caller's to choose: a tool-call id, a stop sequence, a schema, a metadata value); "
            "the route this model would use must not see it: remove the id from that field",
            param=top or None,
        )


def _sized(name: object) -> str:
    """A name the caller asked for, as a message shows it: its length, never its text (it
    could be anything: an id, a sentence)."""
    if isinstance(name, str):
        return f"a name of {len(name)} character{'' if len(name) == 1 else 's'}"
    return f"a value of type {type(name).__name__}"


class UnknownModel(RouterError, LookupError):
    """No model of the catalog has that name. ``suggestions`` are the closest catalog names;
    the message never repeats the caller's text (``name`` keeps it for the caller)."""

    http_status = 404
    error_code = "model_not_found"
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    litellm_class = "NotFoundError"
    metric_outcome = "refused"
    metric_reason = "unknown_model"

    def __init__(
        self, name: str, suggestions: Sequence[str] = (), *, reason: str | None = None
    ) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        why = reason or (
            "name a model of the catalog by display name, alias, slug, a provider's model id, "
            "or a litellm model string such as 'openai/gpt-4.1' (see 'policy-router models')"
        )
        hint = f"; closest catalog names: {', '.join(self.suggestions)}" if suggestions else ""
        super().__init__(f"unknown model ({_sized(name)}): {why}{hint}")


class UnknownProvider(RouterError, LookupError):
    """No provider of the catalog has that display name or slug. The message names the field
    (``field``, where known) and the closest providers, never the caller's text."""

    http_status = 400
    error_code = "invalid_value"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    litellm_class = "BadRequestError"
    metric_outcome = "refused"
    metric_reason = "invalid_preferences"

    def __init__(
        self,
        name: str,
        known: Sequence[str] = (),
        *,
        field: str | None = None,
        suggestions: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.field = field
        self.suggestions = tuple(suggestions)
        where = f" in {field!r}" if field else ""
        close = f"; did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""
        listed = f" (known: {', '.join(known)})" if known else ""
        super().__init__(
            f"unknown provider{where} ({_sized(name)}): name a provider by display name or "
            f"slug{close}{listed}"
        )


class PolicyViolation(RouterError):
    """No route of the requested model is allowed under the effective preferences."""

    http_status = 403
    error_code = "policy_violation"
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    litellm_class = "PermissionDeniedError"
    metric_outcome = "refused"
    metric_reason = "policy"

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

    http_status = 503
    error_code = "backends_unconfigured"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    litellm_class = "ServiceUnavailableError"
    metric_outcome = "refused"
    metric_reason = "unconfigured"

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

    http_status = 503
    error_code = "preference_store_unavailable"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    litellm_class = "ServiceUnavailableError"
    metric_outcome = "refused"
    metric_reason = "store_unavailable"


class StoredPreferencesInvalid(StoreUnavailable):
    """A user's stored preferences cannot be used: the row does not decode, or it names a
    provider the catalog no longer has. Not the caller's fault; requests for the user are
    refused (never routed as if the row said nothing) until the preferences are set again."""

    http_status = 500
    error_code = "stored_preferences_invalid"
    openai_type = "server_error"
    anthropic_type = "api_error"
    litellm_class = "InternalServerError"
    metric_outcome = "refused"
    metric_reason = "stored_preferences_invalid"


class RequestRejected(RouterError):
    """A provider refused the request itself (bad parameters, content policy): not a backend failure."""

    http_status = 400
    error_code = "rejected_by_provider"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    litellm_class = "BadRequestError"
    metric_outcome = "rejected"
    metric_reason = None

    def __init__(self, message: str, *, status_code: int | None = None, provider: str = "") -> None:
        self.status_code = status_code
        self.provider = provider
        if status_code is not None and 400 <= status_code < 500:  # the provider's own 4xx
            self.http_status = status_code
            self.litellm_class = _failure_class("rejected", status_code)
            if status_code == 413:
                self.anthropic_type = "request_too_large"
        super().__init__(message)


class BackendUnavailable(RouterError):
    """Every allowed route was tried and failed. ``attempts`` has one entry per route tried."""

    http_status = 503
    error_code = "backends_unavailable"
    openai_type = "server_error"
    anthropic_type = "overloaded_error"
    litellm_class = "ServiceUnavailableError"
    metric_outcome = "failed"
    metric_reason = None

    def __init__(self, model: str, attempts: Sequence[object]) -> None:
        self.attempts = tuple(attempts)
        self.retry_after: float | None = None
        last = self.attempts[-1] if self.attempts else None
        if last is None:  # only the caller's deadline stops failover before a first attempt
            self.litellm_class = "Timeout"
        else:
            outcome = str(getattr(last, "outcome", ""))
            self.litellm_class = _failure_class(outcome, getattr(last, "status_code", None))
            if outcome == FailureKind.RATE_LIMIT:  # so that `except RateLimitError` fires
                self.http_status, self.anthropic_type = 429, "rate_limit_error"
                self.retry_after = getattr(last, "retry_after", None)
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

    http_status = 502
    error_code = "upstream_failure"
    openai_type = "server_error"
    anthropic_type = "api_error"
    litellm_class: str | None = "BadGatewayError"  # as the proxy's 502; refined by kind
    metric_outcome = "failed"
    metric_reason = None

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        status_code: int | None,
        provider: str,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after  # seconds the provider asked to wait, if it said
        self.kind = kind
        self.status_code = status_code
        self.provider = provider
        self.retryable = kind not in _NOT_RETRYABLE
        self.retry_after = retry_after  # seconds, where the provider's answer said
        self.litellm_class = _failure_class(kind, status_code, "BadGatewayError")
        super().__init__(message)


# The litellm class of a backend's failure (an attempt's outcome): by its kind, else its status.
_LITELLM_BY_KIND: Final[dict[str, str]] = {
    FailureKind.RATE_LIMIT: "RateLimitError",
    FailureKind.TIMEOUT: "Timeout",
    FailureKind.CONNECTION: "APIConnectionError",
    FailureKind.NOT_FOUND: "NotFoundError",
}
_LITELLM_BY_STATUS: Final = {
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def _failure_class(
    outcome: str, status: int | None, otherwise: str = "ServiceUnavailableError"
) -> str:
    """The litellm class of an attempt's ``outcome`` (a FailureKind, or ``rejected``); for
    another kind, by status, else ``otherwise``."""
    if outcome == "rejected":
        return "UnprocessableEntityError" if status == 422 else "BadRequestError"
    return _LITELLM_BY_KIND.get(outcome) or _LITELLM_BY_STATUS.get(status or 0, otherwise)
