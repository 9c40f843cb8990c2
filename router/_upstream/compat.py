"""Our errors as litellm's (and so openai's) exception classes too, for drop-in callers.

An application that called ``litellm.acompletion`` catches ``litellm.RateLimitError``,
``openai.BadRequestError``, ``litellm.Timeout``…; the same ``except`` clauses keep working
around ``PolicyRouter.acompletion``. ``compatible(exc)`` returns an exception of a class that
inherits from both ``exc``'s class (so ``except BackendUnavailable`` and ``.attempts`` keep
working) and the litellm class that matches it, with litellm's attributes (``status_code``,
``llm_provider``, ``model``, ``response``) set. The message is ours.

What each of our errors is on litellm's side (the same status the HTTP proxy answers with,
so an openai client sees the same class through the proxy):

==============================  ===================================================
ours                            litellm class (status_code)
==============================  ===================================================
BackendUnavailable              the last attempt's: rate_limit RateLimitError (429),
UpstreamFailure                 timeout Timeout (408), connection APIConnectionError
                                (500), server InternalServerError (500) /
                                BadGatewayError (502) / ServiceUnavailableError (503),
                                auth AuthenticationError (401) / PermissionDeniedError
                                (403), not_found NotFoundError (404), other kinds
                                ServiceUnavailableError (503); no attempt at all (the
                                caller's deadline passed first) Timeout (408)
RequestRejected                 the provider's own litellm class when it is one of
                                ours below (ContextWindowExceededError,
                                ContentPolicyViolationError…), else BadRequestError
                                (400) / UnprocessableEntityError (422)
BackendsUnconfigured            ServiceUnavailableError (503): a PolicyViolation
                                that the operator's deployment caused
PolicyViolation                 PermissionDeniedError (403)
UnknownModel                    NotFoundError (404)
InvalidRequest, InvalidPrefer-  BadRequestError (400)
ences, UnknownProvider
StoreUnavailable                ServiceUnavailableError (503)
==============================  ===================================================

Other errors (ConfigError, CatalogError) are the operator's to fix and stay as they are.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Final

from router._errors import (
    BackendsUnconfigured,
    BackendUnavailable,
    FailureKind,
    InvalidPreferences,
    InvalidRequest,
    PolicyViolation,
    RequestRejected,
    RouterError,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
    UpstreamFailure,
)
from router._upstream.setup import _module

PROVIDER: Final = "policy-router"

# litellm classes built with (message=, llm_provider=, model=[, response=]), and their status.
_BUILDABLE: Final = {
    "BadRequestError": 400,
    "UnprocessableEntityError": 422,
    "ContextWindowExceededError": 400,
    "ContentPolicyViolationError": 400,
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "RateLimitError": 429,
    "Timeout": 408,
    "APIConnectionError": 500,
    "InternalServerError": 500,
    "BadGatewayError": 502,
    "ServiceUnavailableError": 503,
}
_BY_KIND: Final[dict[str, str]] = {
    FailureKind.RATE_LIMIT: "RateLimitError",
    FailureKind.TIMEOUT: "Timeout",
    FailureKind.CONNECTION: "APIConnectionError",
    FailureKind.NOT_FOUND: "NotFoundError",
}
_BY_STATUS: Final = {
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
_REFUSALS: Final[dict[type[RouterError], str]] = {  # the first class that matches
    BackendsUnconfigured: "ServiceUnavailableError",
    PolicyViolation: "PermissionDeniedError",
    UnknownModel: "NotFoundError",
    InvalidRequest: "BadRequestError",
    InvalidPreferences: "BadRequestError",
    UnknownProvider: "BadRequestError",
    StoreUnavailable: "ServiceUnavailableError",
}


def compatible(exc: RouterError, model: str = "") -> RouterError:
    """``exc`` as an instance of its own class and of the matching litellm class.

    Returns ``exc`` itself when it has no litellm counterpart or already is one.
    """
    name = _litellm_name(exc)
    if name is None or isinstance(exc, _openai_error()):
        return exc
    base: Any = _cause_class(exc) or getattr(_module().exceptions, name)
    ours: Any = type(exc)
    joined: Any = _joined(ours, base)
    status = _status(exc) or _BUILDABLE[base.__name__]
    out: Any = Exception.__new__(joined)
    options: dict[str, Any] = {"message": str(exc), "llm_provider": _provider(exc), "model": model}
    if "response" in inspect.signature(base.__init__).parameters:
        options["response"] = _response(status)
    base.__init__(out, **options)
    out.__dict__.update(vars(exc))
    out.status_code = status
    out.args = exc.args
    out.__cause__ = exc.__cause__
    out.__context__ = exc.__context__
    out.__traceback__ = exc.__traceback__
    compatible_error: RouterError = out
    return compatible_error


def _status(exc: RouterError) -> int | None:
    """The HTTP status behind ``exc``: its own, or the last attempt's for BackendUnavailable."""
    last = exc.attempts[-1] if isinstance(exc, BackendUnavailable) and exc.attempts else exc
    status = getattr(last, "status_code", None)
    return status if isinstance(status, int) else None


def _response(status: int) -> Any:
    """The HTTP response litellm's class carries (``exc.response.status_code``); no body."""
    import httpx

    return httpx.Response(status, request=httpx.Request("POST", "http://policy-router.invalid"))


def _openai_error() -> type[BaseException]:
    import openai

    return openai.OpenAIError


def _litellm_name(exc: RouterError) -> str | None:
    if isinstance(exc, BackendUnavailable):
        last = exc.attempts[-1] if exc.attempts else None
        if last is None:
            return "Timeout"  # only the caller's deadline stops failover before a first attempt
        return _failure_name(str(getattr(last, "outcome", "")), getattr(last, "status_code", None))
    if isinstance(exc, UpstreamFailure):
        return _failure_name(exc.kind, exc.status_code)
    if isinstance(exc, RequestRejected):
        return "UnprocessableEntityError" if exc.status_code == 422 else "BadRequestError"
    return next((name for cls, name in _REFUSALS.items() if isinstance(exc, cls)), None)


def _failure_name(kind: str, status: int | None) -> str:
    if kind == "rejected":
        return "UnprocessableEntityError" if status == 422 else "BadRequestError"
    return _BY_KIND.get(kind) or _BY_STATUS.get(status or 0, "ServiceUnavailableError")


def _cause_class(exc: RouterError) -> type[BaseException] | None:
    """The provider's own litellm class for a refused request, when we can build it."""
    cause = exc.__cause__
    if not isinstance(exc, RequestRejected) or cause is None:
        return None
    exceptions = _module().exceptions
    cls = type(cause)
    built = cls.__name__ in _BUILDABLE and getattr(exceptions, cls.__name__, None) is cls
    return cls if built else None


def _provider(exc: RouterError) -> str:
    provider = getattr(exc, "provider", "")
    return provider if isinstance(provider, str) and provider else PROVIDER


@functools.cache
def _joined(ours: Any, theirs: Any) -> Any:
    """A class that is both ``ours`` and ``theirs``; its message and ``str()`` are ours."""
    namespace = {
        "__module__": ours.__module__,
        "__qualname__": ours.__qualname__,
        "__doc__": f"{ours.__name__}, also litellm.{theirs.__name__} for drop-in callers.",
        "__str__": Exception.__str__,
        "__repr__": Exception.__repr__,
    }
    return type(ours.__name__, (ours, theirs), namespace)
