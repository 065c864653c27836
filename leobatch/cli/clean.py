"""``leobatch clean RECIPE``: delete what the recipe's runs made, from the account and/or disk."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click

from leobatch._loop import run as run_async
from leobatch.cli._errors import EXIT_OK
from leobatch.cli._options import is_quiet, max_jobs_option
from leobatch.cli._select import select_plan, selection_of, selection_options

if TYPE_CHECKING:
    from leobatch.plan.jobs import Plan
    from leobatch.run.clean import Cleaned, CleanItem, CleanPlan
    from leobatch.run.journal import Journal

__all__ = ["command"]

_NAMES = {
    "generation": "generation",
    "variation": "variation",
    "motion-variation": "video upscale",
    "init-image": "upload",
    "file": "file",
}


@click.command(name="clean")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--remote",
    is_flag=True,
    help="Delete the generations, variations and uploads from the account.",
)
@click.option("--local", is_flag=True, help="Delete the files leobatch downloaded.")
@click.option(
    "--force",
    is_flag=True,
    help="Also delete what a kept job or another recipe still needs (its source, its upload).",
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed off a terminal)."
)
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (one per folder with --dir on a merged manifest).",
)
@click.option(
    "--dir",
    "target",
    type=click.Path(exists=True, path_type=Path),
    help="Clean this output folder, or the shard folders of this merged manifest (from "
    "`leobatch collect`; a folder holding one, or the file), instead of the recipe's output.dir.",
)
@max_jobs_option
@selection_options
def command(
    recipe: Path,
    remote: bool,
    local: bool,
    force: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
    target: Path | None,
    max_jobs: int,
    **select: Any,
) -> int:
    """Delete what RECIPE's runs made: from the account (--remote) the generations, their
    variations and the uploaded init images, and/or (--local) the downloaded files.

    Only what the journal records is touched, never anything matched by prompt. Lists what it
    will delete and asks first. Every deletion is journaled: an interrupted clean resumes, a
    repeated one does nothing, an id already gone is fine. Kept unless --force: a generation
    a kept downstream job needs as its source, an upload a kept job or another recipe of the
    account uses. Local files are deleted only while they are still as leobatch downloaded
    them (sha256), inside output.dir, reached through no link. The selection options clean
    only the jobs they select (--stage: that stage's jobs, not their upstream). Jobs in
    flight are never cleaned; refused while a run holds the output directory. The manifest
    and `status` say what was cleaned. With --dir, a merged manifest's shard folders are
    cleaned one after the other, each from its own journal. Needs LEONARDO_API_KEY for --remote.
    """
    from leobatch.plan.expand import plan_recipe

    if not (remote or local):
        raise click.UsageError(
            "say what to clean: --remote (the account), --local (files), or both"
        )
    if not (yes or dry_run) and not sys.stdin.isatty():
        raise click.UsageError(
            "not on a terminal: add --yes to clean without confirmation (--dry-run only lists)"
        )
    plan = plan_recipe(recipe, max_jobs=max_jobs)
    selection = selection_of(**select)
    keys = select_plan(plan, selection).keys
    if keys is not None and select.get("stages"):
        stages = set(select["stages"])
        keys = frozenset(j.key for j in plan.jobs if j.key in keys and j.stage in stages)
    folders = [Path(plan.output_dir)] if target is None else _folders(target)
    for n, out_dir in enumerate(folders):
        if len(folders) > 1 and not as_json and not is_quiet():
            click.echo(f"{'' if n == 0 else chr(10)}{out_dir}:")
        run_plan = plan if out_dir == Path(plan.output_dir) else replace(plan, output_dir=out_dir)
        _clean_one(run_plan, keys, remote=remote, local=local, force=force, yes=yes,
                   dry_run=dry_run, as_json=as_json)  # fmt: skip
    return EXIT_OK


def _folders(target: Path) -> list[Path]:
    """The run folders behind ``target``: a merged manifest's shard folders, else the folder."""
    from leobatch.manifest_merge import MANIFEST, load_manifests

    folder = target if target.is_dir() else target.parent
    if target.is_dir() and not (target / MANIFEST).is_file():
        return [folder.resolve()]  # a run folder whose run wrote no manifest yet
    return list(load_manifests([target]).sources)


def _clean_one(
    plan: Plan,
    keys: frozenset[str] | None,
    *,
    remote: bool,
    local: bool,
    force: bool,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Clean one output folder (``plan.output_dir``) from its journal."""
    from leobatch.cli._emulated import require_key
    from leobatch.errors import LockedError
    from leobatch.run.journal import Journal

    out_dir = Path(plan.output_dir)
    if not Journal.exists(out_dir):
        _say(as_json, {"output_dir": str(out_dir), "dry_run": dry_run, "items": []},
             f"Nothing to clean: nothing has run in {out_dir}.")  # fmt: skip
        return
    if remote:
        require_key()
    others = run_async(_other_uploads, out_dir) if remote else ({}, None)
    try:
        journal = Journal.open_readonly(out_dir) if dry_run else Journal.open(out_dir)
    except LockedError as e:
        raise LockedError(f"cannot clean: {e}; clean once it has finished") from None
    with journal:
        from leobatch.run.clean import plan_clean

        clean = plan_clean(plan, journal, keys=keys, remote=remote, local=local, force=force,
                           other_uploads=others[0], account=others[1])  # fmt: skip
        todo = clean.having("delete", "with")
        if not as_json and not is_quiet():
            for line in _listing(clean):
                click.echo(line)
        if dry_run or not todo:
            if as_json:
                click.echo(json.dumps(_json(clean, dry_run, None)))
            elif not is_quiet():
                click.echo("Dry run: nothing was deleted." if dry_run else "Nothing to clean.")
            if not dry_run and clean.having("missing"):
                _apply(journal, clean, remote=False, account=None)  # journal files found gone
            return
        if not yes:
            question = f"Delete {_count_line(todo)}?"
            if not click.confirm(question, default=False, err=as_json):
                click.echo("Nothing was deleted.", err=as_json)
                return
        done = _apply(journal, clean, remote=remote, account=others[1])
    if as_json:
        click.echo(json.dumps(_json(clean, False, done)))
    elif not is_quiet():
        click.echo(_done_line(done))
        for item in done.kept:
            click.echo(f"Kept {_NAMES[item.target]} {item.ident}: {item.why}")


async def _other_uploads(out_dir: Path) -> tuple[dict[str, str], str | None]:
    """Init-image ids other recipes of the account still use (id -> recipe), and the account."""
    from leobatch.account_store import account_fingerprint
    from leobatch.cli._emulated import Endpoint, open_client
    from leobatch.run.account_records import journals

    async with open_client(Endpoint(None, None, 1.0)) as client:
        account = await client.me()
        fingerprint = account_fingerprint(client.base_url, account.user_id)
    entries = await anyio.to_thread.run_sync(journals, fingerprint)
    return _uses(e.output_dir for e in entries if e.output_dir != out_dir.resolve()), fingerprint


def _uses(dirs: Any) -> dict[str, str]:
    """Uploads referenced by a job of another journal whose generation is not cleaned."""
    from leobatch.run.clean import referenced_ids
    from leobatch.run.cleanups import DONE, cleanups, uploads
    from leobatch.run.journal import Journal

    used: dict[str, str] = {}
    for directory in dirs:
        with Journal.open_readonly(directory) as other:
            ids = set(uploads(other).values())
            cleaned = {i for (t, i), c in cleanups(other).items() if c.status in DONE}
            name = other.meta().get("recipe") or str(directory)
            for state in other.jobs():
                if state.remote_id in cleaned or state.status == "planned":
                    continue
                for value in referenced_ids(state.request):
                    if value in ids:
                        used[value] = f"{name} ({directory})"
    return used


def _apply(journal: Journal, clean: CleanPlan, *, remote: bool, account: str | None) -> Cleaned:
    from leobatch.run.clean import Cleaned
    from leobatch.run.clean_apply import apply_local

    done = Cleaned()
    if remote:
        done = run_async(_remote, journal, clean, account)
    local = apply_local(journal, clean)
    for (target, status), n in local.counts.items():
        done.counts[(target, status)] = n
    done.bytes, done.folders = local.bytes, local.folders
    done.kept += local.kept
    _mark_manifest(clean.output_dir, journal)
    return done


async def _remote(journal: Journal, clean: CleanPlan, account: str | None) -> Cleaned:
    from leobatch.cli._emulated import Endpoint, open_client
    from leobatch.run.account_records import forget_upload
    from leobatch.run.clean_apply import apply_remote

    def forget(image_id: str) -> None:
        if account is not None:
            forget_upload(account, image_id)

    async with open_client(Endpoint(None, None, 1.0)) as client:
        return await apply_remote(client, journal, clean, forget_upload=forget)


def _mark_manifest(out_dir: Path, journal: Journal) -> None:
    """The manifest's ``cleaned`` section, now (the next run keeps it current)."""
    from leobatch.manifest import write_manifest
    from leobatch.run.cleanups import cleaned_summary

    path = out_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no manifest yet: the next run writes one, with the section
    summary = cleaned_summary(journal)
    if isinstance(manifest, dict) and summary is not None:
        write_manifest(path, {**manifest, "cleaned": summary})


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _count_line(items: tuple[CleanItem, ...]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.target] = counts.get(item.target, 0) + 1
    return ", ".join(_n(n, _NAMES[t]) for t, n in counts.items())


def _listing(clean: CleanPlan) -> list[str]:
    lines = []
    remote = clean.having("delete", "with", remote=True)
    if remote:
        lines.append(f"To delete from the account: {_count_line(remote)}:")
        for item in remote:
            via = f" (goes with generation {item.via})" if item.action == "with" else ""
            stage = f"  {item.stage} {item.job_key[:12]}" if item.job_key else ""
            lines.append(f"  - {_NAMES[item.target]} {item.ident}{via}{stage}")
    files = clean.having("delete", remote=False)
    if files:
        size = sum(i.bytes or 0 for i in files)
        lines.append(f"To delete in {clean.output_dir}: {_n(len(files), 'file')} ({size:,} bytes):")
        lines.extend(f"  - {item.ident}" for item in files)
    for item in clean.having("kept"):
        lines.append(f"Keep {_NAMES[item.target]} {item.ident}: {item.why}")
    done = clean.having("done")
    if done:
        lines.append(f"Cleaned before: {_count_line(done)}.")
    if clean.in_flight:
        lines.append(
            f"In flight, not cleaned ({len(clean.in_flight)}): clean again once a run has "
            "settled them."
        )
    return lines


def _done_line(done: Cleaned) -> str:
    parts = []
    for (target, status), n in sorted(done.counts.items()):
        word = "deleted" if status == "deleted" else "already gone"
        parts.append(f"{_n(n, _NAMES[target])} {word}")
    folders = f"; {_n(done.folders, 'empty folder')} removed" if done.folders else ""
    size = f" ({done.bytes:,} bytes of files)" if done.bytes else ""
    return "Cleaned: " + (", ".join(parts) or "nothing") + size + folders + "."


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        click.echo(json.dumps(data))
    elif not is_quiet():
        click.echo(text)


def _json(clean: CleanPlan, dry_run: bool, done: Cleaned | None) -> dict[str, Any]:
    return {
        "output_dir": str(clean.output_dir),
        "dry_run": dry_run,
        "items": [
            {
                "target": i.target,
                "id": i.ident,
                "job": i.job_key,
                "stage": i.stage,
                "action": i.action,
                "why": i.why,
                "via": i.via,
            }
            for i in clean.items
        ],
        "in_flight": [s.key for s in clean.in_flight],
        "done": (
            [{"target": t, "status": s, "count": n} for (t, s), n in sorted(done.counts.items())]
            if done is not None
            else []
        ),
        "kept": [{"target": i.target, "id": i.ident, "why": i.why} for i in done.kept]
        if done is not None
        else [],
    }
