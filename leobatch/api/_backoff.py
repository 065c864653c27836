"""How long to wait before retrying a request, and the one retry loop leobatch has.

:func:`delay_s` (exponential backoff with full jitter) is a pure function of the attempt number,
the server's ``Retry-After`` and a random source, so it is tested without sleeping.
:class:`Retries` keeps one request's two budgets (429s and transient failures) and decides each
wait; :meth:`Retries.run` is the loop around an attempt. The client's idempotent calls and the
downloader both go through it; the scheduler uses :func:`delay_s` for creates it has reconciled.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import anyio

from leobatch.errors import RateLimitedError, TransientError

__all__ = ["Retries", "RetryPolicy", "delay_s", "parse_retry_after"]

log = logging.getLogger("leobatch.api")
T = TypeVar("T")


class Uniform(Protocol):
    """A random source: ``random.Random`` satisfies it."""

    def uniform(self, a: float, b: float) -> float:
        """A float in ``[a, b]``."""
        ...


_DEFAULT_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an idempotent request is retried.

    ``attempts`` bounds the tries after transient failures (5xx, timeouts, resets), the first
    try included; ``rate_limited_attempts`` bounds the tries after 429s, which say the request
    did nothing and are common under load, so they get a budget of their own. Delays come from
    :func:`delay_s` with ``base_s`` and ``cap_s``. A server asking to wait longer than
    ``max_retry_after_s`` is not waited for: the
    :class:`~leobatch.errors.RateLimitedError` reaches the caller at once.
    """

    attempts: int = 5
    rate_limited_attempts: int = 10
    base_s: float = 0.25
    cap_s: float = 10.0
    max_retry_after_s: float = 60.0


def delay_s(
    attempt: int,
    retry_after_s: float | None = None,
    rng: Uniform | None = None,
    *,
    base_s: float = 0.25,
    cap_s: float = 10.0,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Without ``retry_after_s``: full jitter, uniform in ``[0, min(cap_s, base_s * 2**attempt)]``
    (AWS architecture blog, "Exponential Backoff And Jitter"). With it: the server's wait plus a
    jitter of up to ``base_s``, so clients told the same ``Retry-After`` do not return in a herd.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    r = rng if rng is not None else _DEFAULT_RNG
    if retry_after_s is not None:
        return max(0.0, retry_after_s) + r.uniform(0.0, base_s)
    # min() before the power would overflow for absurd attempt numbers
    ceiling = cap_s if attempt >= 62 else min(cap_s, base_s * 2.0**attempt)
    return r.uniform(0.0, ceiling)


@dataclass(slots=True)
class Retries:
    """One request's retries under ``policy``: the 429 and transient budgets spent so far.

    :meth:`wait_s` is the decision (pure but for ``rng``, tested without sleeping); :meth:`run`
    is the loop. ``final`` lists TransientError subclasses that another try cannot fix (a
    download whose destination is refused), raised at once.
    """

    policy: RetryPolicy
    rng: Uniform = field(default=_DEFAULT_RNG)
    final: tuple[type[Exception], ...] = ()
    transient: int = 0
    limited: int = 0
    #: attempts :meth:`run` has made so far
    tries: int = 0

    def wait_s(self, error: RateLimitedError | TransientError) -> float | None:
        """Count ``error`` against its budget: the seconds to wait before the next try, or
        ``None`` when it is not retried (its budget spent, a ``Retry-After`` longer than
        ``policy.max_retry_after_s``, or a ``final`` error)."""
        policy = self.policy
        if isinstance(error, self.final):
            return None
        retry_after = None
        if isinstance(error, RateLimitedError):
            self.limited += 1
            retry_after = error.retry_after_s
            attempt, spent = self.limited - 1, self.limited >= policy.rate_limited_attempts
        else:
            self.transient += 1
            attempt, spent = self.transient - 1, self.transient >= policy.attempts
        if spent or (retry_after is not None and retry_after > policy.max_retry_after_s):
            return None
        return delay_s(attempt, retry_after, self.rng, base_s=policy.base_s, cap_s=policy.cap_s)

    async def run(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """``attempt()``'s result, called again after each 429 or transient failure for as long
        as :meth:`wait_s` allows; the last error is raised as it came."""
        while True:
            self.tries += 1
            try:
                return await attempt()
            except (RateLimitedError, TransientError) as e:
                wait = self.wait_s(e)
                if wait is None:
                    raise
                log.debug("%s: retry in %.3f s after: %s", what, wait, e)
                await anyio.sleep(wait)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or HTTP date); ``None`` if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
