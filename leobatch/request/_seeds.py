"""The seed range each model takes (api-facts sections 4 and 8.1), checked at plan time.

The API takes seeds 0..9999999998, FLUX models only up to 2147483637, and the video models
their own maxima; a seed past its model's maximum is refused by the API after the recipe
has been planned and priced, so it is a plan error here.
"""

from __future__ import annotations

from leobatch.catalog import Model
from leobatch.request._context import Ctx

__all__ = ["SEED_MAX", "check_seed"]

#: The largest seed the API takes (POST /generations, models without a lower maximum).
SEED_MAX = 9_999_999_998
#: Model family -> its largest seed.
_FAMILY_MAX = {
    "flux-dev": 2_147_483_637,
    "flux-schnell": 2_147_483_637,
    "flux-kontext": 2_147_483_637,
    "motion": 2_147_483_637,
    "veo3": 4_294_967_293,
}


def seed_max(model: Model | None) -> int:
    """The largest seed ``model`` takes (``SEED_MAX`` when it is not known)."""
    return SEED_MAX if model is None else _FAMILY_MAX.get(model.family, SEED_MAX)


def check_seed(ctx: Ctx, model: Model | None) -> None:
    """The body's ``seed`` inside ``0..`` the model's maximum (its type is checked apart)."""
    seed = ctx.body.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        return
    high = seed_max(model)
    if not 0 <= seed <= high:
        which = f" for {model.name}" if model is not None and high != SEED_MAX else ""
        ctx.problem(ctx.where("seed"), f"seed must be in 0..{high}{which}, not {seed}")
