"""``leobatch history``: the account's generations, newest first, with who made them."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click

from leobatch._loop import run as run_async
from leobatch.cli._emulated import Endpoint, api_endpoint, emulator_option, open_client
from leobatch.cli._options import is_quiet

if TYPE_CHECKING:
    from leobatch.run.history import HistoryRow

__all__ = ["command"]

NOT_OURS = "not made by leobatch"


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    from leobatch.run.history import parse_since

    try:
        return parse_since(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: give 2026-11-30 or 2026-11-30T14:00 (UTC unless it "
            "says otherwise, e.g. 2026-11-30T14:00+01:00)"
        ) from None


@click.command("history")
@click.argument(
    "recipe", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--since", metavar="DATE", callback=_since, help="Only generations created on or after DATE."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="List at most N generations."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@emulator_option
def command(
    recipe: Path | None, since: datetime | None, limit: int | None, as_json: bool, emulator: bool
) -> None:
    """List the account's generations, newest first, paged through the API: status, model,
    cost, and, when a journal on this machine knows it, the recipe, stage and job that made it
    and its local files (otherwise "not made by leobatch"). Variations follow the generation
    whose image they transform.

    With RECIPE, only the generations that recipe's runs made. Reads LEONARDO_API_KEY and
    LEONARDO_API_BASE_URL, unless --emulator is given.
    """
    with api_endpoint(emulator) as endpoint:
        data = run_async(_history, endpoint, recipe, since, limit)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    elif not is_quiet():
        click.echo(_human(data, recipe))


async def _history(
    endpoint: Endpoint, recipe: Path | None, since: datetime | None, limit: int | None
) -> dict[str, Any]:
    from leobatch.account_store import account_fingerprint
    from leobatch.run.account_records import journals
    from leobatch.run.history import history, index_journals

    async with open_client(endpoint) as client:
        account = await client.me()
        fingerprint = account_fingerprint(client.base_url, account.user_id)
        dirs = [entry.output_dir for entry in await anyio.to_thread.run_sync(journals, fingerprint)]
        only: frozenset[str] | None = None
        if recipe is not None:
            from leobatch.cli.status import output_dir_of

            own = output_dir_of(recipe).resolve()
            dirs.append(own)
            own_index = await anyio.to_thread.run_sync(index_journals, [own])
            only = frozenset(own_index)
        index = await anyio.to_thread.run_sync(index_journals, dirs)
        rows: tuple[HistoryRow, ...] = ()
        pages = 0
        if only is None or only:  # a recipe that made nothing: no need to page the account
            rows, pages = await history(
                client, account.user_id, index, since=since, limit=limit, only=only
            )
    return {
        "account": fingerprint,
        "recipe": str(recipe) if recipe is not None else None,
        "since": since.isoformat() if since is not None else None,
        "journals": len(set(dirs)),
        "pages": pages,
        "generations": sum(1 for r in rows if r.type == "generation"),
        "rows": [r.to_json() for r in rows],
    }


def _human(data: dict[str, Any], recipe: Path | None) -> str:
    rows = data["rows"]
    if not rows:
        whose = f"{recipe}'s runs" if recipe is not None else "the account"
        since = f" since {data['since']}" if data["since"] else ""
        return f"No generations of {whose}{since}."
    table = [("created", "id", "status", "model", "credits", "made by", "file")]
    for row in rows:
        by = row["made_by"]
        made = NOT_OURS if by is None else f"{by['recipe'] or '?'}/{by['stage']} {by['job'][:12]}"
        if by is not None and not by["current_attempt"]:
            made += f" (attempt {by['attempt']}, replaced)"
        files = row["files"]
        shown = (
            (_relative(files[0]) + (f" +{len(files) - 1}" if len(files) > 1 else ""))
            if files
            else "-"
        )
        ident = row["id"][:8] if row["type"] == "generation" else "└ " + row["id"][:8]
        table.append(
            (
                _when(row["created_at"]),
                ident,
                row["status"],
                row["model"] or "-",
                "-" if row["credits"] is None else f"{row['credits']:,}",
                made,
                shown,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    ours = sum(1 for r in rows if r["type"] == "generation" and r["made_by"] is not None)
    lines.append(
        f"{data['generations']} generation(s), {ours} made by leobatch "
        f"(journals known on this machine: {data['journals']})"
    )
    return "\n".join(lines)


def _when(text: str | None) -> str:
    if not text:
        return "-"
    return text.replace("T", " ")[:19]


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
