"""Client-side rate limits: token buckets whose arithmetic is a pure function of ``now``.

The scheduler asks a bucket how long to wait before it may send; the bucket never sleeps itself,
so its arithmetic is tested without a clock. Windows scale with ``time_scale`` so that a run
against a time-scaled emulator keeps the same shape as one against the real API.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio

__all__ = ["Bucket", "RateLimiter", "default_limits"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket: ``capacity`` tokens refilled at ``rate_per_s``, ``tokens`` at ``at_s``."""

    capacity: float
    rate_per_s: float
    tokens: float
    at_s: float

    @classmethod
    def per_minute(cls, per_minute: float, now_s: float, *, time_scale: float = 1.0) -> Bucket:
        """A bucket allowing ``per_minute`` requests per (scaled) minute, starting full.

        Capacity is a sixth of the minute's allowance (at least 1): bursts stay well inside the
        server's sliding window while the steady rate is the full allowance.
        """
        capacity = max(1.0, per_minute / 6)
        return cls(capacity, per_minute / (60.0 * time_scale), capacity, now_s)

    def refill(self, now_s: float) -> Bucket:
        """The bucket as of ``now_s``."""
        elapsed = max(0.0, now_s - self.at_s)
        tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        return Bucket(self.capacity, self.rate_per_s, tokens, max(now_s, self.at_s))

    def wait_s(self, now_s: float) -> float:
        """Seconds from ``now_s`` until one token is available (0 when one is)."""
        bucket = self.refill(now_s)
        if bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def take(self, now_s: float) -> Bucket:
        """The bucket after one token is taken at ``now_s`` (tokens may go negative: a debt)."""
        bucket = self.refill(now_s)
        return Bucket(bucket.capacity, bucket.rate_per_s, bucket.tokens - 1.0, bucket.at_s)

    def pause(self, now_s: float, for_s: float) -> Bucket:
        """The bucket after the server asked us to hold off for ``for_s`` (HTTP 429)."""
        bucket = self.refill(now_s)
        debt = min(bucket.tokens, 0.0) - for_s * bucket.rate_per_s
        return Bucket(bucket.capacity, bucket.rate_per_s, min(debt, 1.0 - 1e-9), bucket.at_s)


class RateLimiter:
    """Async gate over one or more buckets; ``acquire()`` waits until every bucket has a token."""

    def __init__(self, per_minute: float, *, time_scale: float = 1.0) -> None:
        self._bucket = Bucket.per_minute(per_minute, anyio.current_time(), time_scale=time_scale)
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait for a token and take it. Callers are served in arrival order."""
        if not self._lock.locked():
            # Nobody waiting and a token free (the usual case): take it without yielding.
            now = anyio.current_time()
            if self._bucket.wait_s(now) <= 0:
                self._bucket = self._bucket.take(now)
                return
        async with self._lock:
            while (wait := self._bucket.wait_s(anyio.current_time())) > 0:
                await anyio.sleep(wait)
            self._bucket = self._bucket.take(anyio.current_time())

    def pause(self, for_s: float) -> None:
        """Hold every caller off for ``for_s`` seconds (the server said 429)."""
        self._bucket = self._bucket.pause(anyio.current_time(), for_s)


def default_limits(slots: int) -> tuple[int, int]:
    """(creates per minute per create endpoint, requests per minute overall) for ``slots``.

    api-facts §3: one concurrency slot comes with 10 generation requests per minute; every
    endpoint together is limited to 2000 requests per minute.
    """
    return 10 * max(1, slots), 2000
