"""Our errors as litellm's (and so openai's) exception classes too, for drop-in callers.

An application that called ``litellm.acompletion`` catches ``litellm.RateLimitError``,
``openai.BadRequestError``, ``litellm.Timeout``…; the same ``except`` clauses keep working
around ``PolicyRouter.acompletion``. ``compatible(exc)`` returns an exception of a class that
inherits from both ``exc``'s class (so ``except BackendUnavailable`` and ``.attempts`` keep
working) and the litellm class that matches it, with litellm's attributes (``status_code``,
``llm_provider``, ``model``, ``response``) set. The message is ours.

Which litellm class each of our errors is, is the error table's ``litellm_class``
(router/_errors.py: by the error's class; for a backend's failure by its kind and status, for
BackendUnavailable by the last attempt's). A refused request keeps the provider's own litellm
class where we can build it (ContextWindowExceededError, ContentPolicyViolationError…).
Errors with none (ConfigError, CatalogError) are the operator's to fix and stay as they are.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Final

from router._errors import BackendUnavailable, RequestRejected, RouterError
from router._upstream.setup import _module

PROVIDER: Final = "policy-router"

# litellm classes built with (message=, llm_provider=, model=[, response=]), and their status:
# every ``litellm_class`` the error table (router/_errors.py) names is one of them.
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


def compatible(exc: RouterError, model: str = "") -> RouterError:
    """``exc`` as an instance of its own class and of the matching litellm class.

    Returns ``exc`` itself when it has no litellm counterpart or already is one.
    """
    name = exc.litellm_class  # the error table (router/_errors.py); refined by the instance
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
