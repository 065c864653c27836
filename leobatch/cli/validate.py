"""``leobatch validate RECIPE``: load and expand a recipe, report every problem at once."""

from __future__ import annotations

from pathlib import Path

import click

from leobatch.cli._options import max_jobs_option

__all__ = ["command"]


@click.command(name="validate")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@max_jobs_option
def command(recipe: Path, max_jobs: int) -> None:
    """Check RECIPE (schema, catalogue rules, templates, paths) without spending a credit.

    Prints "RECIPE: ok" with the job and output counts, or every problem as
    file:line:col: message. Exit 0 valid, 1 problems found, 2 usage error.
    """
    from leobatch.plan.expand import plan_recipe

    plan = plan_recipe(recipe, max_jobs=max_jobs)
    jobs, outputs = len(plan.jobs), plan.outputs
    click.echo(f"{recipe}: ok — {jobs} job{_s(jobs)}, {outputs} output{_s(outputs)}")


def _s(n: int) -> str:
    return "" if n == 1 else "s"
