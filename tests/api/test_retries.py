"""The one retry loop's decisions: two budgets, Retry-After, give-ups; no sleeping."""

from __future__ import annotations

import random

import pytest

from leobatch.api._backoff import Retries, RetryPolicy
from leobatch.errors import RateLimitedError, TransientError

POLICY = RetryPolicy(attempts=3, rate_limited_attempts=4, base_s=0.5, cap_s=4.0)


class _Top:
    """A random source that always picks the upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Final(TransientError):
    """A failure no retry can fix."""


def test_transient_failures_back_off_exponentially_until_the_budget_is_spent() -> None:
    """attempts=3: two waits (full-jitter ceilings 0.5, 1.0), then give up."""
    r = Retries(POLICY, _Top())
    waits = [r.wait_s(TransientError("reset")) for _ in range(3)]
    assert waits == [0.5, 1.0, None]
    assert (r.transient, r.limited) == (3, 0)


def test_429s_have_their_own_budget() -> None:
    """429s in between do not use up the transient budget, nor the other way round."""
    r = Retries(POLICY, _Top())
    limited = RateLimitedError("429", status=429)
    assert r.wait_s(TransientError("503")) == 0.5
    assert [r.wait_s(limited) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert r.wait_s(TransientError("503")) == 1.0
    assert r.wait_s(limited) is None
    assert (r.transient, r.limited) == (2, 4)


def test_retry_after_is_the_floor_of_the_wait() -> None:
    """A 429's Retry-After is waited for, plus up to base_s of jitter."""
    r = Retries(POLICY, random.Random(3))
    wait = r.wait_s(RateLimitedError("429", status=429, retry_after_s=2.0))
    assert wait is not None
    assert 2.0 <= wait <= 2.5


def test_retry_after_past_the_maximum_gives_up() -> None:
    """A server asking for more than max_retry_after_s is not waited for."""
    r = Retries(RetryPolicy(max_retry_after_s=5.0), _Top())
    assert r.wait_s(RateLimitedError("429", status=429, retry_after_s=5.5)) is None


def test_final_errors_are_not_retried() -> None:
    """A TransientError subclass listed as final gives up at once, spending nothing."""
    r = Retries(POLICY, _Top(), final=(Final,))
    assert r.wait_s(Final("disk")) is None
    assert (r.transient, r.limited) == (0, 0)


@pytest.mark.anyio
async def test_run_retries_until_success_and_counts_tries() -> None:
    """run() calls the attempt again after each retryable failure and returns its result."""
    r = Retries(RetryPolicy(base_s=0.0001, cap_s=0.0001), random.Random(1))
    failures: list[Exception] = [TransientError("a"), RateLimitedError("b", status=429)]

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert await r.run(attempt, "test") == "ok"
    assert r.tries == 3


@pytest.mark.anyio
async def test_run_raises_the_last_error_when_spent() -> None:
    """Once the budget is spent the error itself reaches the caller."""
    r = Retries(RetryPolicy(attempts=2, base_s=0.0001, cap_s=0.0001), random.Random(1))
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise TransientError(f"try {calls}")

    with pytest.raises(TransientError, match="try 2"):
        await r.run(attempt, "test")
    assert r.tries == calls == 2
