"""Rate limits and 429 storms: arithmetic over ``now``, no sleeping, no clock of their own."""

from __future__ import annotations

import random
from dataclasses import dataclass

from leobatch.run.limits import Bucket

__all__ = ["Storm", "TokenBucket"]


class TokenBucket:
    """``capacity`` requests per ``window_s``, refilled continuously; starts full.

    ``take(now)`` spends one token and returns 0.0, or spends nothing and returns how many
    seconds until a token will be there (the Retry-After to send). The arithmetic is the
    client's own :class:`~leobatch.run.limits.Bucket`: one token bucket in the code base.
    """

    __slots__ = ("_bucket", "_rate", "capacity")

    def __init__(self, capacity: int, window_s: float) -> None:
        self.capacity = capacity
        self._rate = capacity / window_s
        self._bucket: Bucket | None = None

    def take(self, now: float) -> float:
        """Spend a token at ``now``; 0.0 when granted, else the wait in seconds."""
        bucket = self._bucket or Bucket(float(self.capacity), self._rate, float(self.capacity), now)
        wait = bucket.wait_s(now)
        if wait > 0:
            self._bucket = bucket.refill(now)
            return wait
        self._bucket = bucket.take(now)
        return 0.0


@dataclass(frozen=True, slots=True)
class Storm:
    """Bursts of 429s: the first ``fraction`` of every ``period_s`` refuses every API request.

    The phase is drawn from ``seed`` so a storm replays the same way for the same seed.
    """

    fraction: float
    period_s: float
    phase_s: float

    @classmethod
    def seeded(cls, fraction: float, period_s: float, seed: int) -> Storm:
        """A storm whose phase comes from ``seed``."""
        return cls(fraction, period_s, random.Random(f"storm-{seed}").uniform(0, period_s))

    def wait(self, now: float) -> float:
        """Seconds until the current burst ends at ``now``, 0.0 outside a burst."""
        if self.fraction <= 0.0:
            return 0.0
        position = (now + self.phase_s) % self.period_s
        burst = self.fraction * self.period_s
        return burst - position if position < burst else 0.0
