"""The two-step init-image upload and its fake S3 target."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import av
import httpx
from PIL import Image

from tests.conftest import EmulatorHandle
from tests.emulator.support import client, png, wait_done

Factory = Callable[..., EmulatorHandle]


def _step1(http: httpx.Client, extension: str = "png") -> dict[str, Any]:
    response = http.post("/init-image", json={"extension": extension})
    assert response.status_code == 200, response.text
    step: dict[str, Any] = response.json()["uploadInitImage"]
    return step


def _step2(step: dict[str, Any], data: bytes, **headers: str) -> httpx.Response:
    fields = json.loads(step["fields"])
    return httpx.post(step["url"], data=fields, files={"file": ("f", data)}, headers=headers)


def test_upload_then_use(emulator: EmulatorHandle) -> None:
    """Step 1 gives an id and a JSON-string ``fields``; step 2 answers 204; the id is usable."""
    with client(emulator) as http:
        step = _step1(http)
        assert isinstance(step["fields"], str) and step["key"].endswith(f"{step['id']}.png")
        assert _step2(step, png(640, 480)).status_code == 204
        row = http.get(f"/init-image/{step['id']}").json()["init_images_by_pk"]
        assert http.get(row["url"]).content == png(640, 480)
        job = http.post("/variations/universal-upscaler", json={
            "initImageId": step["id"], "upscaleMultiplier": 1.5}).json()  # fmt: skip
        done = wait_done(http, f"/variations/{job['universalUpscaler']['id']}",
                         "generated_image_variation_generic")  # fmt: skip
        picture = Image.open(io.BytesIO(http.get(done["url"]).content))
    assert picture.size == (960, 720)


def test_authorization_header_is_forbidden(emulator: EmulatorHandle) -> None:
    """Sending the API key to S3 gives 403, as on the real bucket."""
    with client(emulator) as http:
        step = _step1(http)
    response = _step2(step, png(), Authorization=f"Bearer {emulator.api_key}")
    assert response.status_code == 403 and b"AccessDenied" in response.content


def test_presigned_window_expires(make_emulator: Factory) -> None:
    """After the (scaled) 2-minute window the upload is refused with 403."""
    handle = make_emulator(time_scale=1.0)
    with client(handle) as http:
        step = _step1(http)
    real_clock = handle.state.clock
    handle.state.clock = lambda: real_clock() + 121.0
    response = _step2(step, png())
    assert response.status_code == 403 and b"expired" in response.content


def test_bytes_must_match_extension(emulator: EmulatorHandle) -> None:
    """PNG bytes declared as jpg, or bytes that are no image, are refused and not stored."""
    with client(emulator) as http:
        jpg_step, png_step = _step1(http, "jpg"), _step1(http, "png")
    assert _step2(jpg_step, png()).status_code == 400
    assert _step2(png_step, b"not an image").status_code == 400
    assert emulator.state.uploads == {}


def test_bad_extension(emulator: EmulatorHandle) -> None:
    """Only png, jpg, jpeg and webp are init-image extensions."""
    with client(emulator) as http:
        response = http.post("/init-image", json={"extension": "gif"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid file extension")


def test_uploaded_image_to_video_plays(emulator: EmulatorHandle) -> None:
    """Image-to-video from an uploaded image completes with an MP4 that PyAV decodes."""
    with client(emulator) as http:
        step = _step1(http)
        assert _step2(step, png(480, 640)).status_code == 204
        created = http.post("/generations-image-to-video", json={
            "prompt": "turntable", "imageId": step["id"], "imageType": "UPLOADED"})  # fmt: skip
        gen_id = created.json()["motionVideoGenerationJob"]["generationId"]
        done = wait_done(http, f"/generations/{gen_id}", "generations_by_pk")
        video = http.get(done["generated_images"][0]["motionMP4URL"]).content
        poster = Image.open(io.BytesIO(http.get(done["generated_images"][0]["url"]).content))
    with av.open(io.BytesIO(video)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 12
    assert frames[0].height > frames[0].width  # portrait source, portrait video
    assert poster.format == "JPEG" and poster.height > poster.width
