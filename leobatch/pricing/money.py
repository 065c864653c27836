"""Money in its unit: a cost is an amount of CREDITS or of DOLLARS, never one added to the other.

Leonardo bills API credits, or US dollars on a pay-as-you-go account (the create response's
``cost {amount, unit}``). leobatch keeps both units apart everywhere: estimates, charges, budgets
(``budget.max_credits``, ``budget.max_usd``) and totals. Dollars are ``Decimal`` in Python and
whole micro-dollars (``10**-6`` USD) in SQLite, so sums are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Literal

__all__ = [
    "CREDITS",
    "DOLLARS",
    "Cost",
    "Unit",
    "format_amount",
    "format_usd",
    "from_micros",
    "parse_cost",
    "to_micros",
    "total",
]

Unit = Literal["CREDITS", "DOLLARS"]
CREDITS: Unit = "CREDITS"
DOLLARS: Unit = "DOLLARS"
_MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Cost:
    """An amount in one unit. Credits are whole numbers; dollars keep their decimals."""

    amount: Decimal
    unit: Unit

    @classmethod
    def credits(cls, amount: int) -> Cost:
        """``amount`` API credits."""
        return cls(Decimal(amount), CREDITS)

    @classmethod
    def usd(cls, amount: Decimal | str) -> Cost:
        """``amount`` US dollars (a decimal string is read exactly)."""
        return cls(Decimal(amount), DOLLARS)

    @property
    def whole_credits(self) -> int | None:
        """The amount as whole credits (rounded up), or ``None`` for dollars."""
        if self.unit != CREDITS:
            return None
        return int(self.amount.to_integral_value(rounding=ROUND_CEILING))

    def __str__(self) -> str:
        return format_amount(self.amount, self.unit)


def parse_cost(amount: str | None, unit: str | None, credits: int | None) -> Cost | None:
    """The cost a create response reported: ``cost {amount, unit}``, else ``apiCreditCost``.

    An amount that is not a number, or a unit leobatch does not know, is no cost (``None``):
    guessing a unit could add dollars to credits.
    """
    if amount is not None and unit in (CREDITS, DOLLARS):
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            value = None
        if value is not None and value.is_finite() and value >= 0:
            return Cost(value, CREDITS if unit == CREDITS else DOLLARS)
    if credits is not None:
        return Cost.credits(credits)
    return None


def to_micros(amount: Decimal) -> int:
    """Dollars as whole micro-dollars, rounded up (a charge is never under-counted)."""
    return int((amount / _MICRO).to_integral_value(rounding=ROUND_CEILING))


def from_micros(micros: int) -> Decimal:
    """Whole micro-dollars as dollars, without trailing zeros past the cents."""
    value = Decimal(micros) * _MICRO
    return (
        value.quantize(Decimal("0.01"))
        if value == value.quantize(Decimal("0.01"))
        else value.normalize()
    )


def format_usd(amount: Decimal) -> str:
    """``USD 1,234.5678``: at least cents, every decimal the amount has."""
    places = max(2, -amount.normalize().as_tuple().exponent) if amount else 2  # type: ignore[operator]
    return f"USD {amount:,.{places}f}"


def format_amount(amount: Decimal | int, unit: Unit) -> str:
    """``1,234 credits`` or ``USD 0.1047``."""
    if unit == DOLLARS:
        return format_usd(Decimal(amount))
    return f"{Decimal(amount):,f} credits".replace(".0 credits", " credits")


def total(costs: Iterable[Cost | None], unit: Unit) -> Decimal:
    """The sum of ``costs`` in ``unit`` (others, and unknown ones, are left out)."""
    return sum((c.amount for c in costs if c is not None and c.unit == unit), Decimal(0))
