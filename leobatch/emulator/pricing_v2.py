"""What a v2 create costs in the emulator: published figures where Leonardo publishes them,
otherwise the emulator's own table below.

A charge depends only on the model, the output size (``width`` x ``height``; for upscalers the
input size), ``quantity``, ``duration``, ``mode``, ``quality``, ``resolution``,
``upscale_factor`` and whether any ``image_reference`` is given, so equal price classes are
charged equally and leobatch's price book can learn them.

Published (``leobatch.pricing.published``, the same functions ``plan`` uses): GPT Image 1.5's
formula and Kling 2.6's table (credits), remove-bg USD 0.1047 per image. In a dollar account a
credit price costs ``credits x USD 0.0015``; in a credit account a dollar price costs whole
credits rounded up (remove-bg: 70 credits); see ``leobatch.emulator.money``.

Everything else is the **emulator's own table** (Leonardo publishes no prices for these; the
numbers exist only in the emulator, to make charges deterministic and different per model):

- image models: ``rate x megapixels x tier`` credits per image, rounded up, times ``quantity``,
  times 1.2 (rounded up) when any ``image_reference`` is given. ``megapixels`` is
  ``ceil(width x height / 1,048,576)``, at least 1; ``tier`` is 1 for the cheapest ``mode`` /
  ``quality`` value and grows with it (see ``TIERS``).
- video models: ``rate x duration`` credits (seconds; 5 when the model has none), times 1.5 at
  1080p (``mode`` ``RESOLUTION_1080``, or a 1920-pixel side), 3 at 4K, 0.75 at 480p.
- upscalers: ``rate x upscale_factor x input megapixels``.

``RATES`` holds the per-model rates; models not listed take ``DEFAULT_RATES`` for their kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from leobatch.catalog import Model
from leobatch.emulator.money import Money
from leobatch.pricing.published import published_cost

__all__ = ["DEFAULT_RATES", "RATES", "TIERS", "v2_price"]

DEFAULT_RATES: Mapping[str, int] = {"image": 20, "video": 40, "upscaler": 10, "remove-bg": 5}
#: credits per image per megapixel (images), per second (video), per factor-megapixel (upscalers)
RATES: Mapping[str, int] = {
    "gemini-2.5-flash-image": 30,
    "gemini-image-2": 60,
    "nano-banana-2": 45,
    "nano-banana-2-lite": 15,
    "gpt-image-2": 40,
    "flux-pro-2.0": 35,
    "flux-kontext-pro": 30,
    "flux-kontext-max": 45,
    "seedream-4.0": 25,
    "seedream-4.5": 30,
    "ideogram-v3.0": 30,
    "recraft-v4": 30,
    "recraft-v4-pro": 60,
    "lucid-origin": 15,
    "lucid-realism": 15,
    "phoenix-v1.0": 12,
    "phoenix-v0.9": 10,
    "veo-3.1-generate-001": 100,
    "veo-3.1-fast-generate-001": 50,
    "veo-3.1-lite": 30,
    "kling-3.0": 80,
    "kling-video-o-1": 90,
    "kling-video-o-3": 90,
    "seedance-2.0": 70,
    "hailuo-2_3": 30,
    "hailuo-2_3-fast": 22,
    "ltxv-2.3-pro": 45,
    "ltxv-2.3-fast": 25,
    "motion_2.0": 20,
    "motion_2.0-fast": 12,
    "aurora-upscaler-precise": 10,
    "aurora-upscaler-creative": 15,
}
#: the multiplier of each ``mode`` / ``quality`` value on image models (1 when not given)
TIERS: Mapping[str, Decimal] = {
    "FAST": Decimal(1), "QUALITY": Decimal(2), "ULTRA": Decimal(4),
    "VERY_LOW": Decimal("0.5"), "LOW": Decimal(1), "MEDIUM": Decimal(2), "HIGH": Decimal(4),
    "XHIGH": Decimal(6), "MAX": Decimal(8),
    "TURBO": Decimal(1), "BALANCED": Decimal(2),
    "STANDARD": Decimal(1), "ACCELERATED": Decimal("1.5"),
}  # fmt: skip
_MEGAPIXEL = 1_048_576
_REFERENCE = Decimal("1.2")


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _megapixels(width: int, height: int) -> int:
    return max(1, math.ceil(width * height / _MEGAPIXEL))


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding="ROUND_CEILING"))


def _video_factor(parameters: Mapping[str, Any], size: tuple[int, int]) -> Decimal:
    tier = str(parameters.get("mode") or parameters.get("resolution") or "").upper()
    if tier.endswith(("2160", "4K")) or max(size) >= 3840:
        return Decimal(3)
    if tier.endswith(("1080", "2K")) or (not tier and max(size) >= 1920):
        return Decimal("1.5")
    if tier.endswith("480") or tier.endswith("480P"):
        return Decimal("0.75")
    return Decimal(1)


def table_credits(
    model: Model, parameters: Mapping[str, Any], size: tuple[int, int], quantity: int,
    duration: int | None,
) -> int:  # fmt: skip
    """The emulator table's price in credits (see the module docstring)."""
    rate = RATES.get(model.id, DEFAULT_RATES.get(model.kind, DEFAULT_RATES["image"]))
    if model.kind == "video":
        seconds = duration or 5
        return _ceil(Decimal(rate * seconds) * _video_factor(parameters, size))
    if model.kind == "upscaler":
        factor = _int(parameters.get("upscale_factor"), 2)
        width, height = _int(parameters.get("width"), 1024), _int(parameters.get("height"), 1024)
        return rate * factor * _megapixels(width, height)
    tier_name = parameters.get("quality") or parameters.get("mode")
    tier = TIERS.get(str(tier_name).upper(), Decimal(1)) if tier_name else Decimal(1)
    per_image = _ceil(Decimal(rate * _megapixels(*size)) * tier)
    total = Decimal(per_image * quantity)
    guidances = parameters.get("guidances")
    if isinstance(guidances, Mapping) and guidances.get("image_reference"):
        total *= _REFERENCE
    return _ceil(total)


def v2_price(
    money: Money, model: Model, parameters: Mapping[str, Any], size: tuple[int, int],
    quantity: int, duration: int | None,
) -> int:  # fmt: skip
    """The charge of one v2 create, in minor units of the account's unit."""
    published = published_cost(model.id, parameters)
    if published is not None:
        if published.unit == "DOLLARS":
            return money.from_usd(published.amount) * quantity
        return money.from_credits(int(published.amount))
    return money.from_credits(table_credits(model, parameters, size, quantity, duration))
