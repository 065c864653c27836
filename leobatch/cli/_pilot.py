"""``run --pilot`` and the money checks ``run`` makes before anything is paid.

A plan whose jobs include some of *unknown* price (no calculator service, no published rate,
nothing in the price book yet) cannot be held to a budget. ``run --pilot`` renders one job of
each unknown price class first; their charges go into the price book, the plan is priced again
(now with those classes known), and the budget and balance are checked again before the rest
is sent. When the learned total no longer fits, the run stops there, having spent only the pilot.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from leobatch.errors import BudgetError
from leobatch.pricing.money import format_usd

if TYPE_CHECKING:
    from leobatch.api.client import Account
    from leobatch.plan.jobs import Plan
    from leobatch.pricing.priced import PricedPlan
    from leobatch.run.diff import PlanDiff

__all__ = ["check_money", "pilot_jobs"]


def pilot_jobs(priced: PricedPlan, to_render: frozenset[str]) -> frozenset[str]:
    """One job to render per price class of unknown price (the plan's first of each class)."""
    from leobatch.pricing.learned import class_of

    chosen: dict[str, str] = {}
    for job in priced.plan.jobs:
        if job.key in to_render and priced.cost(job.key) is None:
            chosen.setdefault(class_of(job), job.key)
    return frozenset(chosen.values())


def check_money(
    priced: PricedPlan, diff: PlanDiff, plan: Plan, account: Account, *, after: str = ""
) -> None:
    """Refuse (``BudgetError``) a plan whose known prices pass a budget or the balance, each
    unit on its own: credits against ``budget.max_credits`` and a credits balance, dollars
    against ``budget.max_usd`` and a dollar balance. ``after`` prefixes the message (``after
    the pilot, ``)."""
    credits = diff.credits_to_render(priced.credits)
    usd = diff.usd_to_render(priced.usd)
    budget = plan.budget_credits
    if budget is not None and diff.charged + credits > budget:
        raise BudgetError(
            f"{after}rendering the rest costs {credits} credits; with {diff.charged} already "
            f"charged that is {diff.charged + credits}, above the recipe's budget of {budget}"
        )
    budget_usd = plan.budget_usd
    if budget_usd is not None and diff.charged_usd + usd > budget_usd:
        raise BudgetError(
            f"{after}rendering the rest costs {format_usd(usd)}; with "
            f"{format_usd(diff.charged_usd)} already charged that is "
            f"{format_usd(diff.charged_usd + usd)}, above the recipe's budget of "
            f"{format_usd(budget_usd)} (budget.max_usd)"
        )
    if account.dollars is not None:
        if usd > account.dollars:
            raise BudgetError(
                f"{after}rendering the rest costs {format_usd(usd)}, above the account "
                f"balance of {format_usd(account.dollars)}"
            )
    elif credits > account.credits:
        raise BudgetError(
            f"{after}rendering the rest costs {credits} credits, above the account balance "
            f"of {account.credits}"
        )


def learned_line(before: PricedPlan, after: PricedPlan, keys: frozenset[str]) -> str:
    """What the pilot taught, for people: classes learned and the plan's new totals."""
    learned = sum(1 for k in keys if before.cost(k) is None and after.cost(k) is not None)
    parts = [f"{after.total:,} credits"]
    if after.total_usd != Decimal(0):
        parts.append(format_usd(after.total_usd))
    unknown = f", {after.unknown_jobs} jobs still unknown" if after.unknown_jobs else ""
    return (
        f"Pilot done: learned the prices of {learned} jobs' price classes; the plan now totals "
        f"{' + '.join(parts)}{unknown}."
    )
