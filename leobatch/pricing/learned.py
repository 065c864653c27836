"""The prices a plan gets beyond the calculator: published rates, then the price book.

In order of trust (DESIGN 5.2): the pricing calculator (v1 services; already in the priced
plan), a rate Leonardo publishes (``leobatch.pricing.published``), what this account was
charged before for the same price class (``leobatch.pricing.book``), else unknown. When the
account's billing unit is known (its ``/me`` or its last recorded charge), a published rate in
the other unit gives way to a learned price in the account's unit, and without one the job is
unknown (``run --pilot`` learns it): a dollar rate cannot check a credits budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from leobatch.pricing.book import PriceBook
from leobatch.pricing.classes import V2_PATH, price_request
from leobatch.pricing.money import CREDITS, DOLLARS, Cost, Unit
from leobatch.pricing.priced import PricedPlan
from leobatch.pricing.published import published_cost

__all__ = ["PUBLISHED", "class_of", "complete_prices", "with_learned_prices"]

PUBLISHED = "published rate"


def class_of(job: Any) -> str:
    """A job's price class key (its kind when it has none)."""
    request = price_request(job)
    return request.class_key if request is not None else f"kind:{job.kind}"


def complete_prices(
    priced: PricedPlan,
    book: PriceBook | None,
    *,
    account: str | None,
    unit: Unit | None = None,
) -> PricedPlan:
    """``priced`` with every job the calculator could not price priced by a published rate or
    the book, where either knows it (labelled in ``labels``); the rest stay unknown.

    On an account billed in dollars (``unit`` DOLLARS) a price in credits says nothing of what
    a job will be charged (Leonardo publishes no exchange rate), so such a job is priced from
    the book in dollars, or is unknown: ``run --pilot`` learns it.
    """
    if unit == DOLLARS:
        priced = dataclasses.replace(
            priced,
            credits=dict.fromkeys(priced.credits),
            labels={k: v for k, v in priced.labels.items() if k in priced.usd},
        )
    jobs = [job for job in priced.plan.jobs if priced.credits.get(job.key) is None]
    if not jobs:
        return priced
    classes = {job.key: class_of(job) for job in jobs}
    learned = book.lookup(set(classes.values()), account=account, unit=unit) if book else {}
    credits: dict[str, int | None] = dict(priced.credits)
    usd: dict[str, Decimal] = dict(priced.usd)
    labels: dict[str, str] = dict(priced.labels)
    for job in jobs:
        cost, label = _published(job), PUBLISHED
        book_price = learned.get(classes[job.key])
        if book_price is not None and (cost is None or (unit is not None and cost.unit != unit)):
            cost, label = book_price.cost, book_price.label
        if cost is None or (unit is not None and cost.unit != unit):
            continue  # a rate in the other unit cannot check this account's budget: unknown
        if cost.unit == CREDITS:
            credits[job.key] = cost.whole_credits
            usd.pop(job.key, None)
        else:
            usd[job.key] = cost.amount
        labels[job.key] = label
    return dataclasses.replace(priced, credits=credits, usd=usd, labels=labels)


def _published(job: Any) -> Cost | None:
    if job.endpoint != V2_PATH:
        return None
    body: Mapping[str, Any] = job.body
    parameters = body.get("parameters")
    return published_cost(body.get("model"), parameters if isinstance(parameters, Mapping) else {})


def with_learned_prices(
    priced: PricedPlan, *, account: str | None, unit: Unit | None = None
) -> PricedPlan:
    """:func:`complete_prices` with the account's price book (in the user data dir).

    ``account`` None (offline) uses every account's charges; ``unit`` is how the account is
    billed when known (its ``/me``), else the unit of its last recorded charge. A book that
    cannot be opened leaves the learned prices out (a warning), never the plan.
    """
    import logging
    import sqlite3

    try:
        book = PriceBook()
    except (OSError, sqlite3.Error) as e:
        logging.getLogger("leobatch.pricing").warning("the price book cannot be read: %s", e)
        return complete_prices(priced, None, account=account, unit=unit)
    with book:
        if unit is None and account is not None:
            unit = book.unit_of(account)
        return complete_prices(priced, book, account=account, unit=unit)
