"""The user listing (newest first, offset/limit) and the observation endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx
import pytest

from leobatch.emulator import EmulatorConfig, create_app
from tests.conftest import TEST_API_KEY, EmulatorHandle
from tests.emulator.support import client

Factory = Callable[..., EmulatorHandle]


def test_listing_is_newest_first_with_offset_and_limit(emulator: EmulatorHandle) -> None:
    """Pages come newest first; an offset past the end and another user's id give []."""
    user_id = emulator.state.config.user_id
    with client(emulator) as http:
        for i in range(5):
            http.post("/generations", json={"prompt": f"p{i}", "num_images": 1})
        page = http.get(f"/generations/user/{user_id}", params={"offset": 1, "limit": 3}).json()
        default = http.get(f"/generations/user/{user_id}").json()["generations"]
        past = http.get(f"/generations/user/{user_id}", params={"offset": 5}).json()
        other = http.get("/generations/user/00000000-0000-4000-8000-000000000000").json()
    assert [g["prompt"] for g in page["generations"]] == ["p3", "p2", "p1"]
    assert [g["prompt"] for g in default] == ["p4", "p3", "p2", "p1", "p0"]
    assert past == other == {"generations": []}


def test_listing_stays_fast_with_thousands(emulator: EmulatorHandle) -> None:
    """With 3,000 generations a page of 50 is read in well under 50 ms."""
    user_id = emulator.state.config.user_id
    state = emulator.state
    with client(emulator) as http:
        first = http.post("/generations", json={"prompt": "seed", "num_images": 1}).json()
        template = state.generations[first["sdGenerationJob"]["generationId"]]
        for i in range(3000):  # the same record under new ids: only the listing size matters
            gen_id = f"00000000-0000-4000-8000-{i:012d}"
            state.generations[gen_id] = template
            state.listing.append(gen_id)
        started = time.perf_counter()
        page = http.get(f"/generations/user/{user_id}", params={"offset": 100, "limit": 50})
        elapsed = time.perf_counter() - started
    assert len(page.json()["generations"]) == 50
    # A guard against scanning every generation per request, not a speed target.
    assert elapsed < 1.0


def test_stats_show_routes_duplicates_and_429s(make_emulator: Factory) -> None:
    """Stats count requests per route, duplicate bodies, charges and 429s."""
    handle = make_emulator(slots=1, time_scale=1.0)
    with client(handle) as http:
        body = {"prompt": "twice", "num_images": 1}
        for _ in range(2):
            http.post("/generations", json=body)
        for i in range(9):
            http.post("/generations", json={"prompt": f"other {i}", "num_images": 1})
        http.get("/me")
    stats = httpx.get(f"{handle.origin}/_emulator/stats").json()
    assert stats["requests"]["POST /generations"] == 11
    assert stats["requests"]["GET /me"] == 1
    assert stats["duplicate_creates"] == 1
    key = '/generations {"num_images":1,"prompt":"twice"}'
    assert stats["creates_per_body"][key] == 2
    assert stats["creates"] == 10 and stats["too_many_requests"] == 1
    assert stats["credits_charged"] == handle.state.config.credits - stats["balance"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run the in-process tests on both anyio backends."""
    return str(request.param)


@pytest.mark.anyio
async def test_in_process_drop_is_a_protocol_error() -> None:
    """In-process, a dropped connection reaches the client as ``httpx.RemoteProtocolError``."""
    app = create_app(EmulatorConfig(drop_rate=1.0))
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://emulator", headers=headers) as http:  # fmt: skip
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api/rest/v1/me")
    assert app.state.emulator.faults["drop"] == 1


@pytest.mark.anyio
async def test_in_process_app_over_asgi_transport() -> None:
    """``create_app`` serves in-process through ``httpx.ASGITransport`` (no socket)."""
    app = create_app(EmulatorConfig(time_scale=0.01))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator",
                                 headers=headers) as http:  # fmt: skip
        created = await http.post("/api/rest/v1/generations", json={"prompt": "in process"})
        gen_id = created.json()["sdGenerationJob"]["generationId"]
        for _ in range(200):
            row = (await http.get(f"/api/rest/v1/generations/{gen_id}")).json()
            if row["generations_by_pk"]["status"] != "PENDING":
                break
            await anyio.sleep(0.01)
        url = row["generations_by_pk"]["generated_images"][0]["url"]
        assert url.startswith("http://emulator/cdn/")
        picture = await http.get(url)
    assert picture.headers["content-type"] == "image/jpeg" and len(picture.content) > 1000
