"""The report's HTML: an index page and one page per stage, from Jinja2 templates.

The environment autoescapes everything: prompts, errors and axis values are user text, and a
prompt holding ``<script>`` must show as text, never run. The pages' script reads the DOM with
``textContent`` only, for the same reason. CSS and JS are files under ``assets/`` with relative
links: no CDN, nothing fetched, the report works from ``file://``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import jinja2

from leobatch.report.layout import Credits, Page
from leobatch.report.model import JobEntry, label
from leobatch.report.views import CellView, Linker, credits_text

__all__ = ["ASSETS", "StageSummary", "render_index", "render_stage"]

#: Files copied under ``<report>/assets/``.
ASSETS = ("report.css", "report.js")


@dataclass(frozen=True, slots=True)
class StageSummary:
    """One stage's line on the index page."""

    name: str
    kind: str
    file: str
    jobs: int
    outputs: int
    complete: int
    failed: int
    pending: int
    credits: Credits
    sheets: tuple[str, ...]


_env: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The one autoescaping environment (templates ship inside the package)."""
    global _env  # built on first use: importing this module stays cheap
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.PackageLoader("leobatch.report", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _env.filters["credits"] = credits_text
        _env.filters["label"] = label
    return _env


def asset(name: str) -> bytes:
    """The bytes of one file of ``assets/``."""
    return files("leobatch.report").joinpath("static").joinpath(name).read_bytes()


def render_stage(
    page: Page,
    linker: Linker,
    *,
    title: str,
    nav: Sequence[tuple[str, str]],
    current: str,
    sheets: Sequence[str],
) -> str:
    """The page of one stage: each section a grid of cells with row, column and page totals."""
    sections = [
        {
            "grid": grid,
            "rows": [
                (row, [_slot_cells(linker, slot, page.axes) for slot in slots], total)
                for row, slots, total in zip(grid.rows, grid.slots, grid.row_totals, strict=True)
            ],
        }
        for grid in page.sections
    ]
    return (
        environment()
        .get_template("stage.html.j2")
        .render(
            title=title,
            nav=nav,
            current=current,
            page=page,
            sections=sections,
            cells=sum(max(1, len(job.outputs)) for job in page.jobs),
            outputs=sum(len(job.outputs) for job in page.jobs),
            sheets=sheets,
        )
    )


def _drift(jobs: Sequence[JobEntry]) -> list[dict[str, Any]]:
    """Charged against estimated per model and price class (issue #12), as ``status`` shows."""
    from decimal import Decimal

    from leobatch.run.drift import Charge, drift_of

    charges = (
        Charge(j.kind, j.model, j.request, "CREDITS",
               None if j.credits_estimated is None else Decimal(j.credits_estimated),
               Decimal(j.credits_charged))
        for j in jobs
        if j.credits_charged is not None
    )  # fmt: skip
    return [row.to_json() for row in drift_of(charges)]


def _slot_cells(linker: Linker, slot: Sequence[JobEntry], axes: Sequence[str]) -> list[CellView]:
    return [cell for job in slot for cell in linker.cells(job, axes)]


def render_index(
    *,
    title: str,
    nav: Sequence[tuple[str, str]],
    stages: Sequence[StageSummary],
    jobs: Sequence[JobEntry],
    failures: Sequence[tuple[JobEntry, str]],
) -> str:
    """The index: totals, one line per stage, a per-model summary and the failed jobs."""
    models: dict[tuple[str, str], list[JobEntry]] = {}
    for job in jobs:
        models.setdefault((job.stage, job.model or "-"), []).append(job)
    model_rows = [
        {
            "stage": stage,
            "model": model,
            "jobs": len(group),
            "outputs": sum(len(j.outputs) for j in group),
            "complete": sum(j.status == "complete" for j in group),
            "failed": sum(j.status == "failed" for j in group),
            "credits": Credits.of(group),
        }
        for (stage, model), group in models.items()
    ]
    total = Credits.of(jobs)
    return (
        environment()
        .get_template("index.html.j2")
        .render(
            title=title,
            nav=nav,
            current="index.html",
            stages=stages,
            models=model_rows,
            failures=failures,
            total=total,
            drift=total.charged - sum(j.credits_estimated or 0 for j in jobs if j.credits_charged),
            drift_rows=_drift(jobs),
            counts={
                "jobs": len(jobs),
                "outputs": sum(len(j.outputs) for j in jobs),
                "complete": sum(j.status == "complete" for j in jobs),
                "failed": sum(j.status == "failed" for j in jobs),
                "pending": sum(j.status not in ("complete", "failed") for j in jobs),
            },
        )
    )
