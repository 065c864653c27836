"""The rate card: leobatch's model of Leonardo's pricing calculator.

``calculator_cost(service, params)`` takes exactly what ``POST /pricing-calculator`` takes
(``service`` and ``serviceParams[service]``, api-facts section 10) and returns API credits. The
offline plan prices with it and the emulator charges with it, so a plan priced offline equals
what the emulator charges, to the credit.

Image generations follow the shape of pricing-facts section 3: a fixed part plus a part
proportional to the pixels of the job (``numImages x width x height``). Each pipeline is a line
through two anchors, its price for 4 images of 512x512 and for 4 images of 1024x1024, computed in
exact fractions and rounded up, so every documented number is reproduced exactly.

Where the numbers come from (C = official docs, D = derived from C, U = placeholder, no
published number):

=================================  ===========  ==============================================
pipeline / service                 4x512/4x1024  source
=================================  ===========  ==============================================
Lightning XL + Alchemy             15 / 40      C (estimated pricing table)
SDXL (Diffusion XL ...) + Alchemy  24 / 66      C
PhotoReal v1 + Alchemy             23 / 63      C
SD 1.5/2.1 + Alchemy (DreamShaper) 16 / 44      C
SD 1.5/2.1 + Prompt Magic v3 + Alch 24 / 63     C
SD 1.5/2.1, no Alchemy, 10 steps   7 / 12       C; +0.2 credit per step above 10 (C: 30 steps = 11)
Lightning XL, no Alchemy           8 / 20       U (half of Alchemy: "Alchemy roughly doubles")
SDXL, no Alchemy                   12 / 33      U (likewise)
PhotoReal v2 + Alchemy             28 / 76      U
Phoenix / Lucid + Alchemy          30 / 80      U
Phoenix / Lucid, no Alchemy        16 / 40      U
Flux Dev                           30 / 80      U
Flux Schnell                       12 / 30      U
Flux Kontext                       40 / 100     U
custom model                       as SDXL      U
Ultra (``isUltra``)                x3           U ("Ultra about 3x base", third party)
``loraCount``                      +0           U (no published number)
``controlnetsCost``                added as is  C (the caller supplies the credits)
MOTION_SVD_GENERATION              45           C (fixed "Motion")
MOTION_VIDEO_GENERATION            480: 120, 720: 200   U (seed guide's 200, unverified)
VEO3_MOTION_VIDEO_GENERATION       720: 4000    U (seed guide's 4000, unverified)
UNIVERSAL_UPSCALER                 1-5 MP 60, +20/MP to 20 MP   C
UNIVERSAL_UPSCALER_ULTRA           1.5 x legacy price of the output MP   U
LCM_GENERATION                     512: 1, 1024: 4, linear in pixels; refine 8   C (640: D)
TEXTURE_GENERATION                 150, preview 30   C
MODEL_TRAINING                     512: 750, 768: 1500, 1024: 3000   C (1024: U)
FANTASY_AVATAR_GENERATION          no number (``None``)
=================================  ===========  ==============================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any, cast

__all__ = ["FIXED_CREDITS", "SERVICES", "calculator_cost", "calculator_problem"]

#: job kind -> credits, for kinds with no calculator service (pricing-facts section 3, C)
FIXED_CREDITS: Mapping[str, int] = MappingProxyType(
    {"upscale": 15, "unzoom": 15, "nobg": 5, "improve-prompt": 4}
)

_SMALL = 4 * 512 * 512
_LARGE = 4 * 1024 * 1024

#: pipeline -> (credits for 4x512x512, credits for 4x1024x1024); see the module table
_LINES: Mapping[str, tuple[int, int]] = {
    "lightning+alchemy": (15, 40),
    "sdxl+alchemy": (24, 66),
    "photoreal-v1": (23, 63),
    "photoreal-v2": (28, 76),
    "sd+alchemy": (16, 44),
    "sd+pm3+alchemy": (24, 63),
    "sd": (7, 12),
    "lightning": (8, 20),
    "sdxl": (12, 33),
    "phoenix+alchemy": (30, 80),
    "phoenix": (16, 40),
    "flux-dev": (30, 80),
    "flux-schnell": (12, 30),
    "flux-kontext": (40, 100),
}
_ULTRA_FACTOR = 3
_SD_STEP = Fraction(1, 5)  # credits per inference step above 10, SD without Alchemy
_VIDEO = {"RESOLUTION_480": 120, "RESOLUTION_720": 200}
_VEO3 = {"RESOLUTION_720": 4000}


def calculator_cost(service: str, params: Mapping[str, Any]) -> int | None:
    """Credits for one calculator request, or ``None`` when there is no number for it.

    Invalid requests (see ``calculator_problem``) have no number either.
    """
    if calculator_problem(service, params) is not None:
        return None
    if service == "IMAGE_GENERATION":
        return _image(params)
    if service == "MOTION_SVD_GENERATION":
        return 45
    if service == "MOTION_VIDEO_GENERATION":
        return _VIDEO.get(params.get("resolution", "RESOLUTION_480"))
    if service == "VEO3_MOTION_VIDEO_GENERATION":
        return _VEO3.get(params.get("resolution", "RESOLUTION_720"))
    if service == "UNIVERSAL_UPSCALER":
        return _upscaler(int(params.get("megapixel", 1)))
    if service == "UNIVERSAL_UPSCALER_ULTRA":
        return _ultra_upscaler(params)
    if service == "LCM_GENERATION":
        return _lcm(params)
    if service == "TEXTURE_GENERATION":
        return 30 if params.get("preview") else 150
    if service == "MODEL_TRAINING":
        return {512: 750, 768: 1500, 1024: 3000}.get(params.get("resolution", 512))
    return None


#: service -> its serviceParams fields and their types (api-facts section 10)
SERVICES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "IMAGE_GENERATION": {
            "imageHeight": "int", "imageWidth": "int", "numImages": "int", "inferenceSteps": "int",
            "promptMagic": "bool", "promptMagicStrength": "number", "promptMagicVersion": "str",
            "alchemyMode": "bool", "photoRealMode": "bool", "photoRealStrength": "number",
            "photoRealVersion": "str", "highResolution": "bool", "loraCount": "int",
            "isModelCustom": "bool", "isSDXL": "bool", "isSDXLLightning": "bool",
            "isPhoenix": "bool", "isFluxDev": "bool", "isFluxSchnell": "bool",
            "isFluxKontext": "bool", "isUltra": "bool", "controlnetsCost": "int",
        },
        "FANTASY_AVATAR_GENERATION": {
            "imageHeight": "int", "imageWidth": "int", "numImages": "int",
        },
        "MOTION_SVD_GENERATION": {},
        "MOTION_VIDEO_GENERATION": {"resolution": "str"},
        "VEO3_MOTION_VIDEO_GENERATION": {"resolution": "str"},
        "LCM_GENERATION": {
            "width": "int", "height": "int", "refine": "bool", "instantRefine": "bool",
        },
        "MODEL_TRAINING": {"datasetImageCount": "int", "resolution": "int", "sd_version": "str"},
        "TEXTURE_GENERATION": {"preview": "bool"},
        "UNIVERSAL_UPSCALER": {"megapixel": "int"},
        "UNIVERSAL_UPSCALER_ULTRA": {
            "inputWidth": "int", "inputHeight": "int", "upscaleMultiplier": "number",
        },
    }
)  # fmt: skip

#: (service, field) -> allowed values, or an inclusive (low, high) range
_CHOICES: Mapping[tuple[str, str], tuple[Any, ...]] = {
    ("IMAGE_GENERATION", "promptMagicVersion"): ("v2", "v3"),
    ("IMAGE_GENERATION", "photoRealVersion"): ("v1", "v2"),
    ("MOTION_VIDEO_GENERATION", "resolution"): ("RESOLUTION_480", "RESOLUTION_720"),
    ("VEO3_MOTION_VIDEO_GENERATION", "resolution"): ("RESOLUTION_720",),
    ("LCM_GENERATION", "width"): (512, 640, 1024),
    ("LCM_GENERATION", "height"): (512, 640, 1024),
    ("MODEL_TRAINING", "resolution"): (512, 768, 1024),
    ("MODEL_TRAINING", "sd_version"): ("FLUX_DEV",),
}
_RANGES: Mapping[str, tuple[float, float]] = {
    "numImages": (1, 8),
    "inferenceSteps": (10, 60),
    "promptMagicStrength": (0.1, 1.0),
    "photoRealStrength": (0, 1),
    "loraCount": (0, 100),
    "controlnetsCost": (0, 1_000_000),
    "megapixel": (1, 20),
    "inputWidth": (1, 100_000),
    "inputHeight": (1, 100_000),
    "upscaleMultiplier": (1.0, 2.0),
    "datasetImageCount": (1, 50),
}


def calculator_problem(service: str, params: Mapping[str, Any]) -> str | None:
    """Why a calculator request is invalid (unknown service or field, bad value), or ``None``.

    Image sides are accepted up to 1536 (what ``/generations`` allows), not the schema's 1024:
    leobatch must price every size it may request; what the live calculator does above 1024 is
    not documented.
    """
    fields = SERVICES.get(service)
    if fields is None:
        return f"unknown service {service!r}"
    if not isinstance(cast(object, params), Mapping):
        return f"serviceParams.{service} must be an object"
    for name, value in params.items():
        tag = fields.get(name)
        if tag is None:
            return f"unknown field {name!r} for {service}"
        if value is None:
            continue
        if not _is_type(value, tag):
            return f"{service}.{name} must be {_TYPE_WORDS[tag]}, not {value!r}"
        allowed = _CHOICES.get((service, name))
        if allowed is not None and value not in allowed:
            return f"{service}.{name} must be one of {', '.join(map(str, allowed))}"
        low_high = _RANGES.get(name)
        if low_high is not None and not low_high[0] <= value <= low_high[1]:
            return f"{service}.{name} must be in {low_high[0]}..{low_high[1]}, not {value!r}"
        if name in ("imageWidth", "imageHeight") and not (32 <= value <= 1536 and value % 8 == 0):
            return f"{service}.{name} must be a multiple of 8 in 32..1536, not {value}"
    sides = (params.get("imageWidth") or 0, params.get("imageHeight") or 0)
    if max(sides) > 768 and (params.get("numImages") or 0) > 4:
        return f"{service}.numImages must be 1..4 when a side is above 768"
    if params.get("photoRealMode") and not params.get("alchemyMode"):
        return f"{service}.photoRealMode needs alchemyMode"
    return None


_TYPE_WORDS = {"int": "an integer", "number": "a number", "bool": "a boolean", "str": "a string"}


def _is_type(value: object, tag: str) -> bool:
    if tag == "bool":
        return isinstance(value, bool)
    if tag == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if tag == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _pipeline(p: Mapping[str, Any]) -> str:
    alchemy = bool(p.get("alchemyMode"))
    if p.get("isFluxKontext"):
        return "flux-kontext"
    if p.get("isFluxDev"):
        return "flux-dev"
    if p.get("isFluxSchnell"):
        return "flux-schnell"
    if p.get("isPhoenix"):
        return "phoenix+alchemy" if alchemy else "phoenix"
    if p.get("photoRealMode"):
        return "photoreal-v2" if p.get("photoRealVersion") == "v2" else "photoreal-v1"
    if p.get("isSDXLLightning"):
        return "lightning+alchemy" if alchemy else "lightning"
    if p.get("isSDXL") or p.get("isModelCustom"):
        return "sdxl+alchemy" if alchemy else "sdxl"
    if alchemy:
        magic_v3 = p.get("promptMagic") and p.get("promptMagicVersion") == "v3"
        return "sd+pm3+alchemy" if magic_v3 else "sd+alchemy"
    return "sd"


def _image(p: Mapping[str, Any]) -> int:
    pixels = (
        int(p.get("numImages", 4)) * int(p.get("imageWidth", 1024)) * int(p.get("imageHeight", 768))
    )
    pipeline = _pipeline(p)
    small, large = _LINES[pipeline]
    cost = small + Fraction(large - small) * (pixels - _SMALL) / (_LARGE - _SMALL)
    if pipeline == "sd":
        cost += _SD_STEP * (int(p.get("inferenceSteps", 15)) - 10)
    if p.get("isUltra"):
        cost *= _ULTRA_FACTOR
    return max(1, math.ceil(cost)) + int(p.get("controlnetsCost") or 0)


def _upscaler(megapixel: int) -> int:
    return 60 + 20 * max(0, megapixel - 5)


def _ultra_upscaler(p: Mapping[str, Any]) -> int:
    multiplier = Fraction(str(p.get("upscaleMultiplier", 1.5)))
    width = int(p.get("inputWidth", 1024)) * multiplier
    height = int(p.get("inputHeight", 1024)) * multiplier
    megapixel = max(1, math.ceil(width * height / 1_000_000))
    return math.ceil(Fraction(3, 2) * _upscaler(min(megapixel, 20)))


def _lcm(p: Mapping[str, Any]) -> int:
    if p.get("refine"):
        return 8
    pixels = int(p.get("width", 512)) * int(p.get("height", 512))
    return max(1, math.ceil(1 + Fraction(3) * (pixels - 512 * 512) / (1024 * 1024 - 512 * 512)))
