"""``leobatch catalog [TABLE]``: the built-in catalogue, as tables.

Rich tables on a terminal, aligned plain text otherwise (pipes, files, CI logs), one JSON
document with ``--json``. Without a table name: each table with its row count. ``--live`` lists
the account's models or elements from the API (``GET /platformModels``, ``GET /elements``)
instead, marking those the built-in catalogue knows; for models also ``GET /v2/models``,
compared with the v2 catalogue (listed models it lacks, catalogued models not listed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING

import click

from leobatch import catalog
from leobatch.cli import _catalog_models

if TYPE_CHECKING:
    from leobatch.api.client import LeonardoClient

__all__ = ["TABLES", "command", "table_rows"]

Rows = list[tuple[str, ...]]


def _styles() -> Rows:
    return [(p.name, "yes" if p.needs_alchemy else "no") for p in catalog.preset_styles()]


def _video_styles() -> Rows:
    return [(v.category, v.name, v.id) for v in catalog.video_styles()]


def _motion_controls() -> Rows:
    return [(m.name, m.id) for m in catalog.motion_controls()]


def _elements() -> Rows:
    return [
        (e.name, e.base_model, f"{e.weight_default:g}", f"{e.weight_min:g}..{e.weight_max:g}", e.id)
        for e in catalog.elements()
    ]


#: table name -> (description, column headers, rows, the catalogue values for --json)
TABLES: dict[
    str, tuple[str, tuple[str, ...], Callable[[], Rows], Callable[[], Sequence[object]]]
] = {
    "models": (
        "image and video models, v1 and v2, with their lifecycle",
        _catalog_models.MODEL_HEADERS,
        _catalog_models.model_rows,
        catalog.all_models,
    ),
    "styles": (
        "image preset styles (presetStyle)",
        ("style", "needs alchemy"),
        _styles,
        catalog.preset_styles,
    ),
    "video-styles": (
        "video styles (styleIds)",
        ("category", "name", "id"),
        _video_styles,
        catalog.video_styles,
    ),
    "motion-controls": (
        "Motion 2.0 camera motions (sent as elements)",
        ("name", "akUUID"),
        _motion_controls,
        catalog.motion_controls,
    ),
    "elements": (
        "elements (LoRAs)",
        ("name", "base model", "weight", "range", "akUUID"),
        _elements,
        catalog.elements,
    ),
}


def table_rows(name: str | None) -> tuple[tuple[str, ...], Rows]:
    """Headers and rows of one table, or of the summary when ``name`` is ``None``."""
    if name is None:
        rows: Rows = [(t, str(len(entry[3]())), entry[0]) for t, entry in TABLES.items()]
        return ("table", "entries", "what"), rows
    _, headers, rows_of, _ = TABLES[name]
    return headers, rows_of()


def _as_json(row: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(row):  # type: ignore[arg-type]
        value = getattr(row, f.name)
        out[f.name] = dict(value) if isinstance(value, Mapping) else value
    return out


def _plain(headers: tuple[str, ...], rows: Rows) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _rich(title: str, headers: tuple[str, ...], rows: Rows) -> None:
    from rich.table import Table

    from leobatch.cli._progress import console

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    console().print(table)


async def _live_rows(table: str, emulator: bool) -> tuple[tuple[str, ...], Rows, str | None, bool]:
    from leobatch.cli._emulated import api_endpoint, open_client

    with api_endpoint(emulator) as endpoint:
        async with open_client(endpoint) as client:
            if table == "models":
                rows, missing, failed = await _catalog_models.live_model_rows(client)
                return _catalog_models.LIVE_HEADERS, rows, missing, failed
            return (*await _element_rows(client), None, False)


async def _element_rows(client: LeonardoClient) -> tuple[tuple[str, ...], Rows]:
    elements = await client.elements()
    return ("akUUID", "name", "base model", "weight", "range", "in catalogue"), [
        (
            e.ak_uuid,
            e.name or "",
            e.base_model or "",
            "" if e.weight_default is None else f"{e.weight_default:g}",
            f"{e.weight_min:g}..{e.weight_max:g}"
            if e.weight_min is not None and e.weight_max is not None
            else "",
            "yes" if catalog.find_element(e.ak_uuid) else "",
        )
        for e in elements
    ]


@click.command("catalog")
@click.argument("table", required=False, type=click.Choice(list(TABLES)))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--live",
    is_flag=True,
    help="List models or elements from the API (LEONARDO_API_KEY) instead of the built-in data.",
)
@click.option(
    "--emulator",
    is_flag=True,
    help="With --live: ask an embedded offline emulator of the API (no key, no cost).",
)
def command(table: str | None, as_json: bool, live: bool, emulator: bool) -> None:
    """List models, preset styles, video styles, motion controls or elements.

    Without TABLE, show each table with its number of entries.
    """
    if emulator and not live:
        raise click.UsageError("--emulator goes with --live: the built-in catalogue needs no API")
    if live:
        if table not in ("models", "elements"):
            raise click.UsageError("--live lists 'models' or 'elements'")
        from leobatch._loop import run as run_async

        headers, rows, missing, failed = run_async(_live_rows, table, emulator)
        if as_json:
            click.echo(json.dumps([dict(zip(headers, r, strict=True)) for r in rows], indent=2))
        elif sys.stdout.isatty():
            _rich(f"{table} (live)", headers, rows)
        else:
            click.echo(_plain(headers, rows))
        if missing and failed:
            raise click.ClickException(missing)
        if missing:
            click.echo(f"note: {missing}", err=True)
        return
    if as_json:
        if table is None:
            document: object = {name: len(entry[3]()) for name, entry in TABLES.items()}
        elif table == "models":
            document = _catalog_models.model_json()
        else:
            document = [_as_json(row) for row in TABLES[table][3]()]
        click.echo(json.dumps(document, indent=2))
        return
    headers, rows = table_rows(table)
    if sys.stdout.isatty():
        _rich(TABLES[table][0] if table else "leobatch catalogue", headers, rows)
    else:
        click.echo(_plain(headers, rows))
