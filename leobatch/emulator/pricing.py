"""What a create costs: the body mapped onto the shared rate card, as the calculator would see it.

One price function serves ``POST /pricing-calculator`` and the charge on every create, so a plan
priced with the calculator is charged to the credit. The mapping follows pricing-facts section 2;
omitted fields take the SDK's documented defaults (width 1024, height 768, num_images 4, alchemy
true, 15 steps). Where the rate card has no number (Kling, 1080p video, video upscale), the
emulator charges its own list price below, which exists only in the emulator:

=========================================  =======
request                                    credits
=========================================  =======
KLING2_1 video, 5 s / 10 s                 500 / 1000
KLING2_5 video, 5 s / 10 s                 400 / 800
any other video at RESOLUTION_1080         400
video upscale (RESOLUTION_720)             100
anything else without a rate-card price    50
=========================================  =======
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from leobatch.catalog import find_model
from leobatch.pricing.ratecard import FIXED_CREDITS, calculator_cost

__all__ = [
    "LIST_PRICES",
    "calculator_request",
    "image_calculator_params",
    "list_price",
    "model_for",
    "price",
]

#: The emulator-only list prices for requests the rate card cannot price (see module docstring).
LIST_PRICES: Mapping[str, int] = {
    "KLING2_1:5": 500,
    "KLING2_1:10": 1000,
    "KLING2_5:5": 400,
    "KLING2_5:10": 800,
    "RESOLUTION_1080": 400,
    "video-upscale": 100,
    "fallback": 50,
}

_IMAGE_FIELDS = {
    "photoReal": "photoRealMode",
    "photoRealStrength": "photoRealStrength",
    "photoRealVersion": "photoRealVersion",
    "promptMagic": "promptMagic",
    "promptMagicStrength": "promptMagicStrength",
    "promptMagicVersion": "promptMagicVersion",
    "highResolution": "highResolution",
}


def model_for(model_id: str | None) -> Any:
    """The v1 catalogue model whose wire id is exactly ``model_id`` (not a slug or a name; a
    v2 model string is no v1 ``modelId``)."""
    if not model_id:
        return None
    model = find_model(model_id)
    if model is None or model.surface != "v1":
        return None
    return model if model.id.casefold() == model_id.casefold() else None


def image_calculator_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """The IMAGE_GENERATION serviceParams of a ``POST /generations`` body."""
    params: dict[str, Any] = {
        "imageWidth": body.get("width") or 1024,
        "imageHeight": body.get("height") or 768,
        "numImages": body.get("num_images") or 4,
        "inferenceSteps": body.get("num_inference_steps") or 15,
        "alchemyMode": body.get("alchemy") if body.get("alchemy") is not None else True,
        "isUltra": bool(body.get("ultra")),
        "loraCount": len(body.get("elements") or ()) + len(body.get("userElements") or ()),
        "controlnetsCost": 0,
    }
    for wire, calc in _IMAGE_FIELDS.items():
        if body.get(wire) is not None:
            params[calc] = body[wire]
    model_id = body.get("modelId")
    model = model_for(model_id)
    if model is not None and model.calculator_flag:
        params[model.calculator_flag] = True
    elif model_id and model is None:
        params["isModelCustom"] = True
    # Without modelId no flag is set, whatever sd_version says: the calculator has no field for
    # it, and leobatch's planner (leobatch.pricing.classes) prices such a body the same way.
    return params


def calculator_request(
    path: str, body: Mapping[str, Any], source_size: tuple[int, int] | None = None
) -> tuple[str, dict[str, Any]] | None:
    """The (service, serviceParams) a create body is priced as, or ``None`` for fixed prices."""
    if path == "/generations":
        return "IMAGE_GENERATION", image_calculator_params(body)
    if path in ("/generations-text-to-video", "/generations-image-to-video"):
        model = body.get("model") or "MOTION2"
        service = "VEO3_MOTION_VIDEO_GENERATION" if model.startswith("VEO3") else None
        if model.startswith("MOTION2"):
            service = "MOTION_VIDEO_GENERATION"
        if service is None:
            return None
        params = {"resolution": body["resolution"]} if body.get("resolution") else {}
        return service, params
    if path == "/generations-motion-svd":
        return "MOTION_SVD_GENERATION", {}
    if path == "/variations/universal-upscaler":
        width, height = source_size or (1024, 1024)
        multiplier = body.get("upscaleMultiplier") or 1.5
        if body.get("ultraUpscaleStyle"):
            ultra = {"inputWidth": width, "inputHeight": height, "upscaleMultiplier": multiplier}
            return "UNIVERSAL_UPSCALER_ULTRA", ultra
        pixels = round(width * multiplier) * round(height * multiplier)
        megapixel = min(20, max(1, math.ceil(pixels / 1_000_000)))
        return "UNIVERSAL_UPSCALER", {"megapixel": megapixel}
    return None


_FIXED = {
    "/variations/upscale": "upscale",
    "/variations/unzoom": "unzoom",
    "/variations/nobg": "nobg",
    "/prompt/improve": "improve-prompt",
}


def list_price(path: str, body: Mapping[str, Any]) -> int:
    """The emulator's own price for what the rate card cannot price."""
    if path == "/generations-video-upscale":
        return LIST_PRICES["video-upscale"]
    model = str(body.get("model") or "")
    if model.startswith("KLING"):
        duration = 10 if (body.get("duration") or 5) >= 10 else 5
        return LIST_PRICES[f"{model}:{duration}"]
    if body.get("resolution") == "RESOLUTION_1080":
        return LIST_PRICES["RESOLUTION_1080"]
    return LIST_PRICES["fallback"]


def price(path: str, body: Mapping[str, Any], source_size: tuple[int, int] | None = None) -> int:
    """Credits charged for creating ``body`` at ``path``."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return FIXED_CREDITS[fixed]
    request = calculator_request(path, body, source_size)
    if request is not None:
        cost = calculator_cost(*request)
        if cost is not None:
            return cost
    return list_price(path, body)
