"""The emulator refuses what the real API refuses (issue 13, items 16-19), charging nothing.

Each case posts one body and asserts the exact error body, and that no job was created and no
credit charged (``/_emulator/stats``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.support import client

PHOENIX = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"
FLUX_DEV = "b2614463-296c-462a-9586-aafdb8f00e36"
SPARKLECORE = "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a"
UNKNOWN = "0f0e0d0c-0b0a-4908-8706-050403020100"
ARGS = "$.selectionSet.sdGenerationJob.args"
VIDEO_ARGS = "$.selectionSet.motionVideoGenerationJob.args"


def _invalid(path: str) -> dict[str, str]:
    return {"path": path, "code": "validation-failed"}


def _unexpected(message: str) -> dict[str, str]:
    return {"error": message, "path": "$", "code": "unexpected"}


#: (id, endpoint, body, status, exact error body)
CASES: list[tuple[str, str, dict[str, Any], int, dict[str, str]]] = [
    # item 16: nested objects checked against the wire table
    ("element-empty", "/generations", {"prompt": "x", "elements": [{}]}, 400,
     {"error": 'missing required field "akUUID"', **_invalid(f"{ARGS}.arg1.elements[0]")}),
    ("akUUID-number", "/generations", {"prompt": "x", "elements": [{"akUUID": 12345}]}, 400,
     {"error": "expected a string for type 'String', but found a number",
      **_invalid(f"{ARGS}.arg1.elements[0].akUUID")}),
    ("weight-string", "/generations",
     {"prompt": "x", "elements": [{"akUUID": SPARKLECORE, "weight": "1.5"}]}, 400,
     {"error": "expected a float for type 'Float', but found a string",
      **_invalid(f"{ARGS}.arg1.elements[0].weight")}),
    ("controlnet-unknown-key", "/generations",
     {"prompt": "x", "controlnets": [{"initImageId": UNKNOWN, "initImageType": "UPLOADED",
                                      "preprocessorId": 67, "influence": 0.5}]}, 400,
     {"error": "field \"influence\" not found in type: 'controlnet_input'",
      **_invalid(f"{ARGS}.arg1.controlnets[0].influence")}),
    ("userElements-unknown-key", "/generations",
     {"prompt": "x", "userElements": [{"userLoraId": 1, "strength": 1}]}, 400,
     {"error": "field \"strength\" not found in type: 'user_elements_input'",
      **_invalid(f"{ARGS}.arg1.userElements[0].strength")}),
    ("contextImages-unknown-key", "/generations",
     {"prompt": "x", "contextImages": [{"type": "UPLOADED", "id": UNKNOWN, "url": "u"}]}, 400,
     {"error": "field \"url\" not found in type: 'context_image_input'",
      **_invalid(f"{ARGS}.arg1.contextImages[0].url")}),
    ("endFrameImage-unknown-key", "/generations-image-to-video",
     {"prompt": "x", "imageId": UNKNOWN, "imageType": "UPLOADED", "model": "KLING2_1",
      "endFrameImage": {"id": UNKNOWN, "type": "UPLOADED", "url": "u"}}, 400,
     {"error": "field \"url\" not found in type: 'end_frame_image_input'",
      **_invalid(f"{VIDEO_ARGS}.arg1.endFrameImage.url")}),
    ("scheduler-null", "/generations", {"prompt": "x", "scheduler": None}, 400,
     {"error": 'expecting a value for non-nullable variable: "scheduler"', **_invalid(ARGS)}),
    # item 17: referenced ids must exist
    ("modelId-unknown", "/generations", {"prompt": "x", "modelId": UNKNOWN}, 400,
     _unexpected(f"{UNKNOWN} is not supported within the Production API. "
                 "Please try again with a different model ID.")),
    ("akUUID-unknown", "/generations", {"prompt": "x", "elements": [{"akUUID": UNKNOWN}]}, 400,
     _unexpected(f"element not found: {UNKNOWN}")),
    ("imagePrompts-unknown", "/generations", {"prompt": "x", "imagePrompts": [UNKNOWN]}, 400,
     _unexpected("invalid init image id")),
    ("styleUUID-unknown", "/generations", {"prompt": "x", "styleUUID": UNKNOWN}, 400,
     _unexpected(f"style not found: {UNKNOWN}")),
    ("canvasInitId-unknown", "/generations", {"prompt": "x", "canvasInitId": UNKNOWN}, 400,
     _unexpected(f"canvas init image not found: {UNKNOWN}")),
    ("styleIds-unknown", "/generations-text-to-video", {"prompt": "x", "styleIds": [UNKNOWN]},
     400, _unexpected(f"style not found: {UNKNOWN}")),
    ("controlnet-image-unknown", "/generations",
     {"prompt": "x", "controlnets": [{"initImageId": UNKNOWN, "initImageType": "UPLOADED",
                                      "preprocessorId": 67}]}, 400,
     _unexpected("invalid init image id")),
    # item 18: value rules
    ("contrast-range", "/generations", {"prompt": "x", "contrast": 5}, 400,
     _unexpected("contrast must be one of 1.0, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5")),
    ("phoenix-needs-contrast", "/generations", {"prompt": "x", "modelId": PHOENIX}, 400,
     _unexpected("contrast is required for Leonardo Phoenix 1.0")),
    ("phoenix-alchemy-contrast", "/generations",
     {"prompt": "x", "modelId": PHOENIX, "alchemy": True, "contrast": 1.8}, 400,
     _unexpected("contrast must be 2.5 or higher for Leonardo Phoenix 1.0 with alchemy")),
    ("guidance_scale", "/generations", {"prompt": "x", "guidance_scale": 25}, 400,
     _unexpected("guidance_scale must be between 1 and 20")),
    ("init_strength", "/generations", {"prompt": "x", "init_strength": 0.95}, 400,
     _unexpected("init_strength must be between 0.1 and 0.9")),
    ("veo3-duration", "/generations-text-to-video",
     {"prompt": "x", "model": "VEO3", "duration": 5}, 400,
     _unexpected("duration must be one of 4, 6, 8 for VEO3")),
    ("kling-duration", "/generations-text-to-video",
     {"prompt": "x", "model": "KLING2_5", "duration": 8}, 400,
     _unexpected("duration must be one of 5, 10 for KLING2_5")),
    ("video-size", "/generations-text-to-video",
     {"prompt": "x", "resolution": "RESOLUTION_480", "width": 1000, "height": 480}, 400,
     _unexpected("invalid dimensions")),
    ("video-resolution", "/generations-text-to-video",
     {"prompt": "x", "model": "MOTION2", "resolution": "RESOLUTION_1080"}, 400,
     _unexpected("MOTION2 supports only RESOLUTION_480, RESOLUTION_720")),
    ("seed-flux", "/generations",
     {"prompt": "x", "modelId": FLUX_DEV, "contrast": 3.5, "seed": 2_147_483_638}, 400,
     _unexpected("seed must be between 0 and 2147483637")),
    ("moderation-fourth-word", "/generations", {"prompt": "an explicit scene"}, 403,
     _unexpected("content moderation filter: explicit")),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "error"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_refused_and_not_charged(
    emulator: EmulatorHandle, path: str, body: dict[str, Any], status: int, error: dict[str, str]
) -> None:
    """The exact error body, no job, no charge."""
    with client(emulator) as http:
        response = http.post(path, json=body)
    assert (response.status_code, response.json()) == (status, error)
    stats = emulator.stats()
    assert (stats["jobs_created"], stats["credits_charged"]) == (0, 0)


@pytest.mark.parametrize(
    "path",
    ["/generations/not-a-uuid", "/variations/not-a-uuid", "/motion-variations/not-a-uuid",
     "/init-image/not-a-uuid", "/generations/user/not-a-uuid"],
)  # fmt: skip
def test_non_uuid_path_ids_are_400(emulator: EmulatorHandle, path: str) -> None:
    """A path id that is not a UUID fails as Postgres fails it, with 400."""
    with client(emulator) as http:
        response = http.get(path)
    assert response.status_code == 400
    assert response.json() == {"error": 'invalid input syntax for type uuid: "not-a-uuid"',
                               "path": "$", "code": "data-exception"}  # fmt: skip


def test_other_ids_read_as_absent(emulator: EmulatorHandle) -> None:
    """A UUID the account does not own (any version nibble) reads as null / empty, not 400."""
    other = "1f1a06db-37cd-6c60-9a8f-1d2b3c4d5e6f"  # version nibble 6, as real ids have
    with client(emulator) as http:
        assert http.get(f"/generations/{other}").json() == {"generations_by_pk": None}
        assert http.get(f"/generations/user/{other}").json() == {"generations": []}
        assert http.get(f"/variations/{other}").json() == {"generated_image_variation_generic": []}


def test_account_custom_ids_are_accepted(make_emulator: Any) -> None:
    """The account's own fine-tunes and elements (configured) are accepted and charged."""
    emulator = make_emulator(custom_models=(UNKNOWN,), custom_elements=(SPARKLECORE.upper(),))
    with client(emulator) as http:
        body = {"prompt": "x", "modelId": UNKNOWN, "width": 512, "height": 512, "num_images": 1,
                "elements": [{"akUUID": SPARKLECORE.upper(), "weight": 0.5}]}  # fmt: skip
        response = http.post("/generations", json=body)
    assert response.status_code == 200, response.text
    assert emulator.stats()["credits_charged"] > 0


#: (id, body, exact error) for the pricing calculator (item 19)
CALCULATOR: list[tuple[str, dict[str, Any], str]] = [
    ("params-false", {"service": "IMAGE_GENERATION", "serviceParams": {"IMAGE_GENERATION": False}},
     "expected an object for type 'Object', but found a boolean"),
    ("width-above-1024", {"service": "IMAGE_GENERATION",
                          "serviceParams": {"IMAGE_GENERATION": {"imageWidth": 1536}}},
     "IMAGE_GENERATION.imageWidth must be a multiple of 8 in 32..1024, not 1536"),
    ("unknown-service-key", {"service": "IMAGE_GENERATION",
                             "serviceParams": {"IMAGE_GENERATION": {}, "VIDEO": None}},
     "field \"VIDEO\" not found in type: 'service_params'"),
    ("unknown-service", {"service": "VIDEO", "serviceParams": {}},
     "expected one of the values ['IMAGE_GENERATION', 'FANTASY_AVATAR_GENERATION', "
     "'MOTION_SVD_GENERATION', 'MOTION_VIDEO_GENERATION', 'VEO3_MOTION_VIDEO_GENERATION', "
     "'LCM_GENERATION', 'MODEL_TRAINING', 'TEXTURE_GENERATION', 'UNIVERSAL_UPSCALER', "
     "'UNIVERSAL_UPSCALER_ULTRA'] for type 'service', but found \"VIDEO\""),
    ("null-non-nullable", {"service": "IMAGE_GENERATION",
                           "serviceParams": {"IMAGE_GENERATION": {"imageWidth": None}}},
     "unexpected null value for type 'Int'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "error"), [c[1:] for c in CALCULATOR],
                         ids=[c[0] for c in CALCULATOR])  # fmt: skip
def test_calculator_refuses_what_the_real_one_refuses(
    emulator: EmulatorHandle, body: dict[str, Any], error: str
) -> None:
    """Requests the documented calculator refuses get 400 ``validation-failed``, no price."""
    with httpx.Client(base_url=emulator.base_url, headers=emulator.headers) as http:
        response = http.post("/pricing-calculator", json=body)
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["code"]) == (error, "validation-failed")
    assert "calculateProductionApiServiceCost" not in response.json()
