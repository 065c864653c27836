"""Every fault and limit applies to v2 creates as to v1 ones."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.support import client, create_image, create_v2, root_client, v2_done

Factory = Callable[..., EmulatorHandle]
PARAMETERS = {"prompt": "a kite", "width": 1024, "height": 1024, "quantity": 1}
BODY = {"model": "gemini-image-2", "public": False, "parameters": PARAMETERS}


def test_error_before_create(make_emulator: Factory) -> None:
    """A 5xx fault answers the flat envelope and creates and charges nothing."""
    emulator = make_emulator(error_rate=1.0)
    with root_client(emulator) as http:
        answer = http.post("/v2/generations", json=BODY)
    assert (answer.status_code, answer.json()["error"]) == (500, "internal error")
    stats = emulator.stats()
    assert (stats["jobs_created"], stats["credits_charged"], stats["faults"]["error"]) == (0, 0, 1)


def test_ghost_create_is_charged_and_listed(make_emulator: Factory) -> None:
    """A ghost answers 500, yet the job exists, is charged and shows in the user listing (where
    a client reconciles it) with the prompt, size and no model id."""
    emulator = make_emulator(ghost_rate=1.0)
    with root_client(emulator) as http:
        answer = http.post("/v2/generations", json=BODY)
        assert answer.status_code == 500
        user = emulator.state.config.user_id
        (row,) = http.get(f"/v1/generations/user/{user}").json()["generations"]
    assert (row["prompt"], row["modelId"], row["imageWidth"]) == ("a kite", None, 1024)
    stats = emulator.stats()
    assert stats["jobs_created"] == stats["creates"] == stats["faults"]["ghost"] == 1
    assert stats["credits_charged"] > 0


def test_storm_and_create_limit(make_emulator: Factory) -> None:
    """A 429 storm refuses v2 creates; the create limit (10 per slot per minute) counts
    /v2/generations on its own, apart from v1's /generations."""
    stormy = make_emulator(storm=1.0)
    with root_client(stormy) as http:
        answer = http.post("/v2/generations", json=BODY)
    assert answer.status_code == 429 and "Retry-After" in answer.headers
    emulator = make_emulator(slots=1, time_scale=1.0)
    with root_client(emulator) as http, client(emulator) as v1:
        codes = [http.post("/v2/generations", json=BODY).status_code for _ in range(11)]
        assert codes == [200] * 10 + [429]
        assert http.post("/v2/generations", json=BODY).json()["error"] == (
            "Rate limit exceeded for /v2/generations"
        )
        create_image(v1)  # v1's own create endpoint still has its budget
    assert emulator.stats()["requests"]["POST /v2/generations"] == 12


def test_duplicate_submissions_are_counted(make_emulator: Factory) -> None:
    """The same v2 body twice is a duplicate in the stats; resubmitting after FAILED is not."""
    emulator = make_emulator()
    with root_client(emulator) as http:
        for _ in range(2):
            create_v2(http, "gemini-image-2", PARAMETERS)
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 1 and stats["distinct_bodies"] == 1
    (key,) = stats["creates_per_body"]
    assert key.startswith("/v2/generations {")
    failing = make_emulator(fail_rate=1.0)
    with root_client(failing) as http:
        assert v2_done(http, create_v2(http, "kling-2.6", {"prompt": "x"}))["status"] == "FAILED"
        failing.state.set_fault_rate("fail", 0.0)
        assert v2_done(http, create_v2(http, "kling-2.6", {"prompt": "x"}))["status"] == "COMPLETE"
    assert failing.stats()["duplicate_creates"] == 0


@pytest.mark.parametrize("fault", ["truncate", "slow"])
def test_downloads_of_v2_outputs(make_emulator: Factory, fault: str) -> None:
    """A v2 video download is cut short (truncate) or trickles out whole (slow)."""
    emulator = make_emulator()
    with root_client(emulator) as http:
        done = v2_done(http, create_v2(http, "kling-2.6", {"prompt": "x", "duration": 5}))
        url = done["generated_images"][0]["motionMP4URL"]
        whole = http.get(url).content
        emulator.state.set_fault_rate(fault, 1.0)
        if fault == "truncate":
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(url)
        else:
            assert http.get(url).content == whole
    assert emulator.stats()["faults"][fault] == 1
