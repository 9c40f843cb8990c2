"""What keeps a caller of ``litellm.acompletion`` working: its errors, limits and streams.

- Errors: ``dropin_error`` gives a ``RouterError`` the matching litellm class too
  (router/_upstream/compat.py has the table), so ``except litellm.RateLimitError`` keeps
  working. A refusal raised before anything is forwarded gets it only when litellm or openai
  is already imported: an ``except`` clause naming their classes needs one of them, and
  ``import router`` or a refused call never pays litellm's import (seconds) for nothing.
- Limits: ``timeout`` is the deadline of the whole call, failover included (litellm's
  one-time import on the router's first forwarded call excepted); ``num_retries``
  (or its alias ``max_retries``) is how many more allowed routes may be tried after the
  first. litellm never retries by itself: each attempt is one send.
- Streams: router/_pipeline/failover.py's ``RoutedStream`` carries its route like a response does,
  and raises the same drop-in errors.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Final

from router._core.redact import kind
from router._errors import FailureKind, InvalidRequest, RouterError, UpstreamFailure

LIMITS: Final = ("timeout", "num_retries", "max_retries")


def dropin_error(exc: RouterError, model: str = "") -> RouterError:
    """``exc``, also an instance of the matching litellm/openai class when one is importable."""
    if "litellm" not in sys.modules and "openai" not in sys.modules:
        return exc
    from router._upstream.compat import compatible

    return compatible(exc, model)


@dataclass(frozen=True, slots=True)
class Limits:
    """The caller's ``timeout`` (seconds, whole call) and ``retries`` (extra routes); None: unset."""

    timeout: float | None = None
    retries: int | None = None
    started: float = 0.0

    @property
    def deadline(self) -> float | None:
        """The ``time.monotonic()`` by which the call must be over."""
        return None if self.timeout is None else self.started + self.timeout

    def remaining(self) -> float | None:
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    def excluding(self, seconds: float) -> Limits:
        """The same limits with ``seconds`` not counted (litellm's one-time import)."""
        return dataclasses.replace(self, started=self.started + seconds)

    def attempts(self, routes: int) -> int:
        """How many of ``routes`` allowed routes may be tried."""
        return routes if self.retries is None else min(routes, 1 + self.retries)


def take_limits(kwargs: dict[str, Any]) -> Limits:
    """Remove ``timeout``, ``num_retries`` and ``max_retries`` from ``kwargs``; check them."""
    timeout = kwargs.pop("timeout", None)
    retries = kwargs.pop("num_retries", None)
    alias = kwargs.pop("max_retries", None)
    if retries is not None and alias is not None and retries != alias:
        raise InvalidRequest(
            "'num_retries' and 'max_retries' disagree: both mean "
            "how many more allowed routes to try after the first; pass one of them"
        )
    retries = alias if retries is None else retries
    return Limits(_timeout(timeout), _retries(retries), time.monotonic())


def _timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(
            f"'timeout' must be a finite number of seconds for the whole call (got {kind(value)}); "
            "an httpx.Timeout is not accepted: pass its total as a number"
        )
    if value <= 0:
        raise InvalidRequest("'timeout' must be more than 0 seconds (got 0 or less)")
    return float(value)


def _retries(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(
            f"'num_retries' must be a whole number of 0 or more (got {_whole(value)}): how many more "
            "allowed routes to try after the first"
        )
    return value


def _whole(value: object) -> str:
    negative = isinstance(value, int) and not isinstance(value, bool) and value < 0
    return "a negative integer" if negative else kind(value)


def deadline_failure(provider: str, seconds: float) -> UpstreamFailure:
    """The failure of an attempt cut short by the caller's ``timeout`` (``seconds`` were left)."""
    return UpstreamFailure(
        f"{provider}: timeout: no answer in the {seconds:.3g} s left of the call's timeout",
        kind=FailureKind.TIMEOUT,
        status_code=408,
        provider=provider,
    )
