"""Wire fidelity: bodies, auth and business refusals as the real API words them."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.support import client, completed_image_id

ENVELOPE_KEYS = {"error", "path", "code"}


def test_unknown_field_is_refused(emulator: EmulatorHandle) -> None:
    """An unknown or mis-cased body field gives 400 ``Unexpected variable <name>``."""
    with client(emulator) as http:
        response = http.post("/generations", json={"prompt": "x", "sd_Version": "v2"})
    assert response.status_code == 400
    assert response.json() == {"error": "Unexpected variable sd_Version", "path": "$",
                               "code": "bad-request"}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("alchemy", "true", "expected a boolean for type 'Boolean', but found a string"),
        ("width", 1.5, "expected a 32-bit integer for type 'Int', but found a number"),
        ("guidance_scale", "7", "expected a float for type 'Float', but found a string"),
        ("elements", ["x"], "expected an object for type 'Object', but found a string"),
    ],
)
def test_wrong_type_is_validation_failed(
    emulator: EmulatorHandle, field: str, value: object, message: str
) -> None:
    """A wrongly typed value gives 400 ``validation-failed`` naming the field in ``path``."""
    with client(emulator) as http:
        response = http.post("/generations", json={"prompt": "x", field: value})
    body = response.json()
    assert (response.status_code, body["code"], body["error"]) == (400, "validation-failed",
                                                                   message)  # fmt: skip
    assert body["path"].removesuffix("[0]").endswith(f".arg1.{field}")


def test_bad_enum_value_is_refused(emulator: EmulatorHandle) -> None:
    """An enum field outside its values is a validation failure quoting the value."""
    with client(emulator) as http:
        response = http.post("/generations", json={"prompt": "x", "presetStyle": "NEON"})
    assert response.status_code == 400
    assert response.json()["error"].endswith('but found "NEON"')


def test_missing_required_field(emulator: EmulatorHandle) -> None:
    """``prompt`` missing gives the non-nullable variable message."""
    with client(emulator) as http:
        response = http.post("/generations", json={"width": 512})
    assert response.status_code == 400
    assert response.json()["error"] == 'expecting a value for non-nullable variable: "prompt"'
    assert response.json()["code"] == "validation-failed"


@pytest.mark.parametrize(
    "header", [None, "Bearer not-a-uuid", "Token 0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"]
)
def test_missing_or_malformed_key(emulator: EmulatorHandle, header: str | None) -> None:
    """A missing or malformed key gives 500 ``Invalid response from authorization hook``."""
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(f"{emulator.base_url}/me", headers=headers)
    assert response.status_code == 500
    assert response.json() == {"error": "Invalid response from authorization hook", "path": "$",
                               "code": "unexpected"}  # fmt: skip


def test_wrong_key_when_key_is_set(make_emulator: object) -> None:
    """With ``api_key`` set, another well-formed UUID gives 401 access-denied."""
    key = "11111111-2222-4333-8444-555555555555"
    handle = make_emulator(api_key=key)  # type: ignore[operator]
    wrong = {"Authorization": "Bearer 99999999-2222-4333-8444-555555555555"}
    denied = httpx.get(f"{handle.base_url}/me", headers=wrong)
    assert denied.status_code == 401
    assert denied.json()["code"] == "access-denied"
    assert httpx.get(f"{handle.base_url}/me", headers=handle.headers).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/generations", {"prompt": "x" * 1501},
         "Invalid prompt, maximum length of 1500 characters exceeded."),
        ("/prompt/improve", {"prompt": "x" * 201},
         "Prompt is too long, please keep it under 200 characters"),
        ("/generations", {"prompt": "x", "width": 1004}, "invalid dimensions"),
        ("/generations", {"prompt": "x", "width": 1024, "num_images": 5}, "Too many images"),
        ("/generations", {"prompt": "x", "init_image_id": "nope"}, "invalid init image id"),
        ("/generations", {"prompt": "x", "modelId": "phoenix"},
         "phoenix is not supported within the Production API. "
         "Please try again with a different model ID."),
        # a v2 model string is no v1 modelId: Nano Banana Pro is reached through /v2/generations
        ("/generations", {"prompt": "x", "modelId": "gemini-image-2"},
         "gemini-image-2 is not supported within the Production API. "
         "Please try again with a different model ID."),
    ],
)  # fmt: skip
def test_business_refusals(emulator: EmulatorHandle, path: str, body: dict[str, object],
                           message: str) -> None:  # fmt: skip
    """Rule violations give 400 with the documented message and create nothing."""
    with client(emulator) as http:
        response = http.post(path, json=body)
    assert (response.status_code, response.json()["error"]) == (400, message)
    assert emulator.stats()["creates"] == 0


def test_is_variation_mistakes(emulator: EmulatorHandle) -> None:
    """``isVariation`` set on a generated image id, or unset on a variation id, is refused."""
    with client(emulator) as http:
        image_id = completed_image_id(http)
        wrong = http.post("/variations/nobg", json={"id": image_id, "isVariation": True})
        assert wrong.json()["error"] == "failed to find init variation"
        variation = http.post("/variations/upscale", json={"id": image_id}).json()
        variation_id = variation["sdUpscaleJob"]["id"]
        unset = http.post("/variations/unzoom", json={"id": variation_id})
        assert unset.json()["error"] == "failed to find init variation"


def test_variations_refuse_uploaded_images(emulator: EmulatorHandle) -> None:
    """Variations of an uploaded init image give ``couldn't access image``."""
    with client(emulator) as http:
        step = http.post("/init-image", json={"extension": "png"}).json()["uploadInitImage"]
        for path in ("/variations/upscale", "/variations/nobg"):
            response = http.post(path, json={"id": step["id"]})
            assert (response.status_code, response.json()["error"]) == (
                400,
                "couldn't access image",
            )
    assert set(response.json()) == ENVELOPE_KEYS


def test_unknown_ids_read_as_empty(emulator: EmulatorHandle) -> None:
    """Unknown ids: null by-pk objects, empty variation arrays."""
    unknown = "00000000-0000-4000-8000-000000000000"
    with client(emulator) as http:
        assert http.get(f"/variations/{unknown}").json() == {
            "generated_image_variation_generic": []
        }
        assert http.get(f"/motion-variations/{unknown}").json() == {
            "generated_image_variation_motion": []
        }
        assert http.get(f"/init-image/{unknown}").json() == {"init_images_by_pk": None}


def test_moderation_refuses_blocked_words(emulator: EmulatorHandle) -> None:
    """A prompt with a blocked word gives 403 ``content moderation filter: <word>``."""
    with client(emulator) as http:
        image = http.post("/generations", json={"prompt": "a Nude statue"})
        video = http.post("/generations-text-to-video", json={"prompt": "gore scene"})
    assert (image.status_code, image.json()["error"]) == (403, "content moderation filter: nude")
    assert (video.status_code, video.json()["error"]) == (403, "content moderation filter: gore")
    assert emulator.stats()["creates"] == 0


def test_calculator_rules_apply_to_creates(emulator: EmulatorHandle) -> None:
    """What the calculator cannot price is refused on create: every job has a price."""
    with client(emulator) as http:
        steps = http.post("/generations", json={"prompt": "x", "num_inference_steps": 70})
        photoreal = http.post("/generations", json={"prompt": "x", "photoReal": True,
                                                    "alchemy": False})  # fmt: skip
    assert steps.status_code == photoreal.status_code == 400
    assert "inferenceSteps" in steps.json()["error"]
    assert "alchemy" in photoreal.json()["error"]


def test_unknown_paths_use_the_envelope(emulator: EmulatorHandle) -> None:
    """Unknown paths and methods answer with the error envelope, not an HTML page."""
    with client(emulator) as http:
        missing = http.get("/no-such-thing")
        wrong = http.put("/me")
    assert (missing.status_code, missing.json()["code"]) == (404, "not-found")
    assert (wrong.status_code, set(wrong.json())) == (405, ENVELOPE_KEYS)
