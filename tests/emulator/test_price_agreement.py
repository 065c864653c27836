"""The emulator charges what leobatch's planner prices, for any body it accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leobatch import catalog
from leobatch.emulator import pricing
from leobatch.pricing.classes import credits, price_body


def _planned(kind: str, body: dict[str, Any], size: tuple[int, int] | None = None) -> int | None:
    request = price_body(kind, body, input_size=size)
    return None if request is None else credits(request)


IMAGE_MODELS = [m.id for m in catalog.models() if m.kind == "image"]
SIDES = st.integers(4, 192).map(lambda n: n * 8)


@st.composite
def image_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Bodies of POST /generations that the emulator accepts."""
    width, height = draw(SIDES), draw(SIDES)
    most = 4 if max(width, height) > 768 else 8
    body: dict[str, Any] = {"prompt": "p", "width": width, "height": height,
                            "num_images": draw(st.integers(1, most))}  # fmt: skip
    model = draw(st.sampled_from([None, "12345678-1234-4234-8234-123456789abc", *IMAGE_MODELS]))
    if model is not None:
        body["modelId"] = model
    alchemy = draw(st.booleans())
    body["alchemy"] = alchemy
    if draw(st.booleans()):
        body["num_inference_steps"] = draw(st.integers(10, 60))
    if draw(st.booleans()):
        body["ultra"] = draw(st.booleans())
    if alchemy and draw(st.booleans()):
        body["photoReal"] = True
        body["photoRealVersion"] = draw(st.sampled_from(["v1", "v2"]))
    if draw(st.booleans()):
        body["promptMagic"] = True
        body["promptMagicVersion"] = draw(st.sampled_from(["v2", "v3"]))
    n = draw(st.integers(0, 3))
    body["elements"] = [{"akUUID": "x", "weight": 1.0}] * n
    return body


@settings(max_examples=300, deadline=None)
@given(image_bodies())
def test_image_charge_equals_plan_price(body: dict[str, Any]) -> None:
    """Image generations: emulator charge == planner's rate-card price."""
    assert pricing.price("/generations", body) == _planned("image", body)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["MOTION2", "MOTION2FAST", "VEO3", "VEO3FAST"]),
    st.sampled_from([None, "RESOLUTION_480", "RESOLUTION_720"]),
)
def test_video_charge_equals_plan_price(model: str, resolution: str | None) -> None:
    """Videos with a calculator service: emulator charge == planner's price."""
    body: dict[str, Any] = {"prompt": "p", "model": model}
    if resolution is not None:
        body["resolution"] = resolution
    planned = _planned("text-to-video", body)
    if planned is not None:
        assert pricing.price("/generations-text-to-video", body) == planned


@settings(max_examples=200, deadline=None)
@given(SIDES, SIDES, st.sampled_from([1.0, 1.25, 1.5, 1.75, 2.0]), st.booleans())
def test_upscaler_charge_equals_plan_price(width: int, height: int, multiplier: float,
                                           ultra: bool) -> None:  # fmt: skip
    """Universal upscaler, legacy and ultra: priced from the source image's real size."""
    body: dict[str, Any] = {"generatedImageId": "x", "upscaleMultiplier": multiplier}
    if ultra:
        body["ultraUpscaleStyle"] = "REALISTIC"
    planned = _planned("universal-upscale", body, (width, height))
    charged = pricing.price("/variations/universal-upscaler", body, (width, height))
    assert charged == planned
