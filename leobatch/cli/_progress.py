"""How ``leobatch run`` shows its events: rich progress on a terminal, plain lines otherwise,
JSON lines with ``--json``."""

from __future__ import annotations

import errno
import os
import sys
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, TextIO

from leobatch.plan.jobs import Plan
from leobatch.run.events import Event

__all__ = [
    "JsonLines",
    "PlainLines",
    "Quiet",
    "RichProgress",
    "console",
    "reporter_for",
    "write_line",
]


def _closed_pipe(error: OSError) -> bool:
    return isinstance(error, BrokenPipeError) or error.errno == errno.EPIPE


def _silence(out: IO[str]) -> None:
    """Point ``out``'s file descriptor at the null device, so that later writes, and Python's
    flush at exit, go nowhere instead of raising again (the recipe of Python's signal docs)."""
    try:
        fd = out.fileno()
    except (OSError, ValueError):  # not a real file (a test's StringIO): nothing to flush later
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


#: Streams whose reader has gone: written to no more.
_gone: set[int] = set()


def write_line(out: TextIO, line: str) -> bool:
    """Write ``line`` to ``out``; if its reader has closed it (``| head``), drop this and every
    later line instead of failing: a closed stdout must never stop a run. ``False`` once gone."""
    if id(out) in _gone:
        return False
    try:
        out.write(line + "\n")
        out.flush()
    except OSError as e:
        if not _closed_pipe(e):
            raise
        _gone.add(id(out))
        _silence(out)
        return False
    return True


def console(file: TextIO | None = None, **options: Any) -> Any:
    """A rich ``Console`` on ``file`` (stdout) that goes quiet when its reader closes the pipe,
    where rich's own exits the program (a run must not stop for it), and that honours
    NO_COLOR even when ``no_color=False`` is passed."""
    from rich.console import Console

    from leobatch.cli._options import no_color

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            _gone.add(id(self.file))
            _silence(self.file)

    if no_color():  # https://no-color.org; rich's own no_color still emits bold and dim
        options["no_color"] = True
        options["color_system"] = None
    return _Console(file=file or sys.stdout, **options)


class JsonLines:
    """One JSON object per event on stdout (each carrying ``"schema"``, see ``SCHEMA``)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        write_flush(self.out)

    def __call__(self, event: Event) -> None:
        write_line(self.out, event.to_json())


class Quiet:
    """``leobatch -q``: no progress at all."""

    def __enter__(self) -> Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: Event) -> None:
        return None


def write_flush(out: TextIO) -> None:
    """Flush ``out`` unless its reader is gone."""
    if id(out) in _gone:
        return
    try:
        out.flush()
    except OSError as e:
        if not _closed_pipe(e):
            raise
        _gone.add(id(out))
        _silence(out)


class PlainLines:
    """A line per job milestone (submitted, complete, failed), for logs and CI."""

    SHOWN = frozenset(
        {
            "start",
            "complete",
            "failed",
            "download-failed",
            "blocked",
            "stopping",
            "adopted",
            "lost",
            "finish",
        }
    )

    def __init__(self, out: TextIO, plan: Plan, done_keys: frozenset[str] = frozenset()) -> None:
        self.out = out
        self.total = len(plan.jobs)
        self.tally = Tally(done_keys)

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        write_flush(self.out)

    def __call__(self, event: Event) -> None:
        if event.type == "stopping":
            write_line(self.out, stopping_message(event))
            return
        self.tally.take(event)
        if event.type not in self.SHOWN:
            return
        where = f"{event.stage} {event.job[:12]}" if event.job and event.stage else ""
        detail = " ".join(f"{k}={v}" for k, v in event.data.items())
        prefix = f"[{len(self.tally.settled):,}/{self.total:,}]" if event.job else ""
        line = " ".join(part for part in (prefix, event.type, where, detail) if part)
        write_line(self.out, line)


class RichProgress:
    """Bars for the whole run and for each stage, credits charged against planned, and ETA."""

    def __init__(
        self,
        plan: Plan,
        credits_planned: int,
        done_keys: frozenset[str],
        charged_before: int = 0,
    ) -> None:
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
            console=console(),
        )
        self.stage_of = {job.key: job.stage for job in plan.jobs}
        per_stage: Counter[str] = Counter(self.stage_of.values())
        self.credits_planned = credits_planned
        self.tally = Tally(done_keys, charged=charged_before)
        self.overall = self.progress.add_task("all jobs", total=len(plan.jobs), note="")
        self.stages = {
            stage: self.progress.add_task(f"  {stage}", total=count, note="")
            for stage, count in per_stage.items()
        }
        self._show()

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
        self.tally.take(event)
        if event.type == "stopping":
            self.progress.console.print(f"[yellow]{stopping_message(event)}[/]")
        self._show()

    def _show(self) -> None:
        settled = Counter(self.stage_of.get(key) for key in self.tally.settled)
        for stage, task in self.stages.items():
            self.progress.update(task, completed=settled[stage])
        note = f"{self.tally.charged:,}/{self.credits_planned:,} credits"
        if self.tally.failed:
            note += f", {len(self.tally.failed):,} failed"
        self.progress.update(self.overall, completed=len(self.tally.settled), note=note)


class Tally:
    """What the events say so far: the jobs settled (complete, failed or blocked; a job lost and
    rendered again is settled once, when it is done again) and the credits charged, net of the
    refunds of FAILED jobs. Counters can never pass their totals."""

    def __init__(self, done_keys: frozenset[str] = frozenset(), charged: int = 0) -> None:
        self.complete: set[str] = set(done_keys)
        self.failed: set[str] = set()
        self.blocked: set[str] = set()
        self.charged = charged

    @property
    def settled(self) -> set[str]:
        """Jobs that will not change any more this run."""
        return self.complete | self.failed | self.blocked

    def take(self, event: Event) -> None:
        """Fold ``event`` in."""
        key = event.job
        if event.type == "submitted":
            self.charged += int(event.data.get("credits") or 0)
        self.charged -= int(event.data.get("refunded") or 0)
        if key is None:
            return
        if event.type == "complete":
            self.complete.add(key)
        elif event.type == "failed":
            self.failed.add(key)
        elif event.type == "blocked":
            self.blocked.add(key)
        elif event.type == "lost":
            self.complete.discard(key)


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
    charged_before: int = 0,
    out: TextIO | None = None,
    quiet: bool = False,
) -> Any:
    """The event sink that fits where output goes (jobs in ``done_keys`` count as complete;
    ``charged_before`` is what earlier runs of the plan were charged)."""
    stream = out or sys.stdout
    if json_lines:
        return JsonLines(stream)
    if quiet:
        return Quiet()
    if stream.isatty():
        return RichProgress(plan, credits_planned, done_keys, charged_before)
    return PlainLines(stream, plan, done_keys)


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The closing lines of a run, for people."""
    blocked = result.get("blocked") or 0
    waiting = f" ({blocked:,} blocked by a failed upstream job)" if blocked else ""
    lines = [
        f"{result['complete']:,} of {result['jobs']:,} jobs complete, {result['failed']:,} "
        f"failed, {result['pending']:,} pending{waiting}; "
        f"{result['credits_charged']:,} credits charged"
        + (f", {_usd(result['usd_charged'])} charged." if result.get("usd_charged") else ".")
    ]
    if result.get("missing_downloads"):
        lines.append(f"{result['missing_downloads']} outputs could not be downloaded.")
    if result.get("stop_reason"):
        lines.append(f"Stopped early: {result['stop_reason']}.")
    return lines


def _usd(amount: Any) -> str:
    from decimal import Decimal

    from leobatch.pricing.money import format_usd

    return format_usd(Decimal(str(amount)))
