"""The emulated account's money: one unit per account, exact integer arithmetic.

A Leonardo account is billed either in API credits or, on a pay-as-you-go (PAYG) plan, in US
dollars (api-v2-facts 1.10). The emulator's account has one unit, chosen at start
(``EmulatorConfig.billing``: ``"credits"`` or ``"dollars"``), and every create, v1 and v2,
is charged in it. Amounts are kept as whole *minor units* so that sums are exact:

- CREDITS: one minor unit is one credit.
- DOLLARS: one minor unit is USD 0.0001 (the ``cost.amount`` strings carry four decimals).

Conversion (the emulator's own rule, from pricing-facts section 3: PAYG bills "the same rate as
the old Pro tier", about USD 0.0015 per credit): a price known in credits costs
``credits x 0.0015`` dollars, i.e. 15 minor units per credit, exact. Prices published in dollars
(remove-bg, USD 0.1047) are charged as published; in a credit account they cost
``ceil(dollars / 0.0015)`` credits.

A dollar account starts with ``EmulatorConfig.usd`` dollars, or, when that is not given, with the
dollar value of ``EmulatorConfig.credits`` (100,000 credits -> USD 150.0000).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "BILLINGS",
    "MINOR_PER_CREDIT_USD",
    "USD_PER_CREDIT",
    "Money",
    "credits_for_usd",
]

BILLINGS = ("credits", "dollars")
#: USD per credit in the emulator (pricing-facts section 3, derived).
USD_PER_CREDIT = Decimal("0.0015")
#: Dollar minor units (USD 0.0001) per credit.
MINOR_PER_CREDIT_USD = 15
_USD_MINOR = Decimal("0.0001")

Unit = Literal["CREDITS", "DOLLARS"]


def credits_for_usd(usd: Decimal) -> int:
    """Whole credits that cost at least ``usd`` (a dollar price charged to a credit account)."""
    whole, rest = divmod(usd, USD_PER_CREDIT)
    return int(whole) + (1 if rest else 0)


@dataclass(frozen=True, slots=True)
class Money:
    """The account's unit and how amounts in it are written and converted."""

    unit: Unit

    @classmethod
    def for_billing(cls, billing: str) -> Money:
        """``"credits"`` -> CREDITS, ``"dollars"`` -> DOLLARS."""
        if billing not in BILLINGS:
            raise ValueError(f"billing must be one of {', '.join(BILLINGS)}, not {billing!r}")
        return cls("DOLLARS" if billing == "dollars" else "CREDITS")

    @property
    def dollars(self) -> bool:
        """Whether the account is billed in dollars."""
        return self.unit == "DOLLARS"

    def from_credits(self, credits: int) -> int:
        """Minor units charged for a price known in credits."""
        return credits * MINOR_PER_CREDIT_USD if self.dollars else credits

    def from_usd(self, usd: Decimal) -> int:
        """Minor units charged for a price published in dollars."""
        if self.dollars:
            return int((usd / _USD_MINOR).to_integral_value())
        return credits_for_usd(usd)

    def opening(self, credits: int, usd: float | None) -> int:
        """The starting balance in minor units."""
        if self.dollars and usd is not None:
            return int((Decimal(str(usd)) / _USD_MINOR).to_integral_value())
        return self.from_credits(credits)

    def amount(self, minor: int) -> str:
        """The ``cost.amount`` string: ``"13"`` credits or ``"0.0195"`` dollars."""
        if not self.dollars:
            return str(minor)
        return str((Decimal(minor) * _USD_MINOR).quantize(_USD_MINOR))

    def number(self, minor: int) -> int | float:
        """A JSON number: whole credits, or dollars rounded to four decimals."""
        return float(self.amount(minor)) if self.dollars else minor

    def cost(self, minor: int) -> dict[str, Any]:
        """The ``{apiCreditCost, cost}`` pair of a create response.

        ``apiCreditCost`` is deprecated and only meaningful for credits: ``null`` in a dollar
        account (the PAYG FAQ keeps it "during the transition" without saying what it holds).
        """
        credits = None if self.dollars else minor
        return {"apiCreditCost": credits, "cost": {"amount": self.amount(minor), "unit": self.unit}}
