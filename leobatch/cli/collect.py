"""``leobatch collect``: merge the manifests of a CI matrix's shard outputs into one."""

from __future__ import annotations

import json
from pathlib import Path

import click

from leobatch.cli._options import is_quiet

__all__ = ["command"]


@click.command("collect")
@click.argument(
    "dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write OUT/manifest.json (default: the folders' common parent folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(dirs: tuple[Path, ...], out: Path | None, as_json: bool) -> None:
    """Merge the manifests of DIR... (the output folders of `run --shard I/N`) into one.

    Each job is taken from the shard that rendered it; a job rendered in two shards is an
    error unless both say the same. Totals are recomputed and paths made relative to the
    merged manifest, which `status` and `report` read like a run's.
    """
    from leobatch.manifest_merge import collect

    result = collect(dirs, out)
    totals = result.manifest["totals"]
    outputs = sum(len(job.get("outputs") or ()) for job in result.manifest["jobs"])
    if as_json:
        data = {
            "manifest": str(result.path),
            "totals": totals,
            "outputs": outputs,
            "shards": [{"dir": str(d), "jobs": n} for d, n in result.taken.items()],
            "unrendered": result.unrendered,
            "missing_files": result.missing_files,
        }
        click.echo(json.dumps(data, sort_keys=True))
    elif not is_quiet():
        click.echo(
            f"{len(dirs)} shard{'s' if len(dirs) != 1 else ''}: {totals['jobs']:,} jobs "
            f"({totals['complete']:,} complete, {totals['failed']:,} failed, "
            f"{totals['pending']:,} pending), {outputs:,} outputs, "
            f"{totals['credits_charged']:,} credits charged"
        )
        for folder, n in zip(dirs, result.taken.values(), strict=True):
            click.echo(f"  {folder}: {n:,} jobs rendered")
        click.echo(f"Manifest: {result.path}")
    if result.unrendered:
        click.echo(
            f"note: {result.unrendered:,} jobs were rendered by no shard (is a shard's output "
            "missing, or did one stop early?)",
            err=True,
        )
    if result.missing_files:
        click.echo(
            f"note: {result.missing_files:,} output files the manifests list are not on disk "
            "(was a shard's output folder copied without them?)",
            err=True,
        )
