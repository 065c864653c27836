"""The client over real HTTP against a loopback emulator: core calls, dropped connections."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from api_support import FAST_RETRY
from PIL import Image

from leobatch.api.client import LeonardoClient
from leobatch.errors import TransientError

pytestmark = pytest.mark.anyio

EmulatorHandle = Any  # tests/conftest.py's handle: base_url, api_key, state, stats()
IMAGE = {"prompt": "a ceramic mug", "width": 512, "height": 512, "num_images": 1}


def _client(handle: EmulatorHandle) -> LeonardoClient:
    return LeonardoClient(handle.api_key, handle.base_url, retry=FAST_RETRY)


async def test_core_calls_over_real_http(emulator: EmulatorHandle) -> None:
    """/me, create, poll, listing, calculator and the two-step upload over a real socket."""
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(png, "PNG")
    async with _client(emulator) as client:
        account = await client.me()
        created = await client.create("/generations", IMAGE)
        with anyio.fail_after(10):
            while (gen := await client.get_generation(created.id)) and gen.status == "PENDING":
                await anyio.sleep(0.02)
        listed = await client.list_generations(account.user_id)
        quote = await client.price("MOTION_SVD_GENERATION", {})
        init_id = await client.upload_init_image(png.getvalue(), "png")
        init = await client.get_init_image(init_id)
    assert gen is not None
    assert gen.status == "COMPLETE"
    assert [g.id for g in listed] == [created.id]
    assert quote == 45
    assert init is not None
    stats = emulator.stats()
    assert stats["requests"]["POST /generations"] == 1
    assert stats["requests"]["POST /pricing-calculator"] == 1


async def test_presigned_upload_does_not_send_the_key(
    make_emulator: Callable[..., EmulatorHandle],
) -> None:
    """The fake S3 refuses any Authorization header with 403; the client's upload passes."""
    handle = make_emulator()
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    async with _client(handle) as client:
        init_id = await client.upload_init_image(png.getvalue(), "png")
    assert init_id
    async with httpx.AsyncClient(headers=handle.headers) as raw:
        step_1 = (await raw.post(handle.base_url + "/init-image", json={"extension": "png"})).json()
        upload = step_1["uploadInitImage"]
        refused = await raw.post(
            upload["url"], data=json.loads(upload["fields"]), files={"file": png.getvalue()}
        )
    assert refused.status_code == 403


async def test_dropped_connections_on_reads_are_retried(
    make_emulator: Callable[..., EmulatorHandle],
) -> None:
    """With half the connections dropped mid-reply, every read still succeeds through retries."""
    handle = make_emulator(drop_rate=0.5, seed=11)
    async with _client(handle) as client:
        accounts = [await client.me() for _ in range(10)]
    assert {a.user_id for a in accounts} == {handle.state.config.user_id}
    assert handle.stats()["faults"]["drop"] > 0


async def test_dropped_create_is_transient_and_not_retried(
    make_emulator: Callable[..., EmulatorHandle],
) -> None:
    """A create whose reply is lost: TransientError after one request (it was charged!)."""
    handle = make_emulator(drop_rate=1.0)
    async with _client(handle) as client:
        with pytest.raises(TransientError, match="connection dropped"):
            await client.create("/generations", IMAGE)
    stats = handle.stats()
    assert stats["requests"]["POST /generations"] == 1
    assert stats["creates"] == 1
    assert stats["credits_charged"] > 0


async def test_connection_refused_is_transient() -> None:
    """Nobody listening: TransientError naming the host, after the bounded retries."""
    async with LeonardoClient(
        "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a", "http://127.0.0.1:9/api/rest/v1", retry=FAST_RETRY
    ) as client:
        with pytest.raises(TransientError, match=r"GET /me \(127\.0\.0\.1:9\): could not connect"):
            await client.me()
