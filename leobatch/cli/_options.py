"""Options several commands share, defined once."""

from __future__ import annotations

import click

from leobatch.plan.limits import DEFAULT_MAX_JOBS

__all__ = ["max_jobs_option"]

max_jobs_option = click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_JOBS,
    show_default=True,
    help="Refuse a recipe that expands to more jobs than this (a guard against typos).",
)
