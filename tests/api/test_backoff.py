"""Backoff arithmetic: exponential growth, full jitter, Retry-After honoured; no sleeping."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leobatch.api._backoff import delay_s, parse_retry_after


class _Top:
    """A random source that always picks the upper bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_ceiling_doubles_then_caps() -> None:
    """The jitter ceiling doubles each attempt from base_s until cap_s."""
    ceilings = [delay_s(n, None, _Top(), base_s=0.5, cap_s=3.0) for n in range(6)]
    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_huge_attempt_does_not_overflow() -> None:
    """An absurd attempt number still gives the cap, not an OverflowError."""
    assert delay_s(10_000, None, _Top(), base_s=1.0, cap_s=7.0) == 7.0


@given(
    attempt=st.integers(min_value=0, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_full_jitter_stays_in_range(attempt: int, seed: int) -> None:
    """Without Retry-After the delay is in [0, min(cap, base * 2**attempt)]."""
    d = delay_s(attempt, None, random.Random(seed), base_s=0.25, cap_s=10.0)
    assert 0.0 <= d <= min(10.0, 0.25 * 2.0 ** min(attempt, 100))


@given(
    retry_after=st.floats(min_value=0.0, max_value=120.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_after_is_a_floor(retry_after: float, seed: int) -> None:
    """With Retry-After the delay is at least the server's wait, plus at most base_s of jitter."""
    d = delay_s(3, retry_after, random.Random(seed), base_s=0.25)
    assert retry_after <= d <= retry_after + 0.25


def test_delays_are_jittered() -> None:
    """Two clients at the same attempt rarely wait the same time (no thundering herd)."""
    rng = random.Random(7)
    assert len({delay_s(4, None, rng) for _ in range(50)}) == 50


def test_negative_attempt_refused() -> None:
    """Attempts count from 0."""
    with pytest.raises(ValueError, match="attempt"):
        delay_s(-1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), (" 0.25 ", 0.25), ("-4", 0.0), ("soon", None), (None, None), ("inf", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    """Delta-seconds parse to floats; junk and absence give None."""
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    """An HTTP date becomes the seconds until it."""
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None
    assert 28.0 <= seconds <= 30.0
