"""Resends: when a transient failure is sent again to the same route, and after how long.

As the openai SDK does it (``_base_client.py``): a timeout, a connection error, a 429 or a 5xx
is resent, by default twice, after an exponential backoff with jitter (0.5 s doubling, at most
8 s, less up to a quarter at random), or after the provider's ``retry-after`` when it asks for
at most 60 s. Each resend is its own attempt. Failover to the next allowed route comes after
the resends; the caller's deadline bounds them all.

Pure: no I/O, no clock. The provider's ``retry-after`` is read where its answer is
(router/_upstream/errors.py, ``retry_after``).
"""

from __future__ import annotations

from typing import Final

from router._errors import FailureKind

__all__ = ["DEFAULT_RESENDS", "RESENT", "delay", "resends"]

DEFAULT_RESENDS: Final = 2  # the openai SDK's max_retries
INITIAL_DELAY: Final = 0.5
MAX_DELAY: Final = 8.0
RETRY_AFTER_LIMIT: Final = 60.0  # a longer retry-after is not waited for: backoff instead
RESENT: Final = frozenset(
    {FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.RATE_LIMIT, FailureKind.SERVER}
)


def resends(num_retries: int | None, max_retries: int | None, default: int) -> int:
    """How many times a transient failure may be resent to one route, from litellm's two
    arguments: ``max_retries`` is the openai SDK's resends within one call (``default`` when
    not given) and ``num_retries`` litellm's own retries of the whole call on top of them."""
    return (default if max_retries is None else max_retries) + (num_retries or 0)


def delay(resent: int, retry_after: float | None, jitter: float) -> float:
    """Seconds to wait before resend number ``resent + 1`` (``resent`` already made);
    ``jitter`` is a number in [0, 1)."""
    if retry_after is not None and 0 < retry_after <= RETRY_AFTER_LIMIT:
        return retry_after
    backoff = min(INITIAL_DELAY * 2.0**resent, MAX_DELAY)
    return backoff * (1 - 0.25 * jitter)
