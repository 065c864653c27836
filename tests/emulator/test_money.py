"""Money: the calculator's price is the charge, balances move, FAILED is refunded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from leobatch.pricing.ratecard import FIXED_CREDITS
from tests.conftest import EmulatorHandle
from tests.emulator.support import client, completed_image_id

Factory = Callable[..., EmulatorHandle]
PHOENIX = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"
LIGHTNING = "b24e16ff-06e3-43eb-8d33-4416c2d75876"
CUSTOM = "12345678-1234-4234-8234-123456789abc"

#: (create path, body, the calculator request a client would build for it: pricing-facts 2)
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("/generations", {"prompt": "a"}, "IMAGE_GENERATION",
     {"imageWidth": 1024, "imageHeight": 768, "numImages": 4, "inferenceSteps": 15,
      "alchemyMode": True}),
    ("/generations", {"prompt": "b", "modelId": PHOENIX, "width": 1024, "height": 1024,
                      "num_images": 2, "alchemy": False, "contrast": 3.5}, "IMAGE_GENERATION",
     {"imageWidth": 1024, "imageHeight": 1024, "numImages": 2, "inferenceSteps": 15,
      "alchemyMode": False, "isPhoenix": True}),
    ("/generations", {"prompt": "c", "modelId": LIGHTNING, "width": 512, "height": 512,
                      "num_images": 4, "ultra": True}, "IMAGE_GENERATION",
     {"imageWidth": 512, "imageHeight": 512, "numImages": 4, "inferenceSteps": 15,
      "alchemyMode": True, "isSDXLLightning": True, "isUltra": True}),
    ("/generations", {"prompt": "d", "modelId": CUSTOM, "width": 768, "height": 768,
                      "num_images": 3, "num_inference_steps": 30}, "IMAGE_GENERATION",
     {"imageWidth": 768, "imageHeight": 768, "numImages": 3, "inferenceSteps": 30,
      "alchemyMode": True, "isModelCustom": True}),
    ("/generations", {"prompt": "e", "alchemy": False, "width": 512, "height": 512,
                      "num_inference_steps": 30}, "IMAGE_GENERATION",
     {"imageWidth": 512, "imageHeight": 512, "numImages": 4, "inferenceSteps": 30,
      "alchemyMode": False}),
    ("/generations-text-to-video", {"prompt": "f", "resolution": "RESOLUTION_720"},
     "MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_720"}),
    ("/generations-text-to-video", {"prompt": "g", "model": "VEO3",
                                    "resolution": "RESOLUTION_720"},
     "VEO3_MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_720"}),
]  # fmt: skip


def _balance(http: httpx.Client) -> int:
    return int(http.get("/me").json()["user_details"][0]["apiPaidTokens"])


def _quote(http: httpx.Client, service: str, params: dict[str, Any]) -> int:
    body = {"service": service, "serviceParams": {service: params}}
    response = http.post("/pricing-calculator", json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["calculateProductionApiServiceCost"]["cost"])


@pytest.mark.parametrize(("path", "body", "service", "params"), CASES)
def test_price_equals_charge(make_emulator: Callable[..., EmulatorHandle], path: str,
                             body: dict[str, Any], service: str,
                             params: dict[str, Any]) -> None:  # fmt: skip
    """The calculator's quote, the create's cost and the balance drop are the same number."""
    emulator = make_emulator(custom_models=(CUSTOM,))  # the account's own fine-tune
    with client(emulator) as http:
        quote = _quote(http, service, params)
        before = _balance(http)
        job = next(iter(http.post(path, json=body).json().values()))
        assert (job["apiCreditCost"], job["cost"]) == (quote, {"amount": str(quote),
                                                                "unit": "CREDITS"})  # fmt: skip
        assert before - _balance(http) == quote
    assert emulator.stats()["credits_charged"] == quote


def test_fixed_prices_and_upscaler(emulator: EmulatorHandle) -> None:
    """Upscale, nobg and improve-prompt cost the fixed credits; the upscaler its output MP."""
    with client(emulator) as http:
        image_id = completed_image_id(http, width=1024, height=1024)
        before = _balance(http)
        upscale = http.post("/variations/upscale", json={"id": image_id}).json()["sdUpscaleJob"]
        nobg = http.post("/variations/nobg", json={"id": image_id}).json()["sdNobgJob"]
        improve = http.post("/prompt/improve", json={"prompt": "a mug"}).json()
        universal = http.post("/variations/universal-upscaler", json={
            "generatedImageId": image_id, "upscaleMultiplier": 2.0}).json()  # fmt: skip
        quote = _quote(http, "UNIVERSAL_UPSCALER", {"megapixel": 5})
        assert upscale["apiCreditCost"] == FIXED_CREDITS["upscale"]
        assert nobg["apiCreditCost"] == FIXED_CREDITS["nobg"]
        assert improve["promptGeneration"]["apiCreditCost"] == FIXED_CREDITS["improve-prompt"]
        assert universal["universalUpscaler"]["apiCreditCost"] == quote
        spent = sum(FIXED_CREDITS[k] for k in ("upscale", "nobg", "improve-prompt")) + quote
        assert before - _balance(http) == spent


def test_failed_jobs_are_refunded(make_emulator: Factory) -> None:
    """A FAILED job has no images and its credits come back once it has failed."""
    handle = make_emulator(fail_rate=1.0)
    frozen = [handle.state.clock()]
    handle.state.clock = lambda: frozen[0]
    with client(handle) as http:
        before = _balance(http)
        created = http.post("/generations", json={"prompt": "doomed", "num_images": 1})
        charged = created.json()["sdGenerationJob"]["apiCreditCost"]
        assert before - _balance(http) == charged
        frozen[0] += 10.0
        gen_id = created.json()["sdGenerationJob"]["generationId"]
        row = http.get(f"/generations/{gen_id}").json()["generations_by_pk"]
        assert (row["status"], row["generated_images"]) == ("FAILED", [])
        assert _balance(http) == before
    stats = handle.stats()
    assert stats["credits_refunded"] == stats["credits_charged"] == charged
    assert (stats["credits_net"], stats["jobs_failed"], stats["jobs_complete"]) == (0, 1, 0)
    assert stats["faults"]["fail"] == 1


def test_insufficient_credits_creates_nothing(make_emulator: Factory) -> None:
    """Too small a balance gives 400 ``not enough api tokens userId: <id>`` and no job."""
    handle = make_emulator(credits=3)
    with client(handle) as http:
        response = http.post("/generations", json={"prompt": "too dear"})
        user_id = handle.state.config.user_id
        listing = http.get(f"/generations/user/{user_id}").json()
        assert _balance(http) == 3
    assert response.status_code == 400
    assert response.json() == {"error": f"not enough api tokens userId: {user_id}",
                               "path": "$", "code": "unexpected"}  # fmt: skip
    assert listing == {"generations": []}
    assert handle.stats()["creates"] == 0


def test_calculator_refuses_bad_requests(emulator: EmulatorHandle) -> None:
    """Unknown services, mismatched serviceParams keys and bad params are 400s."""
    with client(emulator) as http:
        unknown = http.post("/pricing-calculator", json={"service": "NOPE", "serviceParams": {}})
        mismatch = http.post(
            "/pricing-calculator",
            json={"service": "IMAGE_GENERATION", "serviceParams": {"MOTION_SVD_GENERATION": {}}},
        )
        bad = http.post("/pricing-calculator", json={
            "service": "IMAGE_GENERATION",
            "serviceParams": {"IMAGE_GENERATION": {"inferenceSteps": 99}}})  # fmt: skip
    assert [r.status_code for r in (unknown, mismatch, bad)] == [400, 400, 400]
    assert "inferenceSteps" in bad.json()["error"]
    assert emulator.stats()["calculator_calls"] == 3
