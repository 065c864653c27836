"""``leobatch status``: what a recipe's run journal says, read-only (works while a run writes)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from leobatch.cli._options import is_quiet
from leobatch.cli._select import select_plan, selection_of, selection_options
from leobatch.run.journal import JobState, Journal, Summary

__all__ = ["command", "output_dir_of", "status_json"]

#: Failed jobs listed (with their errors) in the human summary.
FAILED_SHOWN = 5


def output_dir_of(recipe_path: Path) -> Path:
    """The output directory a recipe renders into (its ``output.dir``, default ``out/<name>``)."""
    try:
        from leobatch.recipe import load_recipe
    except ImportError:  # pragma: no cover - the recipe stage is part of the package
        return recipe_path.parent / "out" / recipe_path.stem
    return load_recipe(recipe_path).output_dir


def status_json(
    output_dir: Path, summary: Summary, failed: tuple[JobState, ...], meta: dict[str, str]
) -> dict[str, Any]:
    """The summary as ``--json`` prints it (one object)."""
    statuses = summary.statuses
    return {
        "recipe": meta.get("recipe"),
        "output_dir": str(output_dir),
        "ran": True,
        "jobs": summary.jobs,
        "done": statuses["complete"],
        "running": statuses["submitting"] + statuses["submitted"],
        "failed": statuses["failed"],
        "pending": statuses["planned"],
        "outputs": {"recorded": summary.outputs, "downloaded": summary.downloaded},
        "credits": {
            "estimated": summary.credits_estimated,
            "unknown_estimates": summary.unknown_estimates,
            "charged": summary.credits_charged,
        },
        # issue 10: a PAYG account's dollars, apart from the credits (decimal strings)
        "usd": {"estimated": str(summary.usd_estimated), "charged": str(summary.usd_charged)},
        "models": [
            {
                "stage": g.stage,
                "model": g.model,
                "jobs": g.jobs,
                "done": g.complete,
                "failed": g.failed,
                "credits_estimated": g.credits_estimated,
                "unknown_estimates": g.unknown_estimates,
                "credits_charged": g.credits_charged,
            }
            for g in summary.groups
        ],
        "failures": [{"key": s.key, "stage": s.stage, "error": s.error} for s in failed],
        "last_update": summary.last_update,
    }


def _estimate(credits: int, unknown: int, jobs: int) -> str:
    """An estimate as people read it: "unknown" when no job of it has a price, never 0."""
    if unknown and unknown >= jobs:
        return "unknown"
    return f"{credits:,}" + (f" + {unknown:,} unknown" if unknown else "")


def _cleaned_line(cleaned: dict[str, Any]) -> str:
    """What ``leobatch clean`` deleted, on one line."""
    names = (("generation", "generation"), ("variation", "variation"),
             ("motion-variation", "video upscale"), ("init-image", "upload"))  # fmt: skip
    remote = [f"{n:,} {word}{'' if n == 1 else 's'}"
              for key, word in names if (n := cleaned["remote"].get(key, 0))]  # fmt: skip
    parts = [", ".join(remote) + " deleted from the account"] if remote else []
    if cleaned["files"]:
        parts.append(f"{cleaned['files']:,} file{'' if cleaned['files'] == 1 else 's'} deleted")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cleaned["last_at"]))
    unfinished = " (interrupted: run clean again)" if cleaned["unfinished"] else ""
    return f"cleaned   {'; '.join(parts) or 'nothing'} ({when}){unfinished}"


def _drift_lines(drift: list[dict[str, Any]]) -> list[str]:
    """Charged against estimated per model and price class; a stale figure said by name."""

    def amount(value: float | None, unit: str) -> str:
        if value is None:
            return "unknown"
        return f"{value:,}" if unit == "CREDITS" else f"USD {value:,.4f}"

    rows = [("model", "price class", "jobs", "estimated", "charged", "drift", "drift %")]
    for d in drift:
        pct = d["drift_pct"]
        unknown = f" +{d['unknown_estimates']} unknown" if d["unknown_estimates"] else ""
        estimated = amount(d["estimated"], d["unit"])
        rows.append((
            d["model"] or "-", d["label"], str(d["jobs"]),
            estimated + (unknown if d["estimated"] is not None else ""),
            amount(d["charged"], d["unit"]), amount(d["drift"], d["unit"]),
            "unknown" if pct is None else f"{pct:+.1f}%",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["drift (charged against estimated, per model and price class):"]
    for row in rows:
        left = [cell.ljust(w) for cell, w in zip(row[:2], widths[:2], strict=True)]
        right = [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  " + "  ".join(left + right).rstrip())
    lines += [f"  ! {d['model'] or '-'} {d['label']}: {d['stale']}" for d in drift if d["stale"]]
    return lines


def _accounts(states: list[JobState]) -> list[dict[str, Any]]:
    """The jobs sent, per account they were sent on (a run over several keys), by fingerprint."""
    rows: dict[str, dict[str, Any]] = {}
    for state in states:
        if state.account is None:
            continue
        row = rows.setdefault(
            state.account,
            {"account": state.account, "jobs": 0, "done": 0, "failed": 0, "credits_charged": 0},
        )
        row["jobs"] += 1
        row["done"] += state.status == "complete"
        row["failed"] += state.status == "failed"
        row["credits_charged"] += state.credits_charged or 0
    return list(rows.values())


def _human(data: dict[str, Any]) -> str:
    name = data["recipe"] or "recipe"
    lines = [f"{name}: {data['output_dir']}"]
    run = data.get("run")
    if run is not None:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
        lines.append(f"run in progress (pid {run['pid']} on {run['host']}, started {started})")
    lines.append(
        f"jobs      {data['jobs']}: {data['done']} done, {data['running']} running, "
        f"{data['failed']} failed, {data['pending']} pending"
    )
    outs = data["outputs"]
    lines.append(f"outputs   {outs['downloaded']} of {outs['recorded']} downloaded")
    if data.get("cleaned"):
        lines.append(_cleaned_line(data["cleaned"]))
    credits = data["credits"]
    unknown = credits["unknown_estimates"]
    note = f" (+{unknown} job{'s' if unknown != 1 else ''} of unknown price)" if unknown else ""
    estimated = "unknown" if unknown and unknown >= data["jobs"] else f"{credits['estimated']:,}"
    lines.append(f"credits   {credits['charged']:,} charged of {estimated} estimated{note}")
    usd = data.get("usd") or {}
    if any(Decimal(usd.get(k) or 0) for k in ("estimated", "charged")):
        from leobatch.pricing.money import format_usd

        lines.append(
            f"dollars   {format_usd(Decimal(usd['charged']))} charged of "
            f"{format_usd(Decimal(usd['estimated']))} estimated (never added to the credits)"
        )
    if data["models"]:
        rows = [("stage", "model", "jobs", "done", "failed", "estimated", "charged")]
        rows += [
            (
                g["stage"],
                g["model"] or "-",
                str(g["jobs"]),
                str(g["done"]),
                str(g["failed"]),
                _estimate(g["credits_estimated"], g["unknown_estimates"], g["jobs"]),
                f"{g['credits_charged']:,}",
            )
            for g in data["models"]
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            left = [cell.ljust(w) for cell, w in zip(row[:2], widths[:2], strict=True)]
            right = [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
            lines.append("  " + "  ".join(left + right).rstrip())
    failures = data["failures"]
    if failures:
        shown = failures[:FAILED_SHOWN]
        more = f" (first {len(shown)} of {len(failures)})" if len(failures) > len(shown) else ""
        lines.append(f"failed jobs{more}:")
        lines += [
            f"  {f['stage']} {f['key'][:12]}  {f['error'] or '(no error recorded)'}" for f in shown
        ]
    if len(data.get("accounts") or ()) > 1:
        lines.append(f"accounts  {len(data['accounts'])} (the jobs sent, per account):")
        lines += [
            f"  {a['account'][:8]}  {a['jobs']:,} jobs, {a['done']:,} done, "
            f"{a['failed']:,} failed, {a['credits_charged']:,} credits charged"
            for a in data["accounts"]
        ]
    if data.get("drift"):
        lines += _drift_lines(data["drift"])
    if data["last_update"] is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data["last_update"]))
        lines.append(f"last change {when}")
    return "\n".join(lines)


@click.command("status")
@click.argument(
    "recipe", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--dir",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read the journal of this output directory instead of a recipe's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@selection_options
def command(recipe: Path | None, output_dir: Path | None, as_json: bool, **select: Any) -> None:
    """Summarise a recipe's run journal: done, running, failed and pending jobs, outputs
    downloaded, credits estimated vs charged per stage and model, and why jobs failed.

    Read-only: safe while a run is writing. The selection options (--where, --stage, ...)
    narrow the summary to the jobs they select; they need the RECIPE. RECIPE may also be a
    manifest.json (one `leobatch collect` merged, say), and --dir a folder holding one.
    """
    selection = selection_of(**select)
    if (manifest := _manifest_of(recipe, output_dir)) is not None:
        if not selection.everything:
            raise click.UsageError("selecting jobs needs the RECIPE (not a manifest)")
        _manifest_status(manifest, as_json)
        return
    if recipe is not None and output_dir is None:
        target = output_dir_of(recipe)
    elif output_dir is not None and recipe is None:
        target = output_dir
    else:
        raise click.UsageError("give a RECIPE or --dir OUTPUT_DIR (one of them)")
    if not Journal.exists(target):
        if as_json:
            click.echo(json.dumps({"output_dir": str(target), "jobs": 0, "ran": False}))
        elif not is_quiet():
            click.echo(f"nothing has run yet for {recipe or target} (no journal in {target})")
        return
    keys: frozenset[str] | None = None
    if not selection.everything:
        if recipe is None:
            raise click.UsageError("selecting jobs needs the RECIPE (not --dir)")
        from leobatch.plan import plan_recipe

        keys = select_plan(plan_recipe(recipe), selection).keys
    with Journal.open_readonly(target) as journal:
        if keys is None:
            summary, failed = journal.summary(), journal.in_state("failed")
        else:
            summary = _summary_of(journal, keys)
            failed = tuple(s for s in journal.in_state("failed") if s.key in keys)
        data = status_json(target, summary, failed, journal.meta())
        from leobatch.run.cleanups import cleaned_summary

        data["cleaned"] = cleaned_summary(journal)
        from leobatch.run.drift import drift_rows

        states = [s for s in journal.jobs() if keys is None or s.key in keys]
        data["drift"] = [row.to_json() for row in drift_rows(states)]
        data["accounts"] = _accounts(states)
    if keys is not None:
        data["selection"] = {"options": selection.describe(), "jobs": len(keys)}
    holder = Journal.running(target)
    data["run"] = (
        None
        if holder is None
        else {"pid": holder.pid, "host": holder.host, "started_at": holder.started_at}
    )
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    elif not is_quiet():  # `leobatch -q status`: nothing but errors
        click.echo(_human(data))


def _manifest_of(recipe: Path | None, output_dir: Path | None) -> Path | None:
    """The manifest to summarise instead of a journal: RECIPE given as a ``.json`` manifest
    (a merged one, by ``leobatch collect``), or a --dir with a manifest and no journal."""
    if recipe is not None and output_dir is None and recipe.suffix.lower() == ".json":
        return recipe
    if (
        output_dir is not None
        and recipe is None
        and not Journal.exists(output_dir)
        and (output_dir / "manifest.json").is_file()
    ):
        return output_dir / "manifest.json"
    return None


def _manifest_status(manifest: Path, as_json: bool) -> None:
    """Summarise a manifest (merged or not) the way a journal is summarised."""
    from leobatch.manifest_merge import load_manifests

    loaded = load_manifests([manifest])
    data = status_json(manifest.parent, loaded.summary(), (), {"recipe": loaded.recipe_name or ""})
    data["failures"] = [{"key": k, "stage": s, "error": e} for k, s, e in loaded.failed()]
    data["manifest"] = str(manifest)
    data["sources"] = [str(source) for source in loaded.sources]
    data["run"] = None
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    elif not is_quiet():
        n = len(loaded.sources)
        merged = f"\nmerged from {n} shard output folders" if n > 1 else ""
        click.echo(_human(data) + merged)


def _summary_of(journal: Journal, keys: frozenset[str]) -> Summary:
    """The journal's summary over the selected jobs only (those it knows)."""
    from collections import defaultdict

    from leobatch.run.journal_records import STATUSES, GroupSummary

    states = [s for s in journal.jobs() if s.key in keys]
    statuses: dict[str, int] = dict.fromkeys(STATUSES, 0)
    groups: dict[tuple[str, str | None], list[JobState]] = defaultdict(list)
    for state in states:
        statuses[state.status] += 1
        groups[(state.stage, state.model)].append(state)
    outputs = [o for key, outs in journal.all_outputs().items() if key in keys for o in outs]
    rows = tuple(
        GroupSummary(
            stage,
            model,
            len(members),
            sum(m.status == "complete" for m in members),
            sum(m.status == "failed" for m in members),
            sum(m.credits_estimated or 0 for m in members),
            sum(m.credits_estimated is None and m.usd_estimated is None for m in members),
            sum(m.credits_charged or 0 for m in members),
            sum((m.usd_estimated or Decimal(0) for m in members), Decimal(0)),
            sum((m.usd_charged or Decimal(0) for m in members), Decimal(0)),
        )
        for (stage, model), members in groups.items()
    )
    return Summary(
        statuses=statuses,
        outputs=len(outputs),
        downloaded=sum(o.sha256 is not None for o in outputs),
        credits_estimated=sum(g.credits_estimated for g in rows),
        unknown_estimates=sum(g.unknown_estimates for g in rows),
        credits_charged=sum(g.credits_charged for g in rows),
        groups=rows,
        last_update=max((s.updated_at for s in states), default=None),
        usd_estimated=sum((g.usd_estimated for g in rows), Decimal(0)),
        usd_charged=sum((g.usd_charged for g in rows), Decimal(0)),
    )
