"""What ``leobatch plan`` shows: jobs, outputs and credits per stage, per model, and (``--by``)
per combination of any matrix axes' values.

A job whose price is unknown is counted as unknown, never as 0 credits.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from leobatch.plan.jobs import Job, Plan
from leobatch.plan.select import SelectionError
from leobatch.pricing.priced import PricedPlan

__all__ = ["Breakdown", "ByRow", "Diff", "PlanSummary", "Row", "breakdown", "summarise"]

#: How each price source is labelled for people.
SOURCE_LABELS = {
    "rate-card": "estimate: built-in rate card",
    "calculator": "Leonardo pricing calculator",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One stage or one model: jobs, outputs, credits of priced jobs, jobs with no price."""

    name: str
    kind: str
    jobs: int
    outputs: int
    credits: int
    unknown_jobs: int
    usd: Decimal = Decimal(0)  # jobs priced in dollars (not counted in ``credits``)
    usd_jobs: int = 0

    @property
    def credits_or_none(self) -> int | None:
        """Credits, or None when no job of the row has a known price in credits."""
        if self.jobs and self.unknown_jobs + self.usd_jobs == self.jobs:
            return None
        return self.credits


@dataclass(frozen=True, slots=True)
class Diff:
    """Jobs to render, already rendered, and no longer in the recipe (``terraform plan``)."""

    new: int
    done: int = 0
    removed: int = 0
    in_flight: int = 0  # sent by a run that was killed: paid, not to render again


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """A priced plan, summed up for display."""

    recipe: str
    jobs: int
    outputs: int
    price_classes: int
    credits: int
    source: str
    unknown_jobs: int
    stages: tuple[Row, ...]
    models: tuple[Row, ...]
    diff: Diff
    balance: int | None
    budget: int | None
    by: Breakdown | None = None
    usd: Decimal = Decimal(0)  # jobs priced in US dollars, never added to ``credits``
    usd_jobs: int = 0
    budget_usd: Decimal | None = None
    balance_usd: Decimal | None = None
    #: where prices other than the calculator's came from: label -> jobs
    labels: Mapping[str, int] = field(default_factory=dict)

    @property
    def source_label(self) -> str:
        """The price source in words, e.g. ``estimate: built-in rate card``."""
        return SOURCE_LABELS.get(self.source, self.source)

    @property
    def over_budget(self) -> bool:
        """Whether the known credits pass the recipe's budget."""
        return self.budget is not None and self.credits > self.budget

    @property
    def over_budget_usd(self) -> bool:
        """Whether the known dollars pass the recipe's ``budget.max_usd``."""
        return self.budget_usd is not None and self.usd > self.budget_usd

    def cost_json(self) -> dict[str, Any]:
        """Per unit, the known total and the jobs it covers; never one unit added to another."""
        return {
            "CREDITS": {
                "total": self.credits,
                "jobs": self.jobs - self.unknown_jobs - self.usd_jobs,
            },
            "DOLLARS": {"total": str(self.usd), "jobs": self.usd_jobs},
            "unknown_jobs": self.unknown_jobs,
        }

    def to_json(self) -> dict[str, Any]:
        """The ``plan --json`` object of DESIGN section 7, plus ``"by"`` with ``--by``."""
        data = {
            "recipe": self.recipe,
            "jobs": self.jobs,
            "outputs": self.outputs,
            "price_classes": self.price_classes,
            "credits": {
                "total": self.credits,
                "source": self.source,
                "unknown_jobs": self.unknown_jobs,
            },
            "stages": [
                {
                    "name": row.name,
                    "kind": row.kind,
                    "jobs": row.jobs,
                    "outputs": row.outputs,
                    "credits": row.credits_or_none,
                }
                for row in self.stages
            ],
            "diff": {
                "new": self.diff.new,
                "done": self.diff.done,
                "removed": self.diff.removed,
                "in_flight": self.diff.in_flight,
            },
            "balance": self.balance,
            "budget": self.budget,
            "cost": self.cost_json(),
            "budget_usd": None if self.budget_usd is None else str(self.budget_usd),
            "balance_usd": None if self.balance_usd is None else str(self.balance_usd),
            "price_sources": dict(self.labels),
        }
        if self.by is not None:
            data["by"] = self.by.to_json()
        return data


def summarise(
    priced: PricedPlan,
    *,
    diff: Diff | None = None,
    balance: int | None = None,
    by: tuple[str, ...] = (),
    balance_usd: Decimal | None = None,
) -> PlanSummary:
    """Sum a priced plan by stage (in recipe order) and by model (by credits, then name);
    jobs priced in dollars are summed apart."""
    plan = priced.plan
    stages: dict[str, list[Any]] = {name: [0, 0, 0, 0, Decimal(0), 0] for name in plan.stages}
    kinds: dict[str, str] = dict(plan.stage_kinds)
    models: dict[str, list[Any]] = {}
    labels: dict[str, int] = {}
    for job in plan.jobs:
        price = priced.credits.get(job.key)
        usd = priced.usd.get(job.key) if price is None else None
        if (label := priced.labels.get(job.key)) is not None:
            labels[label] = labels.get(label, 0) + 1
        kinds.setdefault(job.stage, job.kind)
        model = job.model or f"({job.kind})"
        kinds.setdefault(model, job.kind)
        for table, name in ((stages, job.stage), (models, model)):
            row = table.setdefault(name, [0, 0, 0, 0, Decimal(0), 0])
            row[0] += 1
            row[1] += job.outputs
            if usd is not None:
                row[4] += usd
                row[5] += 1
            elif price is None:
                row[3] += 1
            else:
                row[2] += price
    stage_rows = tuple(Row(n, kinds.get(n, ""), *v) for n, v in stages.items())
    model_rows = tuple(
        sorted(
            (Row(n, kinds[n], *v) for n, v in models.items()),
            key=lambda r: (-r.credits, r.name),
        )
    )
    return PlanSummary(
        recipe=plan.recipe_name,
        jobs=len(plan.jobs),
        outputs=plan.outputs,
        price_classes=priced.price_classes,
        credits=priced.total,
        source=priced.source,
        unknown_jobs=priced.unknown_jobs,
        stages=stage_rows,
        models=model_rows,
        diff=diff or Diff(new=len(plan.jobs)),
        balance=balance,
        budget=plan.budget_credits,
        by=breakdown(priced, by) if by else None,
        usd=priced.total_usd,
        usd_jobs=sum(1 for k, c in priced.credits.items() if c is None and k in priced.usd),
        budget_usd=plan.budget_usd,
        balance_usd=balance_usd,
        labels=labels,
    )


@dataclass(frozen=True, slots=True)
class ByRow:
    """One combination of the ``--by`` axes' values (``None``: the job has no such value)."""

    values: tuple[Any, ...]
    jobs: int
    outputs: int
    credits: int
    unknown_jobs: int

    @property
    def credits_or_none(self) -> int | None:
        """Credits, or None when no job of the row has a known price."""
        return None if self.jobs and self.unknown_jobs == self.jobs else self.credits


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Jobs, outputs and credits per combination of ``axes`` present in the plan, in the order
    the plan first yields each combination; the rows add up to the plan's totals."""

    axes: tuple[str, ...]
    rows: tuple[ByRow, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"axes": [...], "rows": [{"values", "jobs", "outputs", "credits", "unknown_jobs"}]}``
        (``credits`` is null when no job of the row has a known price)."""
        return {
            "axes": list(self.axes),
            "rows": [
                {
                    "values": dict(zip(self.axes, row.values, strict=True)),
                    "jobs": row.jobs,
                    "outputs": row.outputs,
                    "credits": row.credits_or_none,
                    "unknown_jobs": row.unknown_jobs,
                }
                for row in self.rows
            ],
        }


def axes_of(plan: Plan) -> tuple[str, ...]:
    """What ``--by`` accepts: ``stage`` and every matrix axis of the plan's jobs, in order."""
    seen: dict[str, None] = {"stage": None}
    for job in plan.jobs:
        seen.update(dict.fromkeys(job.matrix))
    return tuple(seen)


def breakdown(priced: PricedPlan, axes: tuple[str, ...]) -> Breakdown:
    """Sum ``priced`` per combination of ``axes`` (``stage``, matrix axes, or dotted paths into
    a mapping axis: ``shot.name``); :class:`SelectionError` for an axis no job has."""
    plan = priced.plan
    known = axes_of(plan)
    for axis in axes:
        if axis.split(".")[0] not in known:
            raise SelectionError(_unknown_axis(axis, known))
    paths = [() if axis == "stage" else tuple(axis.split(".")) for axis in axes]
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for job in plan.jobs:
        values = tuple(_value(job, path) for path in paths)
        # The type too: 1, 1.0 and true are equal in Python, not as matrix values.
        cell = tuple((type(v), v) if isinstance(v, Hashable) else _frozen(v) for v in values)
        row = sums.setdefault(cell, [values, 0, 0, 0, 0])
        price = priced.credits.get(job.key)
        row[1] += 1
        row[2] += job.outputs
        if price is None:
            row[4] += 1
        else:
            row[3] += price
    return Breakdown(axes, tuple(ByRow(*row) for row in sums.values()))


def _frozen(value: Any) -> str:
    """A mapping or list value as a key (axis values are scalars, mappings or lists)."""
    return json.dumps(value, sort_keys=True, default=str)


def _value(job: Job, path: tuple[str, ...]) -> Any:
    """The job's value at ``path`` into its matrix (``()``: its stage); ``None`` if it has none."""
    if not path:
        return job.stage
    value: Any = job.matrix
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _unknown_axis(axis: str, known: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(axis, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"--by {axis!r}: no such axis{hint} (known: {', '.join(known)})"
