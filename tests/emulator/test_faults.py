"""Faults on demand, each seeded so that a failing run replays the same way."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.support import client, completed_image_id, wait_done

Factory = Callable[..., EmulatorHandle]


def test_error_fault_creates_nothing(make_emulator: Factory) -> None:
    """``error_rate=1``: creates get 500 and nothing is created or charged."""
    handle = make_emulator(error_rate=1.0)
    with client(handle) as http:
        response = http.post("/generations", json={"prompt": "x"})
        assert http.get("/me").status_code == 200  # reads are not affected
    assert response.status_code == 500 and response.json()["code"] == "unexpected"
    stats = handle.stats()
    assert (stats["creates"], stats["credits_charged"], stats["faults"]["error"]) == (0, 0, 1)


def test_ghost_fault_creates_and_charges(make_emulator: Factory) -> None:
    """``ghost_rate=1``: the client is told 500, but the job exists, is charged and completes."""
    handle = make_emulator(ghost_rate=1.0)
    user_id = handle.state.config.user_id
    with client(handle) as http:
        response = http.post("/generations", json={"prompt": "ghost", "num_images": 1})
        listing = http.get(f"/generations/user/{user_id}").json()["generations"]
        assert response.status_code == 500
        assert [g["prompt"] for g in listing] == ["ghost"]
        done = wait_done(http, f"/generations/{listing[0]['id']}", "generations_by_pk")
    assert done["status"] == "COMPLETE"
    stats = handle.stats()
    assert stats["creates"] == 1 and stats["credits_charged"] > 0 and stats["faults"]["ghost"] == 1


def test_drop_fault_closes_the_connection(make_emulator: Factory) -> None:
    """``drop_rate=1``: the connection closes before the reply; the request still took effect."""
    handle = make_emulator(drop_rate=1.0)
    with client(handle) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/generations", json={"prompt": "dropped"})
    assert handle.stats()["creates"] == 1
    assert handle.stats()["faults"]["drop"] == 1


def test_truncate_fault_cuts_downloads(make_emulator: Factory) -> None:
    """``truncate_rate=1``: a CDN download announces its length and stops halfway."""
    handle = make_emulator(truncate_rate=1.0)
    with client(handle) as http:
        gen_id = http.post("/generations", json={"prompt": "cut", "num_images": 1}).json()
        row = wait_done(http, f"/generations/{gen_id['sdGenerationJob']['generationId']}",
                        "generations_by_pk")  # fmt: skip
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(row["generated_images"][0]["url"])
    assert handle.stats()["faults"]["truncate"] == 1


def _outcomes(handle: EmulatorHandle, n: int) -> list[str]:
    with client(handle) as http:
        ids = [http.post("/generations", json={"prompt": f"p{i}", "num_images": 1})
               .json()["sdGenerationJob"]["generationId"] for i in range(n)]  # fmt: skip
        return [wait_done(http, f"/generations/{g}", "generations_by_pk")["status"] for g in ids]


def test_faults_replay_with_the_same_seed(make_emulator: Factory) -> None:
    """The same seed fails the same jobs; another seed fails others."""
    first = _outcomes(make_emulator(fail_rate=0.5, seed=7), 12)
    again = _outcomes(make_emulator(fail_rate=0.5, seed=7), 12)
    other = _outcomes(make_emulator(fail_rate=0.5, seed=8), 12)
    assert first == again
    assert "FAILED" in first and "COMPLETE" in first
    assert first != other


def test_failed_variation_is_refunded(make_emulator: Factory) -> None:
    """Variations fail and are refunded like generations."""
    handle = make_emulator(seed=1)
    with client(handle) as http:
        image_id = completed_image_id(http)
        handle.state.set_fault_rate("fail", 1.0)
        job = http.post("/variations/nobg", json={"id": image_id}).json()["sdNobgJob"]
        row = wait_done(http, f"/variations/{job['id']}", "generated_image_variation_generic")
    assert (row["status"], row["url"]) == ("FAILED", None)
    assert handle.stats()["credits_refunded"] == job["apiCreditCost"]


def test_slow_fault_trickles_a_complete_download(make_emulator: Factory) -> None:
    """``slow_rate=1``: the download is complete and correct but takes the scaled 5 s."""
    handle = make_emulator(slow_rate=1.0, time_scale=0.05)
    with client(handle) as http:
        gen_id = http.post("/generations", json={"prompt": "slow", "num_images": 1}).json()
        row = wait_done(http, f"/generations/{gen_id['sdGenerationJob']['generationId']}",
                        "generations_by_pk")  # fmt: skip
        started = time.monotonic()
        slow = http.get(row["generated_images"][0]["url"])
        elapsed = time.monotonic() - started
        handle.state.set_fault_rate("slow", 0.0)
        fast = http.get(row["generated_images"][0]["url"])
    assert slow.content == fast.content and slow.headers["content-type"] == "image/jpeg"
    assert elapsed >= 0.25
    assert handle.stats()["faults"]["slow"] == 1
