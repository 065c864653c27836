"""A plan with a price on every job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from leobatch.plan.jobs import Plan

__all__ = ["PriceSource", "PricedPlan"]

PriceSource = Literal["calculator", "rate-card"]


@dataclass(frozen=True, slots=True)
class PricedPlan:
    """``credits`` maps each job key to its price in API credits, ``None`` when unknown.

    ``source`` is ``"calculator"`` when every known price came from Leonardo's pricing
    calculator, ``"rate-card"`` when any came from the built-in rate card (an estimate).
    ``price_classes`` counts the distinct calculator requests the plan needed.
    """

    plan: Plan
    credits: Mapping[str, int | None]
    source: PriceSource
    price_classes: int

    @property
    def total(self) -> int:
        """Credits of every job whose price is known."""
        return sum(c for c in self.credits.values() if c is not None)

    @property
    def unknown_jobs(self) -> int:
        """Jobs whose price is not known (never counted as 0 in ``total`` silently)."""
        return sum(1 for c in self.credits.values() if c is None)
