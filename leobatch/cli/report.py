"""``leobatch report``: a static HTML report (and contact sheets) of what a run rendered."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from leobatch.cli._select import select_plan, selection_of, selection_options

__all__ = ["command"]


@click.command("report")
@click.argument("recipe", type=click.Path(exists=True, path_type=Path))
@click.option("--rows", metavar="AXIS", help="Matrix axis along the rows (default: 2nd largest).")
@click.option("--cols", metavar="AXIS", help="Matrix axis along the columns (default: largest).")
@click.option("--sheets", is_flag=True, help="Also draw paginated JPEG contact sheets per stage.")
@click.option("--open", "open_browser", is_flag=True, help="Open the index in a web browser.")
@click.option(
    "-o",
    "--output",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the report here instead of <output.dir>/report/.",
)
@selection_options
def command(
    recipe: Path,
    rows: str | None,
    cols: str | None,
    sheets: bool,
    open_browser: bool,
    report_dir: Path | None,
    **select: Any,
) -> None:
    """Build a static HTML report of RECIPE's outputs, from its manifest and files only.

    One page per stage, laid out as grids along the matrix axes (further axes become sections),
    with thumbnails, credits, failures and a command that re-renders each cell; an index with
    totals and a per-model summary. RECIPE may also be an output folder holding a manifest.json,
    or that manifest.json (one `leobatch collect` merged, say).
    Rebuilding only writes what changed. The selection options (--where, --stage, --sample ...)
    narrow it to the jobs they select (they need RECIPE); one --stage reports that stage alone.
    """
    from leobatch.report import build_report, resolve_source

    selection = selection_of(**select)
    keys: frozenset[str] | None = None
    if not selection.everything:
        if recipe.is_dir() or recipe.name == "manifest.json":
            raise click.UsageError("selecting jobs needs the RECIPE (not an output folder)")
        from leobatch.plan import plan_recipe

        keys = select_plan(plan_recipe(recipe), selection).keys
    stage = selection.stages[0] if len(selection.stages) == 1 else None
    source = resolve_source(recipe)
    if source.note is not None:
        click.echo(f"note: {source.note}", err=True)
    result = build_report(
        source.output_dir,
        report_dir=report_dir,
        rows=rows,
        cols=cols,
        stage=stage,
        select=keys,
        sheets=sheets,
        order=source.order,
        recipe_dir=source.recipe_dir,
    )
    credits = result.credits
    click.echo(
        f"{result.stages} stage{'s' if result.stages != 1 else ''}, {result.jobs} jobs, "
        f"{result.outputs} outputs; {credits.charged:,} credits charged of "
        f"{credits.estimated:,} estimated"
    )
    click.echo(
        f"{result.pages_written} file{'s' if result.pages_written != 1 else ''} written, "
        f"{result.thumbs_made} thumbnail{'s' if result.thumbs_made != 1 else ''} made"
    )
    if sheets:
        largest = max(result.sheets, key=lambda s: s.width * s.height, default=None)
        size = f"; largest {largest.width}x{largest.height} px" if largest else ""
        n = len(result.sheets)
        click.echo(f"{n} contact sheet{'s' if n != 1 else ''} ({result.sheets_drawn} drawn){size}")
    click.echo(f"Report: {result.index}")
    if open_browser:
        _open(result.index)


def _open(index: Path) -> None:
    """Open ``index`` in a browser, unless there is no display to show it on."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        click.echo(f"no display to open a browser on: open {index} yourself", err=True)
        return
    import webbrowser

    if not webbrowser.open(index.as_uri()):
        click.echo(f"could not start a browser: open {index} yourself", err=True)
