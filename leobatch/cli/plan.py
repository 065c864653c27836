"""``leobatch plan RECIPE``: expand and price a recipe, the cost preview before every run."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leobatch._loop import run as run_async
from leobatch.cli._accounts import keys_option
from leobatch.cli._emulated import emulator_option, has_key
from leobatch.cli._errors import EXIT_OK, EXIT_USAGE
from leobatch.cli._options import is_quiet, max_jobs_option
from leobatch.cli._select import by_axes, select_plan, selection_of, selection_options
from leobatch.errors import BudgetError

if TYPE_CHECKING:
    from leobatch.api.client import Account
    from leobatch.plan.jobs import Plan
    from leobatch.plan.summary import PlanSummary, Row
    from leobatch.pricing.priced import PricedPlan
    from leobatch.run.multi import RunAccount

__all__ = ["EXIT_TO_RENDER", "Priced", "command", "price", "render_summary"]

#: ``plan --exit-code`` when something is to be rendered (``terraform plan -detailed-exitcode``).
EXIT_TO_RENDER = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Priced:
    """A priced plan and what the account said (``None`` offline)."""

    priced: PricedPlan
    balance: int | None
    note: str | None  # why the prices are estimates, when they are
    balance_usd: Decimal | None = None  # a PAYG account's balance (then ``balance`` is moot)
    accounts: tuple[RunAccount, ...] = ()  # with several keys: each account (else empty)


#: Why ``plan`` without a key prices from the rate card, and how to get a calculator's prices.
NO_KEY_NOTE = "no LEONARDO_API_KEY set; add --emulator to price on the offline emulator"


def price(
    plan: Plan,
    *,
    offline: bool,
    refresh: bool = False,
    emulator: bool = False,
    keys_file: Path | None = None,
) -> Priced:
    """Price every job: through the account's (or the embedded emulator's) pricing calculator,
    or the built-in rate card.

    The rate card is used with ``--offline`` and when no ``LEONARDO_API_KEY`` is set, and says so.
    """
    from leobatch.pricing.offline import price_offline

    if offline:
        return Priced(_published_only(price_offline(plan)), None, "--offline")
    from leobatch.run.accounts import keys_from

    several = bool(keys_from(keys_file))
    if not emulator and not has_key() and not several:
        return Priced(_published_only(price_offline(plan)), None, NO_KEY_NOTE)
    return run_async(_price_online, plan, refresh, emulator, keys_file)


async def _price_online(
    plan: Plan, refresh: bool, emulator: bool, keys_file: Path | None
) -> Priced:
    from leobatch.cli._accounts import api_endpoints, combined_account, open_clients
    from leobatch.pricing.calculator import PriceCache, price_online
    from leobatch.run.multi import open_accounts

    accounts: tuple[RunAccount, ...] = ()
    with api_endpoints(emulator, keys_file) as endpoints:
        async with open_clients(endpoints) as clients:
            client = clients[0]
            account = await client.me()
            cache = None if emulator else PriceCache.default()
            priced = await price_online(plan, client, cache=cache, refresh=refresh)
            priced = learned_for(priced, client.base_url, account)
            if len(clients) > 1:
                accounts = tuple(await open_accounts(clients))
                for other in accounts[1:]:
                    priced = learned_for(priced, other.client.base_url, other.me)
                account = combined_account([a.me for a in accounts])
    balance = None if account.dollars is not None else account.credits
    note = "--emulator" if emulator else None
    return Priced(priced, balance, note, account.dollars, accounts)


def _published_only(priced: PricedPlan) -> PricedPlan:
    """Offline no account is known, so the price book is not read (an emulator's charges and a
    real account's must not mix): published rates only, the rest unknown."""
    from leobatch.pricing.learned import complete_prices

    return complete_prices(priced, None, account=None)


def learned_for(priced: PricedPlan, base_url: str, account: Account) -> PricedPlan:
    """``priced`` completed with published rates and what ``account`` was charged before."""
    from leobatch.account_store import account_fingerprint
    from leobatch.pricing.learned import with_learned_prices

    fingerprint = account_fingerprint(base_url, account.user_id)
    from leobatch.pricing.money import DOLLARS, Unit

    # No dollar balance on /me does not prove a credits account: then the book's last charge
    # says how the account is billed.
    unit: Unit | None = DOLLARS if account.dollars is not None else None
    return with_learned_prices(priced, account=fingerprint, unit=unit)


@click.command(
    name="plan",
    epilog="Exit codes: 0 ok, 1 error (recipe, budget, balance), 2 usage mistake, or with "
    "--exit-code something to render.",
)
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--offline",
    is_flag=True,
    help="Price from the built-in rate card (an estimate) without asking the API.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object: the summary, per stage."
)
@click.option(
    "-o",
    "--output",
    "save_to",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Save the priced plan; `leobatch run PLAN.json` runs exactly it (or refuses if stale).",
)
@click.option(
    "--refresh-prices", is_flag=True, help="Ask the calculator again, ignoring the cache."
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="List the jobs to render, already rendered and no longer in the recipe, each with "
    "its stage, matrix values, credits and prompt.",
)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 2 when something is to be rendered, 0 when nothing is (for CI gates); "
    "1 still means an error or a plan over budget.",
)
@emulator_option
@keys_option
@max_jobs_option
@selection_options
def command(
    recipe: Path,
    offline: bool,
    as_json: bool,
    save_to: Path | None,
    refresh_prices: bool,
    show_diff: bool,
    exit_code: bool,
    emulator: bool,
    keys_file: Path | None,
    max_jobs: int,
    **select: Any,
) -> int:
    """Expand RECIPE into jobs and price them: per stage, per model, and in total.

    Prices come from the account's pricing calculator (LEONARDO_API_KEY), cached for a day, or
    from the built-in rate card with --offline. Shows what is new and what the output directory
    already holds. Exit 1 when the recipe has problems, or the plan is above the recipe's budget
    or the account's balance.

    --by AXIS,... breaks credits down by any matrix axes (and `stage`): one row per
    combination of their values. With --sample K the same axes are also the cells sampled.

    With several keys (LEONARDO_API_KEYS or --keys) it shows each account: slots, balance and
    the jobs it would render; each account's share is checked against its own balance.
    """
    from leobatch.plan.expand import plan_recipe
    from leobatch.plan.select import SelectionError
    from leobatch.plan.summary import Diff, summarise
    from leobatch.run.diff import diff_plan

    axes = by_axes(select.get("sample_by"))
    selection = selection_of(**select, by_alone=True)
    if save_to is not None and not selection.everything:
        raise click.UsageError("--output saves the whole plan: select jobs when you run it")
    full = plan_recipe(recipe, max_jobs=max_jobs)
    for warning in full.warnings:  # a model retiring soon: on stderr, so --json stays clean
        click.echo(str(warning), err=True)
    selected = select_plan(full, selection)
    plan = selected.plan
    if offline and emulator:
        raise click.UsageError("--offline and --emulator contradict each other: give one")
    if offline and keys_file is not None:
        raise click.UsageError("--offline and --keys contradict each other: give one")
    result = price(
        full, offline=offline, refresh=refresh_prices, emulator=emulator, keys_file=keys_file
    )
    priced = selected.priced(result.priced)
    changes = diff_plan(plan, full)
    diff = Diff(
        new=len(changes.new),
        done=len(changes.done),
        removed=changes.removed,
        in_flight=len(changes.in_flight),
    )
    try:
        summary = summarise(
            priced, diff=diff, balance=result.balance, by=axes, balance_usd=result.balance_usd
        )
    except SelectionError as e:
        raise click.UsageError(str(e)) from None
    to_render = changes.credits_to_render(priced.credits)
    rows = None
    if result.accounts:
        from leobatch.cli._accounts import account_lines, account_rows

        rows = account_rows(priced, changes, result.accounts, full)
    if as_json:
        data = summary.to_json()
        if rows is not None:
            data["accounts"] = [row.to_json() for row in rows]
        if show_diff:
            from leobatch.cli._review import diff_json

            data["diff_jobs"] = diff_json(plan, changes, priced.credits)
        if not selection.everything:
            data["selection"] = {
                "options": selection.describe(),
                "jobs": len(plan.jobs),
                "of": selected.total,
                "left_out": selected.left_out,
            }
        click.echo(json.dumps(data))
    elif not is_quiet():
        render_summary(summary, note=result.note, to_render=to_render)
        if rows is not None:
            click.echo("\n".join(account_lines(rows)))
        if (line := selected.describe()) is not None:
            click.echo(line)
        if show_diff:
            from leobatch.cli._review import diff_lines

            click.echo()
            lines = diff_lines(plan, changes, priced.credits, terminal=sys.stdout.isatty())
            click.echo("\n".join(lines))
    if save_to is not None:
        from leobatch.planfile import save_plan

        save_plan(result.priced, save_to)
        if not as_json and not is_quiet():
            click.echo(f"Saved to {save_to}; render exactly this with `leobatch run {save_to}`.")
    if summary.over_budget:
        raise BudgetError(
            f"the plan needs {summary.credits:,} credits, above the recipe's budget of "
            f"{summary.budget:,} (budget.max_credits)"
        )
    if summary.over_budget_usd:
        from leobatch.pricing.money import format_usd

        assert summary.budget_usd is not None
        raise BudgetError(
            f"the plan needs {format_usd(summary.usd)}, above the recipe's budget of "
            f"{format_usd(summary.budget_usd)} (budget.max_usd)"
        )
    usd_to_render = changes.usd_to_render(priced.usd)
    if result.balance_usd is not None and usd_to_render > result.balance_usd:
        from leobatch.pricing.money import format_usd

        raise BudgetError(
            f"rendering what is new needs {format_usd(usd_to_render)}, above the account's "
            f"balance of {format_usd(result.balance_usd)}"
        )
    if result.balance is not None and to_render > result.balance:
        raise BudgetError(
            f"rendering what is new needs {to_render:,} credits, above the account's balance "
            f"of {result.balance:,}"
        )
    if rows is not None:
        from leobatch.cli._accounts import check_accounts

        check_accounts(rows)
    return EXIT_TO_RENDER if exit_code and changes.new else EXIT_OK


def _credits(row: Row) -> str:
    """A row's price: credits, dollars apart (``USD ...``), and how many jobs are unknown."""
    from leobatch.pricing.money import format_usd

    if row.unknown_jobs == row.jobs and row.jobs:
        return "unknown"
    parts = []
    if row.jobs - row.unknown_jobs - row.usd_jobs > 0 or not row.usd_jobs:
        parts.append(f"{row.credits:,}")
    if row.usd_jobs:
        parts.append(format_usd(row.usd))
    if row.unknown_jobs:
        parts.append(f"{row.unknown_jobs} unknown")
    return " + ".join(parts)


def render_summary(
    summary: PlanSummary,
    *,
    note: str | None = None,
    to_render: int | None = None,
    err: bool = False,
) -> None:
    """Print the plan as tables (on stderr with ``err``): boxed on a terminal, plain text
    otherwise; colourless with NO_COLOR."""
    from rich import box
    from rich.table import Table

    from leobatch.cli._progress import console as make_console
    from leobatch.plan.summary import Row
    from leobatch.pricing.money import format_usd

    stream = sys.stderr if err else sys.stdout
    terminal = stream.isatty()
    console = make_console(
        stream,
        highlight=False,
        no_color=not terminal,
        width=None if terminal else 100,
        soft_wrap=False,
    )
    style = box.SIMPLE_HEAD if terminal else None

    def table(title: str, first: str) -> Table:
        t = Table(title=title, box=style, title_justify="left", show_edge=False, pad_edge=False)
        t.add_column(first)
        t.add_column("kind")
        for name in ("jobs", "outputs", "credits"):
            t.add_column(name, justify="right")
        return t

    stages = table(f"Plan for {summary.recipe}", "stage")
    for row in summary.stages:
        stages.add_row(row.name, row.kind, str(row.jobs), str(row.outputs), _credits(row))
    total = Row(
        "total",
        "",
        summary.jobs,
        summary.outputs,
        summary.credits,
        summary.unknown_jobs,
        summary.usd,
        summary.usd_jobs,
    )
    stages.add_section()
    stages.add_row("total", "", str(total.jobs), str(total.outputs), _credits(total), style="bold")
    console.print(stages)
    console.print()
    models = table("By model", "model")
    for row in summary.models:
        models.add_row(row.name, row.kind, str(row.jobs), str(row.outputs), _credits(row))
    console.print(models)
    console.print()
    if summary.by is not None:
        from leobatch.cli._progress import write_line
        from leobatch.cli._review import by_lines

        write_line(console.file, "\n".join(by_lines(summary.by, terminal=terminal)) + "\n")
    label = f"{summary.source_label}; {note}" if note else summary.source_label
    console.print(f"credits: {summary.credits:,} ({label})", soft_wrap=True)  # one line, to grep
    if summary.usd_jobs:
        console.print(
            f"dollars: {format_usd(summary.usd)} ({summary.usd_jobs} jobs priced in US dollars; "
            "never added to the credits)",
            soft_wrap=True,
        )
    for source, jobs in summary.labels.items():
        console.print(f"priced by {source}: {jobs} jobs", soft_wrap=True)
    if summary.unknown_jobs:
        console.print(
            f"unknown price: {summary.unknown_jobs} jobs (not counted in the total; "
            "`run --pilot` renders one per price class first to learn them)",
            soft_wrap=True,
        )
    console.print(f"price classes: {summary.price_classes}")
    diff = summary.diff
    console.print(
        f"to render: {diff.new:,}, already rendered: {diff.done:,}, no longer in recipe: "
        f"{diff.removed:,}"
    )
    if diff.in_flight:
        console.print(
            f"in flight from an interrupted run: {diff.in_flight:,} (paid; not priced again)"
        )
    if summary.budget is not None:
        verdict = "over budget" if summary.over_budget else "within budget"
        console.print(f"budget: {summary.budget:,} credits ({verdict})")
    if summary.budget_usd is not None:
        verdict = "over budget" if summary.over_budget_usd else "within budget"
        console.print(f"budget: {format_usd(summary.budget_usd)} ({verdict})")
    if summary.balance_usd is not None:
        console.print(f"balance: {format_usd(summary.balance_usd)} (a pay-as-you-go account)")
    if summary.balance is not None:
        needed = summary.credits if to_render is None else to_render
        verdict = "enough" if needed <= summary.balance else "NOT enough"
        console.print(f"balance: {summary.balance:,} credits ({verdict} for {needed:,} to render)")
