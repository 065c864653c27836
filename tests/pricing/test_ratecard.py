"""The rate card: every documented calculator number exact, invalid requests refused."""

from __future__ import annotations

from typing import Any

import pytest

from leobatch.pricing.ratecard import (
    FIXED_CREDITS,
    SERVICES,
    calculator_cost,
    calculator_problem,
)

IMG = "IMAGE_GENERATION"


def _img(side: int, **flags: Any) -> dict[str, Any]:
    return {"imageWidth": side, "imageHeight": side, "numImages": 4, **flags}


@pytest.mark.parametrize(
    ("flags", "small", "large"),
    [
        ({"alchemyMode": True, "isSDXLLightning": True}, 15, 40),
        ({"alchemyMode": True, "isSDXL": True}, 24, 66),
        ({"alchemyMode": True, "photoRealMode": True, "photoRealVersion": "v1"}, 23, 63),
        ({"alchemyMode": True}, 16, 44),
        ({"alchemyMode": True, "promptMagic": True, "promptMagicVersion": "v3"}, 24, 63),
        ({"alchemyMode": False, "inferenceSteps": 10}, 7, 12),
        ({"alchemyMode": False, "inferenceSteps": 10, "promptMagic": True}, 7, 12),
    ],
)
def test_estimated_pricing_table(flags: dict[str, Any], small: int, large: int) -> None:
    """pricing-facts section 3: 4 images at 512x512 and at 1024x1024, to the credit."""
    assert calculator_cost(IMG, _img(512, **flags)) == small
    assert calculator_cost(IMG, _img(1024, **flags)) == large


def test_steps_matter_without_alchemy() -> None:
    """The calculator screenshot: 4x512x512 at 10 steps is 7, at 30 steps 11."""
    assert calculator_cost(IMG, _img(512, alchemyMode=False, inferenceSteps=10)) == 7
    assert calculator_cost(IMG, _img(512, alchemyMode=False, inferenceSteps=30)) == 11


def test_universal_upscaler_legacy_steps() -> None:
    """1-5 MP costs 60, then 20 more per megapixel up to 360 at 20 MP; 21 MP is refused."""
    prices = [calculator_cost("UNIVERSAL_UPSCALER", {"megapixel": mp}) for mp in range(1, 21)]
    assert prices[:5] == [60] * 5
    assert prices[5:8] == [80, 100, 120]
    assert prices[18:] == [340, 360]
    assert calculator_cost("UNIVERSAL_UPSCALER", {"megapixel": 21}) is None
    assert "megapixel" in (calculator_problem("UNIVERSAL_UPSCALER", {"megapixel": 0}) or "")


def test_fixed_prices() -> None:
    """Upscale, unzoom, nobg, improve-prompt and SVD have their documented fixed prices."""
    assert dict(FIXED_CREDITS) == {"upscale": 15, "unzoom": 15, "nobg": 5, "improve-prompt": 4}
    assert calculator_cost("MOTION_SVD_GENERATION", {}) == 45
    assert calculator_cost("TEXTURE_GENERATION", {"preview": True}) == 30
    assert calculator_cost("TEXTURE_GENERATION", {}) == 150
    assert calculator_cost("MODEL_TRAINING", {"resolution": 512}) == 750
    assert calculator_cost("MODEL_TRAINING", {"resolution": 768}) == 1500
    assert calculator_cost("LCM_GENERATION", {"width": 512, "height": 512}) == 1
    assert calculator_cost("LCM_GENERATION", {"width": 1024, "height": 1024}) == 4
    assert calculator_cost("LCM_GENERATION", {"refine": True, "width": 1024}) == 8


def test_cost_grows_with_pixels_and_images() -> None:
    """A fixed part plus a per-pixel part: more images or pixels never cost less."""
    base = {"alchemyMode": True, "isPhoenix": True, "imageWidth": 1024, "imageHeight": 768}
    costs = [calculator_cost(IMG, {**base, "numImages": n}) or 0 for n in (1, 2, 3, 4)]
    assert all(c > 0 for c in costs)
    assert costs == sorted(costs) and costs[0] != costs[3]
    assert costs[3] < 4 * costs[0]


def test_ultra_controlnets_and_video_are_priced() -> None:
    """Ultra multiplies, controlnetsCost is added as given, video services have a number."""
    plain = calculator_cost(IMG, _img(1024, isPhoenix=True))
    ultra = calculator_cost(IMG, _img(1024, isPhoenix=True, isUltra=True))
    guided = calculator_cost(IMG, _img(1024, isPhoenix=True, controlnetsCost=9))
    assert plain is not None and ultra is not None and guided is not None
    assert ultra > plain and guided == plain + 9
    m480 = calculator_cost("MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_480"})
    m720 = calculator_cost("MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_720"})
    assert m480 is not None and m720 is not None and m480 < m720
    veo = calculator_cost("VEO3_MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_720"})
    assert veo is not None and veo > m720
    ultra_up = {"inputWidth": 1472, "inputHeight": 2240, "upscaleMultiplier": 2}
    assert isinstance(calculator_cost("UNIVERSAL_UPSCALER_ULTRA", ultra_up), int)


def test_no_number_is_none() -> None:
    """Fantasy avatars have no known price: None, never 0."""
    assert calculator_cost("FANTASY_AVATAR_GENERATION", {"numImages": 1}) is None


@pytest.mark.parametrize(
    ("service", "params", "words"),
    [
        ("IMAGE_GEN", {}, "unknown service 'IMAGE_GEN'"),
        (IMG, {"modelId": "x"}, "unknown field 'modelId' for IMAGE_GENERATION"),
        (IMG, {"numImages": 9}, "IMAGE_GENERATION.numImages must be in 1..8"),
        (IMG, {"numImages": "4"}, "IMAGE_GENERATION.numImages must be an integer"),
        (IMG, {"alchemyMode": 1}, "IMAGE_GENERATION.alchemyMode must be a boolean"),
        (IMG, {"imageWidth": 1001}, "multiple of 8 in 32..1536"),
        (IMG, {"imageWidth": 1024, "numImages": 5}, "1..4 when a side is above 768"),
        (IMG, {"inferenceSteps": 61}, "inferenceSteps must be in 10..60"),
        (IMG, {"photoRealMode": True}, "photoRealMode needs alchemyMode"),
        (IMG, {"promptMagicVersion": "v4"}, "must be one of v2, v3"),
        ("MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_1080"}, "resolution"),
        ("VEO3_MOTION_VIDEO_GENERATION", {"resolution": "RESOLUTION_480"}, "RESOLUTION_720"),
        ("UNIVERSAL_UPSCALER_ULTRA", {"upscaleMultiplier": 2.5}, "upscaleMultiplier"),
        ("MOTION_SVD_GENERATION", {"resolution": "x"}, "unknown field 'resolution'"),
    ],
)
def test_calculator_problem(service: str, params: dict[str, Any], words: str) -> None:
    """Invalid requests are described, and have no price."""
    problem = calculator_problem(service, params)
    assert problem is not None and words in problem
    assert calculator_cost(service, params) is None


def test_valid_requests_have_no_problem_and_a_price() -> None:
    """The SDK's own example body is valid and priced."""
    body = {
        "alchemyMode": True, "controlnetsCost": 0, "imageHeight": 1024, "imageWidth": 1024,
        "isPhoenix": True, "isUltra": False, "loraCount": 0, "numImages": 4,
    }  # fmt: skip
    assert calculator_problem(IMG, body) is None
    assert isinstance(calculator_cost(IMG, body), int)
    assert set(SERVICES) >= {IMG, "UNIVERSAL_UPSCALER", "VEO3_MOTION_VIDEO_GENERATION"}
