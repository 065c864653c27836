"""Prices Leonardo publishes for models its pricing calculator does not know (api-v2-facts).

- GPT Image 1.5: ``credits = 1.23977e-5 x width x height x quantity x quality x reference``,
  quality LOW 1 / MEDIUM 2.92 / HIGH 10.538 (the page's FAST / QUALITY / ULTRA multipliers,
  which it maps to Medium and High; LOW -> 1 is our reading, unconfirmed), reference 1.2 when
  any image reference is given; rounded to the nearest credit per job (1024x1024: 13 / 38 / 137,
  as the page's examples). The retired ``mode`` names are priced the same way.
- Kling 2.6: 604 credits for 5 s, 1208 for 10 s.
- remove-bg: USD 0.1047 per image (a dollar price: on a credits account it is no price in
  credits, and the price book learns what the account is charged).

The emulator charges with these functions too, so a plan priced with them is charged exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from leobatch.pricing.money import Cost

__all__ = ["GPT_IMAGE_15_BASE", "published_cost"]

GPT_IMAGE_15_BASE = Decimal("0.0000123977")
_GPT_QUALITY = {
    "LOW": Decimal(1),
    "MEDIUM": Decimal("2.92"),
    "HIGH": Decimal("10.538"),
    "FAST": Decimal(1),
    "QUALITY": Decimal("2.92"),
    "ULTRA": Decimal("10.538"),
}
_KLING_26 = {5: 604, 10: 1208}
REMOVE_BG_USD = Decimal("0.1047")


def published_cost(model: str | None, parameters: Mapping[str, Any]) -> Cost | None:
    """The published price of one v2 create of ``model`` with ``parameters``, if there is one."""
    if model == "gpt-image-1.5":
        return _gpt_image_15(parameters)
    if model == "kling-2.6":
        duration = parameters.get("duration", 5)
        credits = _KLING_26.get(duration) if isinstance(duration, int) else None
        return None if credits is None else Cost.credits(credits)
    if model == "remove-bg":
        return Cost.usd(REMOVE_BG_USD)
    return None


def _gpt_image_15(parameters: Mapping[str, Any]) -> Cost | None:
    width, height = parameters.get("width", 1024), parameters.get("height", 1024)
    quantity = parameters.get("quantity", 1)
    quality = parameters.get("quality", parameters.get("mode", "MEDIUM"))
    factor = _GPT_QUALITY.get(str(quality).upper())
    if factor is None or not all(isinstance(v, int) for v in (width, height, quantity)):
        return None
    guidances = parameters.get("guidances")
    refs = guidances.get("image_reference") if isinstance(guidances, Mapping) else None
    ref = Decimal("1.2") if refs else Decimal(1)
    amount = GPT_IMAGE_15_BASE * width * height * quantity * factor * ref
    return Cost.credits(int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
