"""The axis grid: which matrix axes a stage's page lays out as rows, columns and sections.

Pure functions over :class:`~leobatch.report.model.JobEntry` values. An axis *varies* in a stage
when its jobs carry more than one value of it; axes with one value are the page's constants. By
default the axis with the most values runs along the columns, the next along the rows, and every
further axis splits the page into sections (Infinity Grid's super-axes), one per combination.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from leobatch.errors import ReportError
from leobatch.report.model import MISSING, JobEntry, canonical, label

__all__ = ["Credits", "Grid", "Page", "lay_out", "stage_axes", "varying_axes"]


@dataclass(frozen=True, slots=True)
class Credits:
    """Credits of a set of jobs: charged, estimated, and how many jobs had no estimate."""

    charged: int = 0
    estimated: int = 0
    unknown: int = 0

    @staticmethod
    def of(jobs: Iterable[JobEntry]) -> Credits:
        """The credits of ``jobs``, each counted once."""
        charged = estimated = unknown = 0
        for job in jobs:
            charged += job.credits_charged or 0
            if job.credits_estimated is None:
                unknown += 1
            else:
                estimated += job.credits_estimated
        return Credits(charged, estimated, unknown)


@dataclass(frozen=True, slots=True)
class Grid:
    """One section of a page: ``slots[r][c]`` holds the jobs at row ``r``, column ``c``."""

    title: tuple[tuple[str, str], ...]
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    slots: tuple[tuple[tuple[JobEntry, ...], ...], ...]
    row_totals: tuple[Credits, ...]
    col_totals: tuple[Credits, ...]
    total: Credits


@dataclass(frozen=True, slots=True)
class Page:
    """A stage laid out: its axes, its constant axis values, its sections and totals."""

    stage: str
    kind: str
    row_axis: str | None
    col_axis: str | None
    section_axes: tuple[str, ...]
    axes: tuple[str, ...]
    constants: tuple[tuple[str, str], ...]
    sections: tuple[Grid, ...]
    jobs: tuple[JobEntry, ...]
    total: Credits


def stage_axes(jobs: Sequence[JobEntry]) -> dict[str, dict[str, Any]]:
    """Every matrix axis of ``jobs`` (in the order the jobs carry them) -> canonical value ->
    value, in order of first appearance."""
    axes: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for axis, value in job.matrix.items():
            axes.setdefault(axis, {}).setdefault(canonical(value), value)
    return axes


def varying_axes(jobs: Sequence[JobEntry]) -> list[str]:
    """The axes of ``jobs`` that take more than one value (a job that does not carry an axis,
    from an ``include`` entry, counts as one more value of it)."""
    return [
        a for a, values in stage_axes(jobs).items() if len(values) > 1 or _sometimes_absent(a, jobs)
    ]


def lay_out(
    stage: str,
    jobs: Sequence[JobEntry],
    *,
    rows: str | None = None,
    cols: str | None = None,
    order: Mapping[str, Sequence[Any]] | None = None,
) -> Page:
    """Lay out one stage's ``jobs`` along its axes.

    ``rows``/``cols`` name the axes to use (each must vary in this stage, else
    :class:`ReportError`); by default the two axes with the most values. ``order`` gives the
    recipe's order of each axis's values; values it does not list are sorted naturally.
    """
    axes = stage_axes(jobs)
    varying = varying_axes(jobs)
    for flag, name in (("--rows", rows), ("--cols", cols)):
        if name is not None and name not in varying:
            have = ", ".join(varying) or "none"
            raise ReportError(
                f"{flag}: stage {stage} has no axis {name!r} with more than one value "
                f"(its axes that vary: {have})"
            )
    if rows is not None and rows == cols:
        raise ReportError(f"--rows and --cols name the same axis {rows!r}")
    by_size = sorted(varying, key=lambda a: (-len(axes[a]), varying.index(a)))
    rest = [a for a in by_size if a not in (rows, cols)]
    col_axis = cols if cols is not None else (rest.pop(0) if rest else None)
    row_axis = rows if rows is not None else (rest.pop(0) if rest else None)
    section_axes = tuple(a for a in varying if a not in (row_axis, col_axis))
    values = {a: _ordered(a, axes[a], jobs, order or {}) for a in varying}
    constants = tuple(
        (a, label(next(iter(vals.values())))) for a, vals in axes.items() if a not in varying
    )
    sections = _sections(jobs, row_axis, col_axis, section_axes, values)
    return Page(
        stage=stage,
        kind=jobs[0].kind if jobs else "",
        row_axis=row_axis,
        col_axis=col_axis,
        section_axes=section_axes,
        axes=tuple(varying),
        constants=constants,
        sections=sections,
        jobs=tuple(jobs),
        total=Credits.of(jobs),
    )


def _sometimes_absent(axis: str, jobs: Sequence[JobEntry]) -> bool:
    return any(axis not in job.matrix for job in jobs)


def _coordinate(job: JobEntry, axis: str | None) -> str:
    if axis is None:
        return ""
    return canonical(job.matrix[axis]) if axis in job.matrix else MISSING


def _ordered(
    axis: str, values: Mapping[str, Any], jobs: Sequence[JobEntry], order: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(canonical, label) of an axis's values: the recipe's order, then the rest naturally."""
    rank = {canonical(v): n for n, v in enumerate(order.get(axis, ()))}
    keyed = sorted(
        values.items(),
        key=lambda kv: (rank.get(kv[0], len(rank)), _natural(kv[1])),
    )
    out = [(key, label(value)) for key, value in keyed]
    if _sometimes_absent(axis, jobs):
        out.append((MISSING, MISSING))
    return out


def _natural(value: Any) -> tuple[int, float, str]:
    """Numbers before text, numbers by value, text case-insensitively."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, label(value).casefold())


def _sections(
    jobs: Sequence[JobEntry],
    row_axis: str | None,
    col_axis: str | None,
    section_axes: tuple[str, ...],
    values: Mapping[str, list[tuple[str, str]]],
) -> tuple[Grid, ...]:
    buckets: dict[tuple[str, ...], dict[tuple[str, str], list[JobEntry]]] = {}
    for job in jobs:
        where = tuple(_coordinate(job, a) for a in section_axes)
        slot = (_coordinate(job, row_axis), _coordinate(job, col_axis))
        buckets.setdefault(where, {}).setdefault(slot, []).append(job)
    row_values = values[row_axis] if row_axis is not None else [("", "")]
    col_values = values[col_axis] if col_axis is not None else [("", "")]
    grids: list[Grid] = []
    for combo in product(*(values[a] for a in section_axes)):
        where = tuple(key for key, _ in combo)
        bucket = buckets.get(where)
        if bucket is None:  # a combination the matrix left out (exclude): no section
            continue
        slots = tuple(
            tuple(tuple(sorted(bucket.get((r, c), ()), key=_cell_order)) for c, _ in col_values)
            for r, _ in row_values
        )
        grids.append(
            Grid(
                title=tuple((a, lab) for a, (_, lab) in zip(section_axes, combo, strict=True)),
                rows=tuple(lab for _, lab in row_values),
                cols=tuple(lab for _, lab in col_values),
                slots=slots,
                row_totals=tuple(Credits.of(j for slot in row for j in slot) for row in slots),
                col_totals=tuple(
                    Credits.of(j for row in slots for j in row[c]) for c in range(len(col_values))
                ),
                total=Credits.of(j for row in slots for slot in row for j in slot),
            )
        )
    return tuple(grids)


def _cell_order(job: JobEntry) -> tuple[int, str]:
    """Within a slot: downstream jobs by the upstream output they came from, then key."""
    return (job.upstream[1] if job.upstream is not None else 0, job.key)
