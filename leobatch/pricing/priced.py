"""A plan with a price on every job, each in its unit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from leobatch.plan.jobs import Plan
from leobatch.pricing.money import CREDITS, DOLLARS, Cost, Unit

__all__ = ["PriceSource", "PricedPlan"]

PriceSource = Literal["calculator", "rate-card"]


@dataclass(frozen=True, slots=True)
class PricedPlan:
    """``credits`` maps each job key to its price in API credits, ``None`` when unknown in
    credits; ``usd`` holds the jobs priced in US dollars instead (their ``credits`` is
    ``None``). A job in neither is of *unknown* price. The two units are never added.

    ``source`` is ``"calculator"`` when every calculator-priced class came from Leonardo's
    pricing calculator, ``"rate-card"`` when any came from the built-in rate card (an
    estimate). ``price_classes`` counts the distinct price classes of the plan. ``labels``
    says, per job priced otherwise (a published rate, the price book), where its price came
    from: ``"published rate"``, ``"learned from 3 charges, last 2026-11-30"``.
    """

    plan: Plan
    credits: Mapping[str, int | None]
    source: PriceSource
    price_classes: int
    usd: Mapping[str, Decimal] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Credits of every job whose price in credits is known."""
        return sum(c for c in self.credits.values() if c is not None)

    @property
    def total_usd(self) -> Decimal:
        """Dollars of every job priced in dollars."""
        return sum(
            (self.usd[k] for k, c in self.credits.items() if c is None and k in self.usd),
            Decimal(0),
        )

    @property
    def unknown_jobs(self) -> int:
        """Jobs whose price is not known in any unit (never counted as 0 silently)."""
        return sum(1 for k, c in self.credits.items() if c is None and k not in self.usd)

    def cost(self, key: str) -> Cost | None:
        """Job ``key``'s price in its unit, ``None`` when unknown."""
        credits = self.credits.get(key)
        if credits is not None:
            return Cost.credits(credits)
        usd = self.usd.get(key)
        return None if usd is None else Cost.usd(usd)

    def in_unit(self, key: str, unit: Unit) -> Decimal | None:
        """Job ``key``'s price if it is known in ``unit`` (a price in the other unit is not)."""
        cost = self.cost(key)
        return cost.amount if cost is not None and cost.unit == unit else None

    def totals(self) -> dict[Unit, Decimal]:
        """Known prices summed per unit (only the units present)."""
        out: dict[Unit, Decimal] = {}
        if any(c is not None for c in self.credits.values()):
            out[CREDITS] = Decimal(self.total)
        if any(c is None and k in self.usd for k, c in self.credits.items()):
            out[DOLLARS] = self.total_usd
        return out
