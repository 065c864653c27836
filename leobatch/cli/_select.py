"""The job-selection options of plan, run, status and report, defined once."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from leobatch.plan.jobs import Plan
    from leobatch.plan.select import Selection
    from leobatch.pricing.priced import PricedPlan

__all__ = ["Selected", "by_axes", "select_plan", "selection_of", "selection_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--where",
        "where",
        multiple=True,
        metavar="KEY=VALUE",
        help="Only jobs whose matrix value KEY (or `stage`) is VALUE; VALUE may list several "
        "(a,b: any of); KEY!=VALUE excludes. Repeatable: all must hold.",
    ),
    click.option(
        "--stage",
        "stages",
        multiple=True,
        metavar="NAME",
        help="Only this stage's jobs, with the upstream jobs they need. Repeatable.",
    ),
    click.option("--failed", is_flag=True, help="Only the jobs that failed (per the journal)."),
    click.option(
        "--sample",
        type=int,
        metavar="K",
        help="K jobs per cell of the --by axes (per stage without --by), chosen the same way "
        "every time: a pilot. Selection never changes a job, so a later full run reuses it.",
    ),
    click.option(
        "--by",
        "sample_by",
        metavar="AXIS,...",
        help="The axes whose cells --sample covers (sampling is per stage already). On plan, "
        "also the axes credits are broken down by; there --by works without --sample too.",
    ),
    click.option("--limit", type=int, metavar="N", help="At most N jobs, the first in plan order."),
    click.option(
        "--shard",
        metavar="I/N",
        help="Only the I-th of N parts of the plan (for a CI matrix): whole pipelines, balanced "
        "by job count, the same on every machine; the N parts together are the plan. Taken "
        "before the other options, which narrow within it. `leobatch collect` merges the "
        "parts' manifests.",
    ),
)


def selection_options(f: F) -> F:
    """Add --where, --stage, --failed, --sample, --by, --limit and --shard to a command."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def selection_of(
    where: tuple[str, ...],
    stages: tuple[str, ...],
    failed: bool,
    sample: int | None,
    sample_by: str | None,
    limit: int | None,
    shard: str | None = None,
    *,
    by_alone: bool = False,
) -> Selection:
    """The options' values as a :class:`~leobatch.plan.select.Selection` (usage errors: exit 2).

    ``--by`` without ``--sample`` is a usage error, except with ``by_alone`` (``plan``, where
    ``--by`` also names the axes of the credit breakdown: see :func:`by_axes`). ``stage`` among
    the ``--by`` axes is left out of the sampling cells, which are per stage anyway.
    """
    from leobatch.plan.select import Selection, SelectionError, parse_shard, parse_where

    if sample_by and sample is None and not by_alone:
        raise click.UsageError("--by goes with --sample (only plan takes --by alone)")
    cells = tuple(a for a in by_axes(sample_by) if a != "stage") if sample is not None else ()
    try:
        return Selection(
            where=tuple(parse_where(w) for w in where),
            stages=stages,
            failed=failed,
            sample=sample,
            sample_by=cells,
            limit=limit,
            shard=parse_shard(shard) if shard is not None else None,
        )
    except SelectionError as e:
        raise click.UsageError(str(e)) from None


def by_axes(sample_by: str | None) -> tuple[str, ...]:
    """The axes ``--by a,b`` names, in order, without blanks or repeats."""
    names = (a.strip() for a in (sample_by or "").split(","))
    return tuple(dict.fromkeys(a for a in names if a))


@dataclass(frozen=True, slots=True)
class Selected:
    """A plan cut down to a selection, and what it left out (jobs per stage)."""

    plan: Plan
    whole: Plan
    selection: Selection
    left_out: dict[str, int]

    @property
    def total(self) -> int:
        """Jobs in the whole plan."""
        return len(self.whole.jobs)

    @property
    def keys(self) -> frozenset[str] | None:
        """The selected job keys, or ``None`` when everything is selected."""
        if self.selection.everything:
            return None
        return frozenset(job.key for job in self.plan.jobs)

    def describe(self) -> str | None:
        """One line for the plan display: what the selection keeps and leaves out."""
        if self.selection.everything:
            return None
        out = ", ".join(f"{stage} {n}" for stage, n in self.left_out.items()) or "nothing"
        return (
            f"selection ({self.selection.describe()}): {len(self.plan.jobs):,} of "
            f"{self.total:,} jobs; left out: {out}"
        )

    def priced(self, priced: PricedPlan) -> PricedPlan:
        """``priced`` (the whole plan's prices) narrowed to the selected jobs."""
        credits = {job.key: priced.credits.get(job.key) for job in self.plan.jobs}
        return dataclasses.replace(priced, plan=self.plan, credits=credits)


def select_plan(plan: Plan, selection: Selection) -> Selected:
    """Apply ``selection`` to ``plan`` (reading the journal's failed jobs for --failed)."""
    from leobatch.plan.select import SelectionError, select_jobs

    failed: frozenset[str] = frozenset()
    if selection.failed:
        from leobatch.run.journal import Journal

        if Journal.exists(plan.output_dir):
            with Journal.open_readonly(plan.output_dir) as journal:
                failed = frozenset(s.key for s in journal.in_state("failed"))
    try:
        jobs = select_jobs(plan, selection, failed)
    except SelectionError as e:
        raise click.UsageError(str(e)) from None
    kept = {job.key for job in jobs}
    left = Counter(job.stage for job in plan.jobs if job.key not in kept)
    left_out = {stage: left[stage] for stage in plan.stages if left[stage]}
    return Selected(dataclasses.replace(plan, jobs=jobs), plan, selection, left_out)
