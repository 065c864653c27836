"""Every client method against the emulator, on asyncio and trio."""

from __future__ import annotations

import io

import anyio
import pytest
from api_support import Emulated
from PIL import Image

from leobatch.api.client import Generation, LeonardoClient, Variation
from leobatch.errors import NotFoundError

pytestmark = pytest.mark.anyio

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def _finished(client: LeonardoClient, generation_id: str) -> Generation:
    with anyio.fail_after(10):
        while True:
            gen = await client.get_generation(generation_id)
            assert gen is not None
            if gen.status != "PENDING":
                return gen
            await anyio.sleep(0.02)


async def _variation_done(client: LeonardoClient, variation_id: str, motion: bool) -> Variation:
    get = client.get_motion_variation if motion else client.get_variation
    with anyio.fail_after(10):
        while True:
            variation = await get(variation_id)
            assert variation is not None
            if variation.status != "PENDING":
                return variation
            await anyio.sleep(0.02)


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


async def test_me_reads_the_account(emulated: Emulated) -> None:
    """/me gives the user id, the balance as paid + subscription, and the slots."""
    async with emulated(credits=1234, slots=7) as (client, state):
        account = await client.me()
    assert account.user_id == state.config.user_id
    assert (account.credits, account.paid_credits, account.subscription_credits) == (1234, 1234, 0)
    assert account.slots == 7


async def test_image_generation_lifecycle(emulated: Emulated) -> None:
    """Create, poll to COMPLETE, find it in the listing, delete it, and it is gone."""
    async with emulated() as (client, state):
        body = {"prompt": "a ceramic mug", "width": 512, "height": 512, "num_images": 2, "seed": 7}
        created = await client.create("/generations", body)
        assert created.credits == state.charged
        assert created.cost_unit == "CREDITS"
        gen = await _finished(client, created.id)
        assert (gen.status, gen.prompt, gen.width, gen.height, gen.seed) == (
            "COMPLETE", "a ceramic mug", 512, 512, 7,
        )  # fmt: skip
        assert len(gen.images) == 2
        assert all(image.url and image.id for image in gen.images)
        listed = await client.list_generations(state.config.user_id, limit=10)
        assert [g.id for g in listed] == [created.id]
        await client.delete_generation(created.id)
        assert await client.get_generation(created.id) is None
        with pytest.raises(NotFoundError):
            await client.delete_generation(created.id)


async def test_listing_is_newest_first_and_paged(emulated: Emulated) -> None:
    """The user listing pages with offset/limit, newest first."""
    async with emulated() as (client, state):
        ids = [
            (await client.create("/generations", {"prompt": f"p{i}", "num_images": 1})).id
            for i in range(3)
        ]
        user = state.config.user_id
        first = await client.list_generations(user, offset=0, limit=2)
        rest = await client.list_generations(user, offset=2, limit=2)
    assert [g.id for g in first + rest] == ids[::-1]


async def test_find_generations_parses_only_the_wanted_ids(emulated: Emulated) -> None:
    """A status poll gets the wanted generations of a page and the page's size."""
    async with emulated() as (client, state):
        ids = [
            (await client.create("/generations", {"prompt": f"p{i}", "num_images": 1})).id
            for i in range(3)
        ]
        user = state.config.user_id
        found, size = await client.find_generations(user, {ids[0], "unknown"}, limit=2)
        older, rest = await client.find_generations(user, {ids[0]}, offset=2, limit=2)
    assert (found, size) == ((), 2)  # the oldest is not on the first page of two
    assert ([g.id for g in older], rest) == ([ids[0]], 1)
    assert older[0].prompt == "p0"


async def test_variation_of_a_generated_image(emulated: Emulated) -> None:
    """nobg on a generated image is polled at /variations/{id} and shows under its parent."""
    async with emulated() as (client, _):
        created = await client.create("/generations", {"prompt": "a mug", "num_images": 1})
        image = (await _finished(client, created.id)).images[0]
        nobg = await client.create("/variations/nobg", {"id": image.id})
        variation = await _variation_done(client, nobg.id, motion=False)
        assert (variation.id, variation.status, variation.transform_type) == (
            nobg.id, "COMPLETE", "NOBG",
        )  # fmt: skip
        assert variation.url
        parent = await _finished(client, created.id)
        assert [v.id for v in parent.images[0].variations] == [nobg.id]


async def test_video_and_video_upscale(emulated: Emulated) -> None:
    """Text-to-video yields an MP4; its upscale carries a variation and a generation id."""
    async with emulated() as (client, _):
        video = await client.create("/generations-text-to-video", {"prompt": "waves"})
        gen = await _finished(client, video.id)
        assert gen.images[0].motion_mp4_url
        upscale = await client.create(
            "/generations-video-upscale",
            {"sourceGenerationId": video.id, "resolution": "RESOLUTION_720"},
        )
        assert upscale.generation_id
        assert upscale.id != upscale.generation_id
        done = await _variation_done(client, upscale.id, motion=True)
        assert (done.status, done.transform_type) == ("COMPLETE", "UPSCALE")


async def test_unknown_ids_are_none(emulated: Emulated) -> None:
    """An id the API does not know reads as None, not an exception."""
    async with emulated() as (client, _):
        assert await client.get_generation(UNKNOWN_ID) is None
        assert await client.get_variation(UNKNOWN_ID) is None
        assert await client.get_motion_variation(UNKNOWN_ID) is None
        assert await client.get_init_image(UNKNOWN_ID) is None


async def test_init_image_upload_round_trip(emulated: Emulated) -> None:
    """Two-step upload (no key sent to storage), then read and delete the init image."""
    async with emulated() as (client, _):
        image_id = await client.upload_init_image(_png(), ".PNG")
        init = await client.get_init_image(image_id)
        assert init is not None
        assert init.id == image_id
        assert init.url
        await client.delete_init_image(image_id)
        assert await client.get_init_image(image_id) is None
        with pytest.raises(NotFoundError):
            await client.delete_init_image(image_id)


async def test_improve_prompt_and_price(emulated: Emulated) -> None:
    """Improve-prompt returns text and credits; the calculator quotes what create charges."""
    async with emulated() as (client, state):
        improved = await client.improve_prompt("a mug", instructions="make it moody")
        assert improved.text
        assert improved.credits == 4
        params = {"imageWidth": 512, "imageHeight": 512, "numImages": 2, "alchemyMode": False}
        quote = await client.price("IMAGE_GENERATION", {**params, "inferenceSteps": 15})
        before = state.charged
        body = {"prompt": "x", "width": 512, "height": 512, "num_images": 2, "alchemy": False}
        created = await client.create("/generations", body)
    assert created.credits == state.charged - before == quote


async def test_platform_models_and_elements(emulated: Emulated) -> None:
    """The catalogue endpoints parse into values with ids and names."""
    async with emulated() as (client, _):
        models = await client.platform_models()
        elements = await client.elements()
    assert models
    assert all(m.id and m.name for m in models)
    assert elements
    assert all(e.ak_uuid and e.weight_min is not None for e in elements)
