"""litellm's exceptions translated into ours, at exactly this boundary: ``_outcomes`` is the table.

Every exception class litellm defines is listed (a test enumerates them); where litellm's class
and its status code disagree, the status code says whether the request or the backend failed.
"""

from __future__ import annotations

import email.utils
import functools
import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from router._errors import FailureKind, RequestRejected, RouterError, UpstreamFailure
from router._upstream.loader import litellm_module as _module

if TYPE_CHECKING:
    from router._upstream.deployment import Target

_DETAIL_LIMIT: Final = 300
_CAUSE_DEPTH: Final = 12
# Statuses that say the backend, not the request, failed, whatever class litellm chose.
_NOT_ABOUT_THE_REQUEST: Final = frozenset({401, 403, 404, 408, 429, 500, 502, 503, 504})
_SECRET_ENV: Final = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.IGNORECASE)


# RequestRejected: the request itself was refused, so no other route is tried.
REJECT: Final[Literal["reject"]] = "reject"
# A generic class (APIError, …): its status code decides.
BY_STATUS: Final[Literal["by_status"]] = "by_status"
Outcome = FailureKind | Literal["reject", "by_status"]


@functools.cache
def _outcomes() -> Mapping[type[BaseException], Outcome]:
    """Every exception class litellm defines, and what it means here."""
    e = _module().exceptions
    router = _module().types.router
    table: dict[type[BaseException], Outcome] = {
        e.BadRequestError: REJECT,
        e.InvalidRequestError: REJECT,
        e.UnsupportedParamsError: REJECT,
        e.ContextWindowExceededError: REJECT,
        e.ContentPolicyViolationError: REJECT,
        e.RejectedRequestError: REJECT,
        e.ImageFetchError: REJECT,
        e.VectorStoreSearchError: REJECT,
        e.UnprocessableEntityError: REJECT,
        e.GuardrailRaisedException: REJECT,
        e.BlockedPiiEntityError: REJECT,
        e.SensitiveDataRouteException: REJECT,
        e.ModifyResponseException: REJECT,
        e.Timeout: FailureKind.TIMEOUT,
        e.APIConnectionError: FailureKind.CONNECTION,
        e.RateLimitError: FailureKind.RATE_LIMIT,
        router.RouterRateLimitError: FailureKind.RATE_LIMIT,
        router.RouterRateLimitErrorBasic: FailureKind.RATE_LIMIT,
        e.InternalServerError: FailureKind.SERVER,
        e.ServiceUnavailableError: FailureKind.SERVER,
        e.BadGatewayError: FailureKind.SERVER,
        e.MidStreamFallbackError: FailureKind.SERVER,
        e.AuthenticationError: FailureKind.AUTH,
        e.PermissionDeniedError: FailureKind.AUTH,
        e.NotFoundError: FailureKind.NOT_FOUND,
        e.APIResponseValidationError: FailureKind.BAD_RESPONSE,
        e.JSONSchemaValidationError: FailureKind.BAD_RESPONSE,
        e.LiteLLMUnknownProvider: FailureKind.CONFIG,
        e.ModelNotMappedError: FailureKind.CONFIG,
        e.BudgetExceededError: FailureKind.BUDGET,
        e.APIError: BY_STATUS,
        e.MockException: BY_STATUS,
        e.OpenAIError: BY_STATUS,
    }
    return MappingProxyType(table | _since_1_110())


def _since_1_110() -> dict[type[BaseException], Outcome]:
    """The classes of ``_SINCE_1_110`` that this litellm defines (in ``litellm.exceptions``
    or at its top level)."""
    found: dict[type[BaseException], Outcome] = {}
    for name, outcome in _SINCE_1_110.items():
        cls = getattr(_module().exceptions, name, None) or getattr(_module(), name, None)
        if cls is not None:
            found[cls] = outcome
    return found


# Exception classes that litellm 1.110 added (the lower end of the range has none of them).
_SINCE_1_110: Final[Mapping[str, Outcome]] = {
    "CallerCredentialAuthenticationError": FailureKind.AUTH,
    "CallerCredentialRateLimitError": FailureKind.RATE_LIMIT,
    "EndpointNotSupportedByModelError": REJECT,
    "MalformedRequestFieldError": REJECT,
    "UnsupportedEndpointError": REJECT,
    "PaymentRequiredError": FailureKind.BUDGET,  # the provider account's, not the request's
    "ToolLoopMaxRoundsExceeded": REJECT,  # litellm's own tool loop, which the router never runs
}


def outcome_of(exc: BaseException) -> Outcome | None:
    """The table's entry for ``exc``'s class or its nearest listed base; None if unlisted."""
    table = _outcomes()
    return next((table[cls] for cls in type(exc).__mro__ if cls in table), None)


@functools.cache
def _translated() -> tuple[type[BaseException], ...]:
    return tuple(_outcomes())


def translate(exc: BaseException, target: Target) -> RouterError:
    """Our error for litellm's ``exc`` on ``target``: RequestRejected or UpstreamFailure."""
    status = _status_code(exc)
    outcome = _refined(outcome_of(exc), status, exc)
    return _error(outcome, status, _detail(exc), target.prefix, retry_after(_headers(exc)))


def failure_for_status(
    status: int, detail: str, provider: str, headers: Mapping[str, str] | None = None
) -> RouterError:
    """Our error for an HTTP error answer that no library interpreted (the lean path's)."""
    return _error(_by_status(status), status, detail, provider, retry_after(headers))


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    """The provider's answer headers litellm kept on ``exc`` (or on its response), if any."""
    kept = getattr(exc, "litellm_response_headers", None)
    if kept is None:
        kept = getattr(getattr(exc, "response", None), "headers", None)
    return kept if isinstance(kept, Mapping) else None


def _error(
    outcome: Outcome, status: int | None, detail: str, provider: str, wait: float | None = None
) -> RouterError:
    where = provider + (f" (HTTP {status})" if status else "")
    if outcome == REJECT:
        return RequestRejected(
            f"{where} refused the request: {detail}", status_code=status, provider=provider
        )
    kind = FailureKind(outcome)
    return UpstreamFailure(
        f"{where}: {kind}: {detail}",
        kind=kind,
        status_code=status,
        provider=provider,
        retry_after=wait,
    )


def retry_after(headers: object) -> float | None:
    """Seconds to wait that a provider's answer asked for: ``retry-after-ms``, else
    ``retry-after`` in seconds or as an HTTP date; ``None`` when it said nothing usable."""
    if not isinstance(headers, Mapping):
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    millis = _seconds(lower.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = lower.get("retry-after")
    seconds = _seconds(value)
    if seconds is not None or not isinstance(value, str):
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value)) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _refined(outcome: Outcome | None, status: int | None, exc: BaseException) -> Outcome:
    """Correct litellm's labels where its own status code or cause says more.

    litellm labels some provider errors by the wrong class (Vertex AI's 403 arrives as
    BadRequestError) and a refused connection as InternalServerError.
    """
    if outcome is None or outcome == BY_STATUS:
        return _by_status(status)
    if outcome == REJECT and status in _NOT_ABOUT_THE_REQUEST:
        return _by_status(status)
    if outcome in (FailureKind.SERVER, FailureKind.CONNECTION):
        return _transport_kind(exc) or outcome
    return outcome


def _by_status(status: int | None) -> Outcome:
    if status in (400, 413, 422):
        return REJECT
    return {
        401: FailureKind.AUTH,
        403: FailureKind.AUTH,
        404: FailureKind.NOT_FOUND,
        408: FailureKind.TIMEOUT,
        429: FailureKind.RATE_LIMIT,
    }.get(status or 0, FailureKind.SERVER)


def _transport_kind(exc: BaseException) -> FailureKind | None:
    """TIMEOUT or CONNECTION when an httpx transport error caused ``exc``, else None."""
    import httpx

    cause: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if cause is None:
            return None
        if isinstance(cause, httpx.TimeoutException):
            return FailureKind.TIMEOUT
        if isinstance(cause, httpx.TransportError):
            return FailureKind.CONNECTION
        cause = cause.__cause__ or cause.__context__
    return None


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and status > 0 else None


def _detail(exc: BaseException) -> str:
    """litellm's first line of the message, without credentials, cut to a readable length."""
    lines = str(exc).strip().splitlines()
    text = (lines[0] if lines else type(exc).__name__).removeprefix("litellm.")
    text = _redacted(text)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _redacted(text: str) -> str:
    """Remove every credential this process holds, by value, then litellm's patterns by shape."""
    redact: Any = _module()._logging.redact_secrets
    return str(redact(redacted_env(text)))


def redacted_env(text: str) -> str:
    """``text`` without any credential this process holds in its environment, by value."""
    secrets = sorted(
        (v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6),
        key=len,
        reverse=True,
    )
    for secret in secrets:
        text = text.replace(secret, "[REDACTED]")
    return text
