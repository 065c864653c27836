"""``leobatch plan RECIPE``: expand and price a recipe, the cost preview before every run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from leobatch.errors import BudgetError

if TYPE_CHECKING:
    from leobatch.plan.jobs import Plan
    from leobatch.plan.summary import PlanSummary, Row
    from leobatch.pricing.priced import PricedPlan
from leobatch.plan.limits import DEFAULT_MAX_JOBS

__all__ = ["command", "price", "render_summary"]


def price(plan: Plan, *, offline: bool) -> PricedPlan:
    """Price every job: the one step that changes when online pricing is used.

    Today every plan is priced from the built-in rate card (an estimate, labelled so).
    """
    from leobatch.pricing.offline import price_offline

    return price_offline(plan)


@click.command(name="plan")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Price from the built-in rate card (an estimate).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (DESIGN section 7).")
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_JOBS,
    show_default=True,
    help="Refuse a recipe that expands to more jobs than this.",
)
def command(recipe: Path, offline: bool, as_json: bool, max_jobs: int) -> None:
    """Expand RECIPE into jobs and price them: per stage, per model, and in total.

    Exit 1 when the recipe has problems or the plan is above the recipe's budget.
    """
    from leobatch.plan.expand import expand_plan
    from leobatch.plan.summary import summarise
    from leobatch.recipe import load_recipe

    plan = expand_plan(load_recipe(recipe), max_jobs=max_jobs)
    summary = summarise(price(plan, offline=offline))
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        render_summary(summary)
    if summary.over_budget:
        raise BudgetError(
            f"the plan needs {summary.credits:,} credits, above the recipe's budget of "
            f"{summary.budget:,} (budget.max_credits)"
        )


def _credits(row: Row) -> str:

    if row.unknown_jobs == row.jobs and row.jobs:
        return "unknown"
    text = f"{row.credits:,}"
    return f"{text} + {row.unknown_jobs} unknown" if row.unknown_jobs else text


def render_summary(summary: PlanSummary) -> None:
    """Print the plan as tables: boxed on a terminal, plain text otherwise."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from leobatch.plan.summary import Row

    terminal = sys.stdout.isatty()
    console = Console(
        highlight=False, no_color=not terminal, width=None if terminal else 100, soft_wrap=False
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
    total = Row("total", "", summary.jobs, summary.outputs, summary.credits, summary.unknown_jobs)
    stages.add_section()
    stages.add_row("total", "", str(total.jobs), str(total.outputs), _credits(total), style="bold")
    console.print(stages)
    console.print()
    models = table("By model", "model")
    for row in summary.models:
        models.add_row(row.name, row.kind, str(row.jobs), str(row.outputs), _credits(row))
    console.print(models)
    console.print()
    console.print(f"credits: {summary.credits:,} ({summary.source_label})")
    if summary.unknown_jobs:
        console.print(f"unknown price: {summary.unknown_jobs} jobs (not counted in the total)")
    console.print(f"price classes: {summary.price_classes}")
    diff = summary.diff
    console.print(
        f"to render: {diff.new}, already rendered: {diff.done}, no longer in recipe: {diff.removed}"
    )
    if summary.budget is not None:
        verdict = "over budget" if summary.over_budget else "within budget"
        console.print(f"budget: {summary.budget:,} credits ({verdict})")
