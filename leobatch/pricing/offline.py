"""Offline pricing: every job priced from the built-in rate card (an estimate).

Jobs are grouped into price classes first and each class is priced once, so a plan of 10,000
jobs costs one rate-card look-up per distinct request. A job with no price is ``None`` (shown as
*unknown*), never 0.
"""

from __future__ import annotations

from leobatch.plan.jobs import Plan
from leobatch.pricing.classes import PriceRequest, credits, price_request
from leobatch.pricing.priced import PricedPlan

__all__ = ["price_offline"]


def price_offline(plan: Plan) -> PricedPlan:
    """``plan`` priced with the rate card; ``price_classes`` counts the distinct requests."""
    by_class: dict[str, int | None] = {}
    prices: dict[str, int | None] = {}
    for job in plan.jobs:
        request: PriceRequest | None = price_request(job)
        if request is None:
            prices[job.key] = None
            continue
        key = request.class_key
        if key not in by_class:
            by_class[key] = credits(request)
        prices[job.key] = by_class[key]
    return PricedPlan(plan=plan, credits=prices, source="rate-card", price_classes=len(by_class))
