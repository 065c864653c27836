"""How ``leobatch run`` shows its events: rich progress on a terminal, plain lines otherwise,
JSON lines with ``--json``."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

from leobatch.plan.jobs import Plan
from leobatch.run.events import Event

__all__ = ["JsonLines", "PlainLines", "RichProgress", "reporter_for"]


class JsonLines:
    """One JSON object per event on stdout."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def __call__(self, event: Event) -> None:
        self.out.write(event.to_json() + "\n")
        self.out.flush()


class PlainLines:
    """A line per job milestone (submitted, complete, failed), for logs and CI."""

    SHOWN = frozenset({"start", "complete", "failed", "stopping", "adopted", "finish"})

    def __init__(self, out: TextIO, plan: Plan, done: int = 0) -> None:
        self.out = out
        self.total = len(plan.jobs)
        self.done = done

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def __call__(self, event: Event) -> None:
        if event.type == "stopping":
            self.out.write(stopping_message(event) + "\n")
            self.out.flush()
            return
        if event.type not in self.SHOWN:
            return
        if event.type == "complete":
            self.done += 1
        where = f"{event.stage} {event.job[:12]}" if event.job and event.stage else ""
        detail = " ".join(f"{k}={v}" for k, v in event.data.items())
        prefix = f"[{self.done}/{self.total}]" if event.job else ""
        line = " ".join(part for part in (prefix, event.type, where, detail) if part)
        self.out.write(line + "\n")
        self.out.flush()


class RichProgress:
    """Bars for the whole run and for each stage, credits charged against planned, and ETA."""

    def __init__(self, plan: Plan, credits_planned: int, done_keys: frozenset[str]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        per_stage: Counter[str] = Counter(job.stage for job in plan.jobs)
        done_per_stage: Counter[str] = Counter(
            job.stage for job in plan.jobs if job.key in done_keys
        )
        self.credits_planned = credits_planned
        self.charged = 0
        self.failed = 0
        self.overall = self.progress.add_task(
            "all jobs", total=len(plan.jobs), completed=len(done_keys), note=""
        )
        self.stages = {
            stage: self.progress.add_task(
                f"  {stage}", total=count, completed=done_per_stage[stage], note=""
            )
            for stage, count in per_stage.items()
        }

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def __call__(self, event: Event) -> None:
        if event.type == "submitted":
            self.charged += int(event.data.get("credits") or 0)
        elif event.type in {"complete", "failed"} and event.stage in self.stages:
            if event.type == "failed":
                self.failed += 1
            self.progress.advance(self.stages[event.stage])
            self.progress.advance(self.overall)
        elif event.type == "stopping":
            self.progress.console.print(f"[yellow]{stopping_message(event)}[/]")
        note = f"{self.charged}/{self.credits_planned} credits"
        if self.failed:
            note += f", {self.failed} failed"
        self.progress.update(self.overall, note=note)


def stopping_message(event: Event) -> str:
    """What to tell a person when submission stops early."""
    reason = event.data.get("reason")
    in_flight = event.data.get("in_flight", 0)
    text = f"Stopping ({reason}): no new jobs are submitted; waiting for {in_flight} in flight."
    if reason == "interrupted":
        text += " Ctrl-C again exits now (the journal keeps every remote id)."
    return text


def reporter_for(
    plan: Plan,
    *,
    json_lines: bool,
    credits_planned: int,
    done_keys: frozenset[str] = frozenset(),
    out: TextIO | None = None,
) -> Any:
    """The event sink that fits where output goes (jobs in ``done_keys`` count as complete)."""
    stream = out or sys.stdout
    if json_lines:
        return JsonLines(stream)
    if stream.isatty():
        return RichProgress(plan, credits_planned, done_keys)
    return PlainLines(stream, plan, len(done_keys))


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The closing lines of a run, for people."""
    lines = [
        f"{result['complete']} of {result['jobs']} jobs complete, {result['failed']} failed, "
        f"{result['pending']} pending; {result['credits_charged']} credits charged."
    ]
    if result.get("missing_downloads"):
        lines.append(f"{result['missing_downloads']} outputs could not be downloaded.")
    if result.get("stop_reason"):
        lines.append(f"Stopped early: {result['stop_reason']}.")
    return lines
