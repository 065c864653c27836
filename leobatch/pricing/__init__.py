"""Pricing a plan: Leonardo's pricing calculator, or the built-in rate card offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leobatch.api.client import LeonardoClient
    from leobatch.plan.jobs import Plan
    from leobatch.pricing.calculator import PriceCache
    from leobatch.pricing.priced import PricedPlan

__all__ = ["price_plan"]


async def price_plan(
    plan: Plan,
    client: LeonardoClient | None = None,
    *,
    cache: PriceCache | None = None,
    refresh: bool = False,
) -> PricedPlan:
    """Price every job of ``plan``.

    With a ``client``: Leonardo's pricing calculator, one call per distinct price class
    (answers cached in ``cache`` when one is given; ``refresh`` asks again). Without one: the
    built-in rate card, labelled ``rate-card`` (an estimate). Jobs with no known price are
    ``None``, never 0.
    """
    if client is None:
        from leobatch.pricing.offline import price_offline

        return price_offline(plan)
    from leobatch.pricing.calculator import price_online

    return await price_online(plan, client, cache=cache, refresh=refresh)
