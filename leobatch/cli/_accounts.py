"""The accounts a command talks to: one key (``LEONARDO_API_KEY``), or several
(``LEONARDO_API_KEYS``, ``--keys FILE``) spread over by ``run`` and shown by ``plan``.

With ``--emulator`` and several keys, each key gets an embedded emulator of its own: separate
accounts with their own slots and balances, as the real API has them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leobatch.cli._emulated import EMBEDDED_TIME_SCALE, Endpoint, api_endpoint, embedded_config

if TYPE_CHECKING:
    from leobatch.api._models import Account
    from leobatch.api.client import LeonardoClient
    from leobatch.plan.jobs import Plan
    from leobatch.pricing.priced import PricedPlan
    from leobatch.run.diff import PlanDiff
    from leobatch.run.multi import RunAccount

__all__ = [
    "AccountRow",
    "account_lines",
    "account_rows",
    "api_endpoints",
    "check_accounts",
    "combined_account",
    "keys_option",
    "open_clients",
]

keys_option = click.option(
    "--keys",
    "keys_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Spread the run over several accounts: a file with one API key per line (optionally "
    "followed by the API root it is for; # comments). Default: LEONARDO_API_KEYS "
    "(comma-separated), else LEONARDO_API_KEY.",
)


@contextmanager
def api_endpoints(emulator: bool, keys_file: Path | None) -> Iterator[list[Endpoint]]:
    """The endpoints of every key given (``--keys``, ``LEONARDO_API_KEYS``), else the one of
    :func:`api_endpoint`; with ``emulator``, an embedded emulator per key."""
    from leobatch.api._config import BASE_URL_VAR, DEFAULT_BASE_URL, check_base_url
    from leobatch.run.accounts import keys_from

    specs = keys_from(keys_file)
    if not specs:
        with api_endpoint(emulator) as endpoint:
            yield [endpoint]
        return
    if not emulator:
        base = check_base_url(os.environ.get(BASE_URL_VAR, "").strip() or DEFAULT_BASE_URL)
        yield [Endpoint(spec.base_url or base, spec.key, 1.0) for spec in specs]
        return
    from leobatch.emulator import serve_in_thread

    with ExitStack() as stack:
        endpoints = []
        for spec in specs:
            # The same key is the same emulated user from run to run (its fingerprint too).
            user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"leobatch-emulator:{spec.key}"))
            config = embedded_config(user)
            base_url = stack.enter_context(serve_in_thread(config))
            endpoints.append(Endpoint(base_url, spec.key, EMBEDDED_TIME_SCALE))
        yield endpoints


@asynccontextmanager
async def open_clients(endpoints: Sequence[Endpoint]) -> AsyncIterator[list[LeonardoClient]]:
    """A client per endpoint, all closed on exit."""
    from leobatch.cli._emulated import open_client

    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(open_client(e)) for e in endpoints]


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One account of a run over several, as ``plan`` and ``run`` show it."""

    label: str
    fingerprint: str
    slots: int
    balance: int | None  # credits (None on a dollar account)
    balance_usd: Decimal | None
    jobs: int  # of the plan, rendered there
    to_render: int  # of which still to render
    credits: int  # the known price of those still to render
    usd: Decimal
    unknown: int  # still to render with no known price

    def to_json(self) -> dict[str, Any]:
        """The row for ``--json`` (no key: a fingerprint names the account)."""
        return {
            "account": self.label,
            "fingerprint": self.fingerprint,
            "slots": self.slots,
            "balance": self.balance,
            "balance_usd": None if self.balance_usd is None else str(self.balance_usd),
            "jobs": self.jobs,
            "to_render": self.to_render,
            "credits_to_render": self.credits,
            "usd_to_render": str(self.usd),
            "unknown_to_render": self.unknown,
        }


def account_rows(
    priced: PricedPlan, diff: PlanDiff, accounts: Sequence[RunAccount], plan: Plan
) -> list[AccountRow]:
    """Each account's share of ``priced`` (the jobs shown: which account renders each is
    decided over the whole ``plan`` and its journal), its capacity and its balance. Raises when
    jobs are stranded on an account none of these keys reaches."""
    from leobatch.run.journal import Journal
    from leobatch.run.multi import AccountsError, plan_accounts, stranded_message

    if Journal.exists(plan.output_dir):
        with Journal.open_readonly(plan.output_dir) as journal:
            assignment = plan_accounts(plan, accounts, journal)
    else:
        assignment = plan_accounts(plan, accounts, None)
    shown = frozenset(job.key for job in priced.plan.jobs)
    if assignment.stranded_among(shown):
        raise AccountsError(stranded_message(assignment, len(plan.jobs), shown))
    rows = []
    for account in accounts:
        keys = assignment.jobs[account.slot.fingerprint] & shown
        new = [k for k in diff.new if k in keys]
        rows.append(
            AccountRow(
                label=account.slot.label,
                fingerprint=account.slot.fingerprint,
                slots=account.slot.slots,
                balance=None if account.me.dollars is not None else account.me.credits,
                balance_usd=account.me.dollars,
                jobs=len(keys),
                to_render=len(new),
                credits=sum(priced.credits.get(k) or 0 for k in new),
                usd=sum((priced.usd[k] for k in new if k in priced.usd), Decimal(0)),
                unknown=sum(1 for k in new if priced.cost(k) is None),
            )
        )
    return rows


def check_accounts(rows: Sequence[AccountRow]) -> None:
    """Refuse (``BudgetError``) when an account's share passes its own balance."""
    from leobatch.errors import BudgetError
    from leobatch.pricing.money import format_usd

    for row in rows:
        if row.balance_usd is not None and row.usd > row.balance_usd:
            raise BudgetError(
                f"{row.label} would render {format_usd(row.usd)}, above its balance of "
                f"{format_usd(row.balance_usd)}"
            )
        if row.balance is not None and row.credits > row.balance:
            raise BudgetError(
                f"{row.label} would render {row.credits:,} credits, above its balance of "
                f"{row.balance:,}"
            )


def account_lines(rows: Sequence[AccountRow]) -> list[str]:
    """The accounts as lines for people: capacity, balance and share of the work."""
    from leobatch.pricing.money import format_usd

    lines = [f"accounts: {len(rows)} (jobs spread over them, whole pipelines each)"]
    for row in rows:
        balance = format_usd(row.balance_usd) if row.balance_usd is not None else f"{row.balance:,}"
        money = f"{row.credits:,} credits" if row.balance_usd is None else format_usd(row.usd)
        unknown = f" + {row.unknown:,} unknown" if row.unknown else ""
        lines.append(
            f"  {row.label}: {row.slots} slots, balance {balance}; {row.jobs:,} jobs, "
            f"{row.to_render:,} to render for {money}{unknown}"
        )
    return lines


def combined_account(accounts: Sequence[Account]) -> Account:
    """Several accounts as one, for the run-wide checks: their balances and slots summed."""
    from dataclasses import replace

    first = accounts[0]
    dollars = None
    if first.dollars is not None:
        dollars = sum((a.dollars or Decimal(0) for a in accounts), Decimal(0))
    return replace(
        first,
        credits=sum(a.credits for a in accounts),
        paid_credits=sum(a.paid_credits for a in accounts),
        subscription_credits=sum(a.subscription_credits for a in accounts),
        slots=sum(a.slots or 10 for a in accounts),
        dollars=dollars,
    )
