"""Token-bucket arithmetic, checked at chosen instants without a clock."""

from __future__ import annotations

import pytest

from leobatch.run.limits import Bucket, default_limits


def test_full_bucket_allows_a_burst_of_its_capacity() -> None:
    """A fresh bucket of 60/min lets 10 requests through at once, then asks to wait."""
    b = Bucket.per_minute(60, now_s=0.0)
    for _ in range(10):
        assert b.wait_s(0.0) == 0.0
        b = b.take(0.0)
    assert b.wait_s(0.0) == pytest.approx(1.0)


def test_steady_rate_matches_the_allowance() -> None:
    """Over a long stretch the bucket admits per_minute requests per minute, not more."""
    b = Bucket.per_minute(100, now_s=0.0)
    now, sent = 0.0, 0
    while now < 600.0:
        now += b.wait_s(now)
        b = b.take(now)
        sent += 1
    # 10 minutes at 100/min plus the initial burst capacity (100/6).
    assert 1000 <= sent <= 1000 + 100 / 6 + 1


def test_time_scale_shrinks_the_window() -> None:
    """At time scale 0.01 a minute's allowance refills in 0.6 s."""
    b = Bucket.per_minute(60, now_s=0.0, time_scale=0.01)
    assert b.rate_per_s == pytest.approx(100.0)


def test_pause_holds_callers_off_for_the_retry_after() -> None:
    """After a 429 with Retry-After 5 s, no token is available for 5 s."""
    b = Bucket.per_minute(60, now_s=0.0).pause(0.0, 5.0)
    assert b.wait_s(0.0) == pytest.approx(5.0 + 1.0, abs=1e-6)
    assert b.wait_s(6.0) == pytest.approx(0.0, abs=1e-6)


def test_refill_never_goes_back_in_time() -> None:
    """A stale ``now`` does not add or remove tokens."""
    b = Bucket.per_minute(60, now_s=10.0).take(10.0)
    assert b.refill(5.0).tokens == b.tokens


def test_default_limits_scale_with_slots() -> None:
    """10 creates per slot per minute; 2000 requests per minute overall."""
    assert default_limits(10) == (100, 2000)
    assert default_limits(3) == (30, 2000)
