"""Plan review, like ``terraform plan``: the ``--by`` breakdown table and the ``--diff`` lists.

On a terminal the lists are for eyes: at most :data:`SHOWN` jobs per section, each line cut to
the terminal's width. Off a terminal (a pipe, a CI log) every job is listed, each line whole, so
that a log can be searched; ``--json`` always carries everything.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leobatch.plan.jobs import Job, Plan
    from leobatch.plan.summary import Breakdown
    from leobatch.run.diff import PlanDiff, RemovedJob

__all__ = ["SHOWN", "by_lines", "diff_json", "diff_lines", "matrix_text"]

#: Jobs listed per section of ``plan --diff`` on a terminal.
SHOWN = 50


def credits_text(credits: int | None, unknown_jobs: int, jobs: int) -> str:
    """``1,234``, ``1,234 + 2 unknown``, or ``unknown`` (never 0 for what has no price)."""
    if jobs and unknown_jobs == jobs:
        return "unknown"
    text = f"{credits or 0:,}"
    return f"{text} + {unknown_jobs:,} unknown" if unknown_jobs else text


def by_lines(breakdown: Breakdown, *, terminal: bool) -> list[str]:
    """The ``--by`` table: one row per combination of the axes' values, then the total.

    Formatted here rather than with rich, whose tables take about 5 ms a row: a breakdown by
    seed may have 10,000 rows.
    """
    rows = [
        [
            *(_value_text(v) for v in row.values),
            f"{row.jobs:,}",
            f"{row.outputs:,}",
            credits_text(row.credits, row.unknown_jobs, row.jobs),
        ]
        for row in breakdown.rows
    ]
    jobs = sum(r.jobs for r in breakdown.rows)
    unknown = sum(r.unknown_jobs for r in breakdown.rows)
    total = [
        "total",
        *("" for _ in breakdown.axes[1:]),
        f"{jobs:,}",
        f"{sum(r.outputs for r in breakdown.rows):,}",
        credits_text(sum(r.credits for r in breakdown.rows), unknown, jobs),
    ]
    header = [*breakdown.axes, "jobs", "outputs", "credits"]
    table = [header, *rows, total]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(header))]
    left = len(breakdown.axes)

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    lines = [f"By {', '.join(breakdown.axes)}", line(header)]
    rule = "  ".join("─" * w for w in widths)
    if terminal:
        lines.append(rule)
    lines.extend(line(cells) for cells in rows)
    if terminal:
        lines.append(rule)
    lines.append(line(total))
    return lines


def matrix_text(matrix: Mapping[str, Any] | None) -> str:
    """``model=flux-dev seed=7`` (a mapping value as ``shot.name=wide shot.width=1536``)."""
    if matrix is None:
        return "(matrix values unknown)"
    return " ".join(f"{k}={_value_text(v)}" for k, v in _flat(matrix))


def diff_lines(
    plan: Plan,
    changes: PlanDiff,
    credits: Mapping[str, int | None],
    *,
    terminal: bool,
) -> list[str]:
    """The three sections of ``plan --diff``: to render, already rendered, no longer in the
    recipe; each job on a line: its key's first 12 digits (the ``{{ job }}`` of output paths),
    stage, matrix values, credits, and prompt (or the upstream output it transforms)."""
    by_key = {job.key: job for job in plan.jobs}
    width = shutil.get_terminal_size().columns if terminal else None
    shown = SHOWN if terminal else None

    def planned(keys: frozenset[str]) -> list[tuple[str, ...]]:
        return [_job_cells(j, credits, by_key) for j in plan.jobs if j.key in keys]

    sections = [
        ("To render", "+", planned(changes.new)),
        ("Already rendered", "=", planned(changes.done)),
        ("No longer in the recipe", "-", [_removed_cells(r) for r in changes.removed_jobs]),
    ]
    lines: list[str] = []
    for title, mark, rows in sections:
        lines.append(f"{title} ({len(rows):,}):" if rows else f"{title}: none")
        lines.extend(_aligned(mark, rows[:shown], width))
        if shown is not None and len(rows) > shown:
            lines.append(f"  ... and {len(rows) - shown:,} more (--json lists them all)")
    return lines


def diff_json(
    plan: Plan, changes: PlanDiff, credits: Mapping[str, int | None]
) -> dict[str, list[dict[str, Any]]]:
    """``"diff_jobs"`` of ``plan --diff --json``: every job of each section, prompts whole."""
    by_key = {job.key: job for job in plan.jobs}

    def planned(keys: frozenset[str]) -> list[dict[str, Any]]:
        return [_job_json(j, credits, by_key) for j in plan.jobs if j.key in keys]

    return {
        "new": planned(changes.new),
        "done": planned(changes.done),
        "removed": [_removed_json(r) for r in changes.removed_jobs],
    }


def _job_json(job: Job, credits: Mapping[str, int | None], by_key: Mapping[str, Job]) -> Any:
    upstream = None
    if job.upstream is not None:
        parent = by_key.get(job.upstream.key)
        upstream = {
            "key": job.upstream.key,
            "stage": parent.stage if parent is not None else None,
            "output": job.upstream.output,
        }
    return {
        "key": job.key,
        "stage": job.stage,
        "kind": job.kind,
        "model": job.model,
        "matrix": dict(job.matrix),
        "prompt": job.prompt,
        "credits": credits.get(job.key),
        "upstream": upstream,
    }


def _removed_json(job: RemovedJob) -> dict[str, Any]:
    return job.to_json() | {"files": sum(1 for out in job.outputs if out.downloaded)}


def _job_cells(
    job: Job, credits: Mapping[str, int | None], by_key: Mapping[str, Job]
) -> tuple[str, ...]:
    price = credits.get(job.key)
    what = job.prompt
    if what is None and job.upstream is not None:
        parent = by_key.get(job.upstream.key)
        stage = parent.stage if parent is not None else "?"
        what = f"(from {stage} {job.upstream.key[:12]} output {job.upstream.output})"
    cost = "unknown" if price is None else f"{price:,} credits"
    return (job.key[:12], job.stage, matrix_text(job.matrix), cost, what or "")


def _removed_cells(job: RemovedJob) -> tuple[str, ...]:
    files = sum(1 for out in job.outputs if out.downloaded)
    status = f"{job.status}, {files} file{'s' if files != 1 else ''}"
    if job.in_flight:
        status += ", in flight"
    charged = job.credits_charged
    cost = f"{charged:,} credits charged" if charged is not None else "nothing charged"
    prompt = job.prompt or ""
    return (job.key[:12], job.stage, matrix_text(job.matrix), f"{status}; {cost}", prompt)


def _aligned(mark: str, rows: list[tuple[str, ...]], width: int | None) -> Iterable[str]:
    """Rows as lines, every column but the last padded to its widest cell."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        line = f"  {mark} " + "  ".join([*cells, row[-1]]).rstrip()
        if width is not None and len(line) > width:
            line = line[: max(width - 3, 0)] + "..."
        lines.append(line)
    return lines


def _flat(matrix: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in matrix.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _value_text(value: Any) -> str:
    """A matrix value as typed on a command line (YAML's spelling of booleans); ``-`` if none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_value_text(v)}" for k, v in _flat(value))
    return str(value)
