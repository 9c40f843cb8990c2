"""What keeps a caller of ``litellm.acompletion`` working: its errors, limits and streams.

- Errors: ``dropin_error`` gives a ``RouterError`` the matching litellm class too
  (router/_upstream/compat.py has the table), so ``except litellm.RateLimitError`` keeps
  working. A refusal raised before anything is forwarded gets it only when litellm or openai
  is already imported: an ``except`` clause naming their classes needs one of them, and
  ``import router`` or a refused call never pays litellm's import (seconds) for nothing;
  nor does it while a worker thread is importing litellm (router/_upstream/loader.py): the
  event loop would wait for it.
- Limits: ``timeout`` is the deadline of the whole call, resends and failover included
  (litellm's one-time import, by the router's first call that needs it, excepted);
  ``max_retries`` (the openai SDK's resends, default the ``resends`` setting, 2) plus
  ``num_retries`` (litellm's own retries of the whole call) is how many times a transient
  failure is resent to the same route (router/_core/resend.py). litellm never retries by
  itself: each attempt is one send, and the router makes the resends.
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
from router._core.resend import resends
from router._core.values import one_write
from router._errors import FailureKind, InvalidRequest, RouterError, UpstreamFailure

LIMITS: Final = ("timeout", "num_retries", "max_retries")


def dropin_error(exc: RouterError, model: str = "") -> RouterError:
    """``exc``, also an instance of the matching litellm/openai class when one is importable."""
    if "litellm" not in sys.modules and "openai" not in sys.modules:
        return exc
    from router._upstream import setup

    if setup.importing():
        return exc
    from router._upstream.compat import compatible

    return compatible(exc, model)


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class Limits:
    """The caller's ``timeout`` (seconds, whole call), ``num_retries`` and ``max_retries``
    (resends to the same route, as litellm and the openai SDK mean them); None: unset."""

    timeout: float | None = None
    num_retries: int | None = None
    max_retries: int | None = None
    started: float = 0.0

    def resends(self, default: int) -> int:
        """How many times a transient failure may be resent to one route."""
        return resends(self.num_retries, self.max_retries, default)

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


def take_limits(kwargs: dict[str, Any]) -> Limits:
    """Remove ``timeout``, ``num_retries`` and ``max_retries`` from ``kwargs``; check them."""
    timeout = kwargs.pop("timeout", None)
    num_retries = _retries("num_retries", kwargs.pop("num_retries", None))
    max_retries = _retries("max_retries", kwargs.pop("max_retries", None))
    return Limits(_timeout(timeout), num_retries, max_retries, time.monotonic())


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


def _retries(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(
            f"{name!r} must be a whole number of 0 or more (got {_whole(value)}): how many "
            "times a transient failure is resent to the same route",
            param=name,
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
