"""What each cell of a page shows, computed once in Python so the templates stay plain.

A *cell* is one output file of a job, or, for a job without outputs (failed, pending), one
placeholder saying why. Links are relative to the report folder, so the report works from
``file://`` and from any static host that serves the output folder with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leobatch.report.layout import Credits
from leobatch.report.model import PENDING_WORDS, JobEntry, OutputFile, cell_id, label, rerun_command
from leobatch.report.thumbs import Thumb

__all__ = ["CellView", "Link", "Linker", "credits_text", "stage_file"]


@dataclass(frozen=True, slots=True)
class Link:
    """A link to another cell: where, and what it says."""

    href: str
    text: str


@dataclass(frozen=True, slots=True)
class CellView:
    """Everything one cell shows. ``media`` is ``"image"``, ``"video"`` or ``""`` (no file)."""

    id: str
    status: str
    media: str
    thumb: str
    full: str
    message: str
    prompt: str
    values: tuple[tuple[str, str], ...]
    credits: str
    details: tuple[tuple[str, str], ...]
    upstream: Link | None
    downstream: tuple[Link, ...]
    command: str


def stage_file(stage: str, taken: set[str]) -> str:
    """A file name for a stage's page: the name made safe, unique among ``taken``."""
    base = "stage-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", stage).strip(".-") or "stage")
    name, n = f"{base}.html", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.html"
    taken.add(name)
    return name


def credits_text(credits: Credits) -> str:
    """A total: credits charged, and what was estimated when it differs."""
    text = f"{credits.charged:,} charged"
    estimate = f"{credits.estimated:,}" + (
        f" + {credits.unknown} unknown" if credits.unknown else ""
    )
    return text if estimate == f"{credits.charged:,}" else f"{text} · est. {estimate}"


def _job_credits(job: JobEntry) -> str:
    est = job.credits_estimated
    est_text = "est. unknown" if est is None else f"est. {est:,}"
    if job.credits_charged is None:
        return f"not charged · {est_text}" if job.status == "failed" else est_text
    charged = f"{job.credits_charged:,} credits"
    if est is None:
        return f"{charged} · {est_text}"
    drift = job.credits_charged - est
    return charged if drift == 0 else f"{charged} · {est_text} ({drift:+,})"


class Linker:
    """Builds cell views for one report: knows every selected job's page, the thumbnails, and
    where the output folder lies relative to the report."""

    def __init__(
        self,
        jobs: Sequence[JobEntry],
        pages: Mapping[str, str],
        thumbs: Mapping[str, Thumb],
        *,
        output_dir: Path,
        report_dir: Path,
        recipe_file: str,
        present: Mapping[str, bool],
    ) -> None:
        self._jobs = {job.key: job for job in jobs}
        self._pages = pages
        self._thumbs = thumbs
        self._present = present
        self._recipe_file = recipe_file
        self._to_output = Path(os.path.relpath(output_dir, report_dir)).as_posix()
        self._downstream: dict[tuple[str, int], list[JobEntry]] = {}
        for job in jobs:
            if job.upstream is not None:
                self._downstream.setdefault(job.upstream, []).append(job)

    def cells(self, job: JobEntry, axes: Sequence[str]) -> list[CellView]:
        """The cells of ``job``: one per output, or one placeholder."""
        if not job.outputs:
            return [self._cell(job, None, axes)]
        return [self._cell(job, out, axes) for out in job.outputs]

    def _href(self, job: JobEntry, index: int | None) -> str:
        return f"{self._pages[job.stage]}#{cell_id(job.key, index)}"

    def _cell(self, job: JobEntry, out: OutputFile | None, axes: Sequence[str]) -> CellView:
        media, thumb, full, message = "", "", "", ""
        status = job.status if job.status in ("complete", "failed") else "pending"
        if out is None:
            if job.status == "failed":
                message = f"failed: {job.error or 'no error recorded'}"
            elif job.status == "complete":
                message = "complete, with no output file"
            elif (blocker := self._failed_upstream(job)) is not None:
                status, message = (
                    "blocked",
                    f"not rendered: its upstream {blocker.stage} job failed",
                )
            else:
                message = PENDING_WORDS.get(job.status, f"pending: {job.status}")
        else:
            full = f"{self._to_output}/{out.path}" if self._to_output != "." else out.path
            shown = self._thumbs.get(out.sha256 or "")
            if not self._present.get(out.path, False):
                status, message = "missing", f"file missing: {out.path}"
            elif shown is None or shown.name is None:
                status = "unshowable"
                message = shown.error if shown is not None and shown.error else "cannot be shown"
            else:
                media = "video" if out.is_video else "image"
                thumb = f"thumbs/{shown.name}"
        values = [(a, label(job.matrix[a])) for a in axes if a in job.matrix]
        shown_axes = {a for a, _ in values}
        lead = [
            (name, label(value))
            for name, value in (("model", job.model), ("style", job.style), ("seed", job.seed))
            if value is not None and name not in shown_axes
        ]
        details = [("stage", job.stage), ("kind", job.kind), ("status", job.status)]
        details += [(a, label(v)) for a, v in job.matrix.items()]
        details += [("key", job.key[:16])]
        if out is not None:
            details.append(("output", f"{out.index + 1} of {len(job.outputs)}"))
        return CellView(
            id=cell_id(job.key, out.index if out is not None else None),
            status=status,
            media=media,
            thumb=thumb,
            full=full,
            message=message,
            prompt=job.prompt or "",
            values=tuple(lead + values),
            credits=_job_credits(job),
            details=tuple(details),
            upstream=self._upstream_link(job),
            downstream=self._downstream_links(job, out),
            command=rerun_command(self._recipe_file, job),
        )

    def _failed_upstream(self, job: JobEntry) -> JobEntry | None:
        """The failed job upstream of ``job`` that keeps it from ever being rendered, if any."""
        while job.upstream is not None and (up := self._jobs.get(job.upstream[0])) is not None:
            if up.status == "failed":
                return up
            job = up
        return None

    def _upstream_link(self, job: JobEntry) -> Link | None:
        if job.upstream is None:
            return None
        up = self._jobs.get(job.upstream[0])
        if up is None:
            return None
        return Link(self._href(up, job.upstream[1] if up.outputs else None), f"{up.stage}")

    def _downstream_links(self, job: JobEntry, out: OutputFile | None) -> tuple[Link, ...]:
        if out is None:
            return ()
        return tuple(
            Link(self._href(d, d.outputs[0].index if d.outputs else None), d.stage)
            for d in self._downstream.get((job.key, out.index), ())
        )
