"""Options several commands share, defined once."""

from __future__ import annotations

import os

import click

from leobatch.plan.limits import DEFAULT_MAX_JOBS

__all__ = ["is_quiet", "max_jobs_option", "no_color"]

max_jobs_option = click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_JOBS,
    show_default=True,
    help="Refuse a recipe that expands to more jobs than this (a guard against typos).",
)


def is_quiet() -> bool:
    """Whether ``leobatch -q`` asked for nothing but errors."""
    ctx = click.get_current_context(silent=True)
    options = ctx.find_root().obj if ctx is not None else None
    return isinstance(options, dict) and bool(options.get("quiet"))


def no_color() -> bool:
    """Whether ``NO_COLOR`` (https://no-color.org) holds anything: then nothing is coloured."""
    return os.environ.get("NO_COLOR", "") != ""
