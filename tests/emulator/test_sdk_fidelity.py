"""Fidelity: the official SDK drives every endpoint of the emulator and parses every answer."""

from __future__ import annotations

import functools
import io
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from leonardo_ai_sdk import LeonardoAiSDK  # a test dependency: missing it must fail, not skip
from PIL import Image

from tests.conftest import EmulatorHandle

PHOENIX = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"
SPARKLECORE = "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a"


def _until_done(read: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Call ``read`` until the row it returns is no longer PENDING."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = read()
        if str(row.status.value) != "PENDING" or time.monotonic() > deadline:
            return row
        time.sleep(0.02)


def _generation(sdk: Any, generation_id: str) -> Any:
    return sdk.image.get_generation_by_id(id=generation_id).object.generations_by_pk


def _picture(client: httpx.Client, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, url
    picture = Image.open(io.BytesIO(response.content))
    picture.load()
    return picture


def _mp4(client: httpx.Client, url: str) -> bytes:
    data = client.get(url).content
    assert data[4:8] == b"ftyp", url
    return data


def _png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _upload(sdk: Any, client: httpx.Client) -> str:
    """The two-step upload: SDK for step 1, a plain multipart POST (no auth) for step 2."""
    upload = sdk.init_images.upload_init_image(request={"extension": "png"}).object
    step = upload.upload_init_image
    fields = json.loads(step.fields)
    files = {"file": ("init.png", _png_bytes(640, 480), "image/png")}
    assert client.post(step.url, data=fields, files=files).status_code == 204
    got = sdk.init_images.get_init_image_by_id(id=step.id).object.init_images_by_pk
    assert got.id == step.id
    return str(step.id)


def test_sdk_drives_every_endpoint(emulator: EmulatorHandle) -> None:
    """Every endpoint of issue 3 answers in shapes the SDK parses; every kind completes."""
    with (
        LeonardoAiSDK(bearer_auth=emulator.api_key, server_url=emulator.base_url) as sdk,
        httpx.Client() as cdn,
    ):
        me = sdk.user.get_user_self().object.user_details[0]
        user_id = me.user.id
        assert me.api_concurrency_slots == 10
        assert sdk.models.list_platform_models().object.custom_models
        assert sdk.elements.list_elements().object.loras
        calc = sdk.pricing_calculator.pricing_calculator(request={
            "service": "IMAGE_GENERATION",
            "service_params": {"image_generation": {"image_width": 512, "image_height": 512,
                                                    "num_images": 4, "inference_steps": 10}},
        }).object  # fmt: skip
        assert calc.calculate_production_api_service_cost.cost > 0
        improved = sdk.prompt.prompt_improve(request={"prompt": "a mug"}).object
        assert improved.prompt_generation.prompt.startswith("a mug")

        init_id = _upload(sdk, cdn)
        created = sdk.image.create_generation(request={
            "prompt": "a ceramic mug on marble", "model_id": PHOENIX, "width": 512,
            "height": 512, "num_images": 2, "init_image_id": init_id, "init_strength": 0.4,
            "contrast": 3.5, "elements": [{"ak_uuid": SPARKLECORE, "weight": 0.8}],
        }).object.sd_generation_job  # fmt: skip
        gen_id = created.generation_id
        assert int(created.cost.amount) > 0

        def generation() -> Any:
            return sdk.image.get_generation_by_id(id=gen_id).object.generations_by_pk

        done = _until_done(generation)
        assert done.status.value == "COMPLETE"
        image_id = done.generated_images[0].id
        assert _picture(cdn, done.generated_images[0].url).size == (512, 512)
        listing = sdk.image.get_generations_by_user_id(user_id=user_id, limit=5).object
        assert listing.generations[0].id == gen_id

        def variation(job_id: str) -> Any:
            return _until_done(lambda: sdk.variation.get_variation_by_id(
                id=job_id).object.generated_image_variation_generic[0])  # fmt: skip

        up = sdk.variation.create_variation_upscale(request={"id": image_id}).object
        unzoom = sdk.variation.create_variation_unzoom(request={"id": image_id}).object
        nobg = sdk.variation.create_variation_no_bg(request={"id": image_id}).object
        uni = sdk.variation.create_universal_upscaler_job(request={
            "init_image_id": init_id, "ultra_upscale_style": "REALISTIC",
            "upscale_multiplier": 2.0}).object  # fmt: skip
        up_row = variation(up.sd_upscale_job.id)
        assert _picture(cdn, up_row.url).size == (1024, 1024)
        assert _picture(cdn, variation(unzoom.sd_unzoom_job.id).url).size[0] > 512
        nobg_picture = _picture(cdn, variation(nobg.sd_nobg_job.id).url)
        assert (nobg_picture.format, nobg_picture.mode) == ("PNG", "RGBA")
        assert _picture(cdn, variation(uni.universal_upscaler.id).url).size == (1280, 960)
        nobg_of_variation = sdk.variation.create_variation_no_bg(
            request={"id": up.sd_upscale_job.id, "is_variation": True}).object  # fmt: skip
        assert variation(nobg_of_variation.sd_nobg_job.id).status.value == "COMPLETE"
        parent = generation().generated_images[0].generated_image_variation_generics
        assert {v.id for v in parent} >= {up.sd_upscale_job.id, nobg.sd_nobg_job.id}

        t2v = sdk.motion.create_text_to_video_generation(
            request={"prompt": "waves at dusk", "resolution": "RESOLUTION_480"}
        ).object.motion_video_generation_job.generation_id
        i2v = sdk.motion.create_image_to_video_generation(request={
            "prompt": "slow push in", "image_id": image_id, "image_type": "GENERATED"}
        ).object.motion_video_generation_job.generation_id  # fmt: skip
        svd = sdk.motion.create_svd_motion_generation(
            request={"image_id": init_id, "is_init_image": True, "motion_strength": 3}
        ).object.motion_svd_generation_job.generation_id
        for video_id in (t2v, i2v, svd):
            video = _until_done(functools.partial(_generation, sdk, video_id))
            assert video.status.value == "COMPLETE"
            _mp4(cdn, video.generated_images[0].motion_mp4_url)
            _picture(cdn, video.generated_images[0].url)
        upscale = sdk.motion.create_video_upscale(
            request={"source_generation_id": t2v, "resolution": "RESOLUTION_720"}
        ).object.motion_video_generation_job
        motion = _until_done(lambda: sdk.variation.get_motion_variation_by_id(
            id=upscale.variation_id).object.generated_image_variation_motion[0])  # fmt: skip
        assert motion.status.value == "COMPLETE"
        _mp4(cdn, motion.url)

        deleted = sdk.image.delete_generation_by_id(id=gen_id).object
        assert deleted.delete_generations_by_pk.id == gen_id
        assert sdk.image.get_generation_by_id(id=gen_id).object.generations_by_pk is None
        gone = sdk.init_images.delete_init_image_by_id(id=init_id).object
        assert gone.delete_init_images_by_pk.id == init_id
