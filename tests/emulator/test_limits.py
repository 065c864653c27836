"""Limits: slots, the pending queue, create and global rate limits, 429s with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leobatch.emulator.limits import Storm, TokenBucket
from tests.conftest import EmulatorHandle
from tests.emulator.support import client, create_image, wait_done

Factory = Callable[..., EmulatorHandle]


def test_token_bucket_arithmetic() -> None:
    """A bucket grants its capacity at once, then one token per capacity/window seconds."""
    bucket = TokenBucket(capacity=2, window_s=10.0)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == 5.0
    assert bucket.take(4.0) == pytest.approx(1.0)
    assert bucket.take(5.0) == 0.0


def test_storm_windows() -> None:
    """A storm refuses during the first fraction of each period, and says how long is left."""
    storm = Storm(fraction=0.25, period_s=4.0, phase_s=0.0)
    assert storm.wait(0.5) == 0.5
    assert storm.wait(1.5) == 0.0
    assert storm.wait(4.25) == 0.75


def test_jobs_wait_for_slots(make_emulator: Factory) -> None:
    """With 2 slots, 6 jobs run at most 2 at a time and all complete."""
    handle = make_emulator(slots=2, time_scale=0.05)
    real_clock = handle.state.clock
    frozen = real_clock()
    handle.state.clock = lambda: frozen
    with client(handle) as http:
        ids = [create_image(http, seed=i) for i in range(6)]
        assert handle.stats()["jobs_queued"] == 4
        handle.state.clock = real_clock
        rows = [wait_done(http, f"/generations/{g}", "generations_by_pk") for g in ids]
    assert {row["status"] for row in rows} == {"COMPLETE"}
    stats = handle.stats()
    assert stats["peak_running"] == 2
    assert stats["slot_busy_s"] > 0 and 0.9 < stats["utilisation"] <= 1.0


def test_queue_is_capped_at_20_per_slot(make_emulator: Factory) -> None:
    """One slot: one job runs, 20 wait, the 22nd create gets a 429 with Retry-After."""
    handle = make_emulator(slots=1, creates_per_slot_per_minute=100, time_scale=1.0)
    with client(handle) as http:
        codes = [http.post("/generations", json={"prompt": f"p{i}"}).status_code for i in range(22)]
        refused = http.post("/generations", json={"prompt": "one more"})
    assert codes == [200] * 21 + [429]
    assert refused.status_code == 429 and float(refused.headers["Retry-After"]) > 0
    assert set(refused.json()) == {"error", "path", "code"}
    assert handle.stats()["creates"] == 21


def test_create_rate_limit_per_endpoint(make_emulator: Factory) -> None:
    """One slot allows 10 creates per minute per create endpoint; other routes stay open."""
    handle = make_emulator(slots=1, time_scale=1.0)
    with client(handle) as http:
        codes = [http.post("/generations", json={"prompt": f"p{i}"}).status_code for i in range(11)]
        limited = http.post("/generations", json={"prompt": "again"})
        assert http.get("/me").status_code == 200
    assert codes == [200] * 10 + [429]
    assert 0.0 < float(limited.headers["Retry-After"]) <= 6.0
    assert handle.stats()["too_many_requests"] == 2


def test_global_request_limit(make_emulator: Factory) -> None:
    """Past the global per-minute limit every API request gets 429; tokens come back in time."""
    handle = make_emulator(requests_per_minute=5, time_scale=1.0)
    with client(handle) as http:
        codes = [http.get("/me").status_code for _ in range(6)]
        retry_after = float(http.get("/me").headers["Retry-After"])
        assert codes == [200] * 5 + [429]
        assert 0.0 < retry_after <= 12.0
        real_clock = handle.state.clock
        handle.state.clock = lambda: real_clock() + 12.0
        assert http.get("/me").status_code == 200


def test_retry_after_can_be_left_out(make_emulator: Factory) -> None:
    """``retry_after=False`` sends 429s without the header."""
    handle = make_emulator(requests_per_minute=1, retry_after=False)
    with client(handle) as http:
        http.get("/me")
        refused = http.get("/me")
    assert refused.status_code == 429 and "Retry-After" not in refused.headers


def test_storm_refuses_everything(make_emulator: Factory) -> None:
    """``storm=1.0`` is one endless burst: every API request gets 429, counted as a fault."""
    handle = make_emulator(storm=1.0)
    codes = [httpx.get(f"{handle.base_url}/me", headers=handle.headers).status_code
             for _ in range(3)]  # fmt: skip
    assert codes == [429, 429, 429]
    assert handle.stats()["faults"]["storm"] == 3


@given(
    capacity=st.integers(1, 50),
    window_s=st.floats(0.1, 100.0),
    gaps=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=200),
)
def test_token_bucket_never_overgrants(capacity: int, window_s: float, gaps: list[float]) -> None:
    """Over any run of requests, grants <= capacity + rate x elapsed, and refusals say when."""
    bucket = TokenBucket(capacity, window_s)
    now, granted = 0.0, 0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait == 0.0:
            granted += 1
        else:
            assert 0.0 < wait <= window_s / capacity + 1e-9
    assert granted <= capacity + now * capacity / window_s + 1e-9
