"""The emulator's core loop: account, create, poll to COMPLETE, download a real image."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.conftest import EmulatorHandle
from tests.emulator.support import wait_done


def test_me_reports_account(emulator: EmulatorHandle) -> None:
    """GET /me gives the user id, the slots and the starting balance."""
    with httpx.Client(headers=emulator.headers) as client:
        details = client.get(f"{emulator.base_url}/me").json()["user_details"][0]
    assert details["user"]["id"] == emulator.state.config.user_id
    assert details["apiConcurrencySlots"] == 10
    assert details["apiPaidTokens"] == emulator.state.config.credits


def test_generation_completes_with_decodable_images(emulator: EmulatorHandle) -> None:
    """A generation goes PENDING -> COMPLETE and its JPEGs decode at the requested size."""
    body = {"prompt": "a ceramic mug", "width": 512, "height": 640, "num_images": 2, "seed": 7}
    with httpx.Client(headers=emulator.headers) as client:
        created = client.post(f"{emulator.base_url}/generations", json=body).json()
        gen_id = created["sdGenerationJob"]["generationId"]
        first = client.get(f"{emulator.base_url}/generations/{gen_id}").json()["generations_by_pk"]
        assert (first["status"], first["generated_images"]) == ("PENDING", [])
        done = wait_done(client, f"{emulator.base_url}/generations/{gen_id}",
                              "generations_by_pk")  # fmt: skip
        assert done["status"] == "COMPLETE"
        urls = [image["url"] for image in done["generated_images"]]
        assert len(urls) == 2 and all(u.startswith(emulator.origin + "/cdn/users/") for u in urls)
        first_bytes = client.get(urls[0]).content
        assert client.get(urls[0]).content == first_bytes
    picture = Image.open(io.BytesIO(first_bytes))
    assert (picture.format, picture.size) == ("JPEG", (512, 640))


def test_unknown_generation_is_null(emulator: EmulatorHandle) -> None:
    """An unknown id gives 200 with ``generations_by_pk: null`` (Hasura by-pk behaviour)."""
    unknown = "00000000-0000-4000-8000-000000000000"
    with httpx.Client(headers=emulator.headers) as client:
        response = client.get(f"{emulator.base_url}/generations/{unknown}")
    assert (response.status_code, response.json()) == (200, {"generations_by_pk": None})


def test_cdn_paths_and_distinct_colours(emulator: EmulatorHandle) -> None:
    """URLs follow users/<uid>/generations/<gid>/<name>_<i>.jpg; each job has its own colour."""
    uid = emulator.state.config.user_id
    with httpx.Client(headers=emulator.headers) as client:
        corners = []
        for prompt in ("first job", "second job"):
            created = client.post(f"{emulator.base_url}/generations",
                                  json={"prompt": prompt, "num_images": 1, "width": 256,
                                        "height": 256})  # fmt: skip
            gen_id = created.json()["sdGenerationJob"]["generationId"]
            done = wait_done(client, f"{emulator.base_url}/generations/{gen_id}",
                                  "generations_by_pk")  # fmt: skip
            url = done["generated_images"][0]["url"]
            prefix = f"{emulator.origin}/cdn/users/{uid}/generations/{gen_id}/"
            assert url.startswith(prefix) and url.endswith("_0.jpg")
            picture = Image.open(io.BytesIO(client.get(url).content)).convert("RGB")
            corners.append(picture.getpixel((255, 255)))
    assert corners[0] != corners[1]


def test_video_upscale_needs_a_completed_video(emulator: EmulatorHandle) -> None:
    """A video upscale of an image generation is refused and costs nothing."""
    with httpx.Client(headers=emulator.headers) as client:
        created = client.post(f"{emulator.base_url}/generations", json={"prompt": "still"})
        gen_id = created.json()["sdGenerationJob"]["generationId"]
        refused = client.post(f"{emulator.base_url}/generations-video-upscale",
                              json={"sourceGenerationId": gen_id,
                                    "resolution": "RESOLUTION_720"})  # fmt: skip
    assert refused.status_code == 400
    assert emulator.stats()["creates"] == 1
