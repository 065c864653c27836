"""How long to wait before retrying a request: exponential backoff with full jitter.

A pure function of the attempt number, the server's ``Retry-After`` and a random source, so it
is tested without sleeping. The client uses it for idempotent calls; the scheduler uses it for
creates it has reconciled and for its own retries.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

__all__ = ["RetryPolicy", "delay_s", "parse_retry_after"]


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
