"""``leobatch prune RECIPE``: remove the files and journal rows of jobs no longer in the recipe."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leobatch.cli._errors import EXIT_OK
from leobatch.cli._options import max_jobs_option

if TYPE_CHECKING:
    from leobatch.run.diff import RemovedJob
    from leobatch.run.prune import Pruned, PruneFile, PrunePlan

__all__ = ["command"]


@click.command(name="prune")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed off a terminal)."
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@max_jobs_option
def command(recipe: Path, yes: bool, dry_run: bool, as_json: bool, max_jobs: int) -> int:
    """Remove the jobs RECIPE no longer yields: their files, then their journal rows.

    Only files the journal records as outputs of those jobs are deleted, and only while they
    are regular files inside output.dir, reached through no symbolic link, with the content
    leobatch downloaded, at a path no job of the recipe writes to; anything else is kept and
    listed with the reason. Jobs in flight (submitting or submitted) are never pruned. Refused
    while a run holds the output directory. Asks for confirmation on a terminal.
    """
    from leobatch.errors import LockedError
    from leobatch.plan.expand import plan_recipe
    from leobatch.run.journal import Journal
    from leobatch.run.prune import apply_prune, plan_prune

    if not (yes or dry_run) and not sys.stdin.isatty():
        raise click.UsageError(
            "not on a terminal: add --yes to prune without confirmation (--dry-run only lists)"
        )
    plan = plan_recipe(recipe, max_jobs=max_jobs)
    out_dir = plan.output_dir
    if not Journal.exists(out_dir):
        _say(as_json, {"output_dir": str(out_dir), "dry_run": dry_run, **_nothing()},
             f"Nothing to prune: nothing has run in {out_dir}.")  # fmt: skip
        return EXIT_OK
    if dry_run:
        with Journal.open_readonly(out_dir) as journal:
            prune = plan_prune(plan, journal)
        _show(prune, as_json, dry_run=True, done=None)
        return EXIT_OK
    try:
        journal = Journal.open(out_dir)
    except LockedError as e:
        raise LockedError(f"cannot prune: {e}; prune once it has finished") from None
    with journal:
        prune = plan_prune(plan, journal)
        if not prune.jobs:
            _show(prune, as_json, dry_run=False, done=None)
            return EXIT_OK
        if not as_json:
            _show(prune, as_json, dry_run=False, done=None)
        if not yes:
            question = (
                f"Remove {_n(len(prune.jobs), 'job')} and {_n(len(prune.deletable), 'file')}?"
            )
            if not click.confirm(question, default=False, err=as_json):
                click.echo("Nothing was removed.", err=as_json)
                return EXIT_OK
        done = apply_prune(plan, prune, journal)
    _show(prune, as_json, dry_run=False, done=done, listed=not as_json)
    return EXIT_OK


def _nothing() -> dict[str, Any]:
    return {
        "jobs": [],
        "in_flight": [],
        "removed": {"jobs": 0, "files": 0, "bytes": 0, "folders": 0},
    }


def _n(count: int, word: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(data) if as_json else text)


def _show(
    prune: PrunePlan, as_json: bool, *, dry_run: bool, done: Pruned | None, listed: bool = False
) -> None:
    """The listing (unless already ``listed``), then what was done, or would be."""
    if as_json:
        click.echo(json.dumps(_json(prune, dry_run, done)))
        return
    if not listed:
        for line in _listing(prune):
            click.echo(line)
    if not prune.jobs:
        if not prune.in_flight:
            click.echo(
                f"Nothing to prune: every job the journal of {prune.output_dir} knows is in "
                "the recipe."
            )
        return
    if dry_run:
        click.echo("Dry run: nothing was removed.")
    elif done is not None:
        folders = f"; {_n(done.folders, 'empty folder')} removed" if done.folders else ""
        click.echo(
            f"Removed {_n(done.jobs, 'job')} from the journal and {_n(done.files, 'file')} "
            f"({done.bytes:,} bytes){folders}."
        )
        for item in done.kept:
            click.echo(f"Kept {item.path}: {item.fate.why}")


def _listing(prune: PrunePlan) -> list[str]:
    from leobatch.cli._review import matrix_text

    lines = []
    if prune.jobs:
        jobs, files = _n(len(prune.jobs), "job"), _n(len(prune.deletable), "file")
        lines.append(
            f"No longer in the recipe, in {prune.output_dir}: {jobs}, {files} to delete "
            f"({prune.bytes:,} bytes):"
        )
    by_job: dict[str, list[PruneFile]] = {}
    for item in prune.files:
        by_job.setdefault(item.job_key, []).append(item)
    for job in prune.jobs:
        lines.append(f"  - {_job_line(job, matrix_text(job.matrix))}")
        for item in by_job.get(job.key, ()):
            if item.fate.action == "delete":
                lines.append(f"      delete {item.path} ({item.fate.bytes or 0:,} bytes)")
            elif item.fate.action == "kept":
                lines.append(f"      keep   {item.path}: {item.fate.why}")
    if prune.in_flight:
        lines.append(
            f"In flight, not pruned ({len(prune.in_flight)}): their results may still come; "
            "prune again once a run has settled them:"
        )
        lines.extend(f"  ~ {_job_line(job, matrix_text(job.matrix))}" for job in prune.in_flight)
    return lines


def _job_line(job: RemovedJob, values: str) -> str:
    prompt = f"  {job.prompt}" if job.prompt else ""
    return f"{job.key[:12]}  {job.stage}  {values}  {job.status}{prompt}"


def _json(prune: PrunePlan, dry_run: bool, done: Pruned | None) -> dict[str, Any]:
    files: dict[str, list[dict[str, Any]]] = {}
    for item in prune.files:
        if item.fate.action != "missing":
            entry = {"path": item.path, "action": item.fate.action, "bytes": item.fate.bytes}
            if item.fate.why is not None:
                entry["why"] = item.fate.why
            files.setdefault(item.job_key, []).append(entry)
    return {
        "output_dir": str(prune.output_dir),
        "dry_run": dry_run,
        "jobs": [job.to_json() | {"files": files.get(job.key, [])} for job in prune.jobs],
        "in_flight": [job.to_json() for job in prune.in_flight],
        "removed": (
            {"jobs": done.jobs, "files": done.files, "bytes": done.bytes, "folders": done.folders}
            if done is not None
            else {"jobs": 0, "files": 0, "bytes": 0, "folders": 0}
        ),
    }
