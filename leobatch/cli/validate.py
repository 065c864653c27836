"""``leobatch validate RECIPE...``: load and expand recipes, report every problem at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from leobatch.cli._errors import EXIT_ERROR, EXIT_OK
from leobatch.cli._options import is_quiet, max_jobs_option

if TYPE_CHECKING:
    from leobatch.plan.jobs import Plan

__all__ = ["command"]


@click.command(name="validate")
@click.argument(
    "recipes",
    metavar="RECIPE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@max_jobs_option
def command(recipes: tuple[Path, ...], max_jobs: int) -> int:
    """Check each RECIPE (schema, catalogue rules, templates, paths) without spending a credit.

    Prints "RECIPE: ok" with the job and output counts, or every problem as
    file:line:col: message. Several recipes (as a pre-commit hook passes them) are each
    checked. Exit 0 all valid, 1 problems found, 2 usage error.
    """
    from leobatch.errors import LeobatchError, RecipeError
    from leobatch.plan.expand import plan_recipe

    if len(recipes) == 1:  # one recipe: its error is reported, and mapped, as any command's
        _check(recipes[0], plan_recipe(recipes[0], max_jobs=max_jobs))
        return EXIT_OK
    problems, failed = 0, 0
    for recipe in recipes:
        try:
            plan = plan_recipe(recipe, max_jobs=max_jobs)
        except RecipeError as e:
            failed += 1
            problems += len(e.problems)
            for problem in e.problems:
                click.echo(str(problem), err=True)
        except LeobatchError as e:  # not located in the file (too many jobs, say): name it
            failed += 1
            problems += 1
            click.echo(f"{recipe}: error: {e}", err=True)
        else:
            _check(recipe, plan)
    if failed:
        click.echo(
            f"{problems} problem{_s(problems)} found in {failed} of {len(recipes)} recipes.",
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK


def _check(recipe: Path, plan: Plan) -> None:
    """Say the recipe is valid, with its counts (nothing with ``-q``); warnings on stderr."""
    for warning in plan.warnings:  # a model retiring soon: valid, but say it
        click.echo(str(warning), err=True)
    if is_quiet():
        return
    jobs, outputs = len(plan.jobs), plan.outputs
    click.echo(f"{recipe}: ok — {jobs} job{_s(jobs)}, {outputs} output{_s(outputs)}")


def _s(n: int) -> str:
    return "" if n == 1 else "s"
