"""``leobatch report``: a static HTML report and contact sheets of what a run rendered.

Derived from ``<output.dir>/manifest.json`` and the files beside it, never from the network
(DESIGN section 1). The report goes to ``<output.dir>/report/`` (or any folder of its own):
``index.html`` (totals, stages, a per-model summary, failed jobs), one page per stage laid out as
grids along the matrix axes (:mod:`~leobatch.report.layout`), ``assets/`` (CSS and JS),
``thumbs/`` (one thumbnail per file content, :mod:`~leobatch.report.thumbs`) and, with
``sheets=True``, ``sheets/`` (:mod:`~leobatch.report.sheets`). Every link is relative.

Rebuilding is incremental: thumbnails are made once per sha256, and a page or sheet is written
only when its bytes change, so a rebuild with nothing new writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leobatch.errors import ReportError
from leobatch.report.files import check_report_dir, write_if_changed
from leobatch.report.html import ASSETS, StageSummary, asset, render_index, render_stage
from leobatch.report.layout import Credits, Page, lay_out, varying_axes
from leobatch.report.model import JobEntry, Manifest, read_manifest
from leobatch.report.sheets import SHEET_MAX_PX, Sheet, build_sheets
from leobatch.report.source import ReportSource, resolve_source
from leobatch.report.thumbs import Source, make_thumbs
from leobatch.report.views import Linker, stage_file

__all__ = [
    "SHEET_MAX_PX",
    "ReportResult",
    "ReportSource",
    "Sheet",
    "build_report",
    "resolve_source",
]

#: Failed jobs listed on the index page (each links to its cell).
FAILURES_SHOWN = 50


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What a build produced: the index, counts, and how much it had to (re)write."""

    index: Path
    stages: int
    jobs: int
    outputs: int
    cells: int
    credits: Credits
    pages_written: int
    thumbs_made: int
    sheets: tuple[Sheet, ...] = ()
    sheets_drawn: int = 0
    files: dict[str, str] = field(default_factory=dict)


def build_report(
    output_dir: Path,
    *,
    report_dir: Path | None = None,
    rows: str | None = None,
    cols: str | None = None,
    stage: str | None = None,
    select: Collection[str] | None = None,
    sheets: bool = False,
    sheet_max_px: int = SHEET_MAX_PX,
    order: Mapping[str, Sequence[Any]] | None = None,
    recipe_dir: Path | None = None,
) -> ReportResult:
    """Build the report of the run in ``output_dir``.

    ``select`` is the set of job keys to show (default: all); ``stage`` keeps one stage;
    ``rows``/``cols`` name the axes of the grids (default: the two with the most values);
    ``order`` is the recipe's order of each axis's values. ``recipe_dir`` is the recipe's
    folder, which the report refuses to be written into directly.
    """
    output_dir = Path(output_dir).resolve()
    manifest = read_manifest(output_dir / "manifest.json")
    target = check_report_dir(
        report_dir if report_dir is not None else output_dir / "report",
        output_dir=output_dir,
        recipe_dir=recipe_dir,
    )
    jobs = _selected(manifest, select, stage)
    by_stage: dict[str, list[JobEntry]] = {}
    for job in jobs:
        by_stage.setdefault(job.stage, []).append(job)
    _check_axes(by_stage, rows, cols)
    pages = [
        lay_out(
            name,
            stage_jobs,
            rows=rows if rows in varying_axes(stage_jobs) else None,
            cols=cols if cols in varying_axes(stage_jobs) else None,
            order=order,
        )
        for name, stage_jobs in by_stage.items()
    ]
    taken = {"index.html"}
    page_files = {page.stage: stage_file(page.stage, taken) for page in pages}
    present = _present(jobs, output_dir, manifest.roots)
    thumbs, made = make_thumbs(_sources(jobs, output_dir, present), target / "thumbs")
    linker = Linker(
        jobs,
        page_files,
        thumbs,
        output_dir=output_dir,
        report_dir=target,
        recipe_file=manifest.recipe_file,
        present=present,
    )
    title = f"{manifest.recipe_name}: leobatch report"
    stage_sheets: dict[str, list[Sheet]] = {}
    drawn = 0
    if sheets:
        stems = [(page, page_files[page.stage].removesuffix(".html")) for page in pages]
        stage_sheets, drawn = build_sheets(
            stems, linker, target, title=manifest.recipe_name, max_px=sheet_max_px
        )
    nav = [("index.html", "overview"), *((page_files[p.stage], p.stage) for p in pages)]
    written = sum(write_if_changed(target / "assets" / name, asset(name)) for name in ASSETS)
    cells = 0
    for page in pages:
        text = render_stage(
            page,
            linker,
            title=f"{page.stage}: {title}",
            nav=nav,
            current=page_files[page.stage],
            sheets=[s.file for s in stage_sheets.get(page.stage, ())],
        )
        cells += sum(max(1, len(job.outputs)) for job in page.jobs)
        written += write_if_changed(target / page_files[page.stage], text.encode())
    index = render_index(
        title=title,
        nav=nav,
        stages=[_summary(page, page_files[page.stage], stage_sheets) for page in pages],
        jobs=jobs,
        failures=[
            (job, f"{page_files[job.stage]}#{job.anchor}") for job in jobs if job.status == "failed"
        ][:FAILURES_SHOWN],
    )
    written += write_if_changed(target / "index.html", index.encode())
    return ReportResult(
        index=target / "index.html",
        stages=len(pages),
        jobs=len(jobs),
        outputs=sum(len(job.outputs) for job in jobs),
        cells=cells,
        credits=Credits.of(jobs),
        pages_written=written,
        thumbs_made=made,
        sheets=tuple(s for group in stage_sheets.values() for s in group),
        sheets_drawn=drawn,
        files=dict(page_files),
    )


def _selected(
    manifest: Manifest, select: Collection[str] | None, stage: str | None
) -> list[JobEntry]:
    if stage is not None and stage not in manifest.stages:
        have = ", ".join(manifest.stages) or "none"
        raise ReportError(f"--stage: no stage {stage!r} in {manifest.path} (its stages: {have})")
    keys = set(select) if select is not None else None
    return [
        job
        for job in manifest.jobs
        if (keys is None or job.key in keys) and (stage is None or job.stage == stage)
    ]


def _check_axes(by_stage: Mapping[str, list[JobEntry]], rows: str | None, cols: str | None) -> None:
    """An axis named on the command line must vary in at least one stage shown."""
    if rows is not None and rows == cols:
        raise ReportError(f"--rows and --cols name the same axis {rows!r}")
    varying = {name: varying_axes(jobs) for name, jobs in by_stage.items()}
    for flag, axis in (("--rows", rows), ("--cols", cols)):
        if axis is not None and not any(axis in axes for axes in varying.values()):
            have = sorted({a for axes in varying.values() for a in axes})
            raise ReportError(
                f"{flag}: no stage has an axis {axis!r} with more than one value "
                f"(axes that vary: {', '.join(have) or 'none'})"
            )


def _inside(path: str, roots: Sequence[str] = ()) -> bool:
    """Whether a manifest's output path stays inside the output folder, or inside one of a
    merged manifest's shard folders ``roots`` (never read elsewhere)."""
    norm = os.path.normpath(path)
    if Path(norm).is_absolute():
        return False
    if not (norm == ".." or norm.startswith(".." + os.sep)):
        return True
    folders = (os.path.normpath(root) for root in roots)
    return any(norm.startswith(folder + os.sep) for folder in folders)


def _present(
    jobs: Sequence[JobEntry], output_dir: Path, roots: Sequence[str] = ()
) -> dict[str, bool]:
    return {
        out.path: _inside(out.path, roots) and (output_dir / out.path).is_file()
        for job in jobs
        for out in job.outputs
    }


def _sources(
    jobs: Sequence[JobEntry], output_dir: Path, present: Mapping[str, bool]
) -> list[Source]:
    return [
        Source(out.sha256, output_dir / out.path, out.is_video)
        for job in jobs
        for out in job.outputs
        if out.sha256 is not None
        and out.media_type.startswith(("image/", "video/"))
        and present[out.path]
    ]


def _summary(page: Page, file: str, sheets: Mapping[str, list[Sheet]]) -> StageSummary:
    return StageSummary(
        name=page.stage,
        kind=page.kind,
        file=file,
        jobs=len(page.jobs),
        outputs=sum(len(job.outputs) for job in page.jobs),
        complete=sum(job.status == "complete" for job in page.jobs),
        failed=sum(job.status == "failed" for job in page.jobs),
        pending=sum(job.status not in ("complete", "failed") for job in page.jobs),
        credits=page.total,
        sheets=tuple(s.file for s in sheets.get(page.stage, ())),
    )
