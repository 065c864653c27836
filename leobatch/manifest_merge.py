"""Merging the manifests of several shard outputs into one (``leobatch collect``), and reading
a manifest, merged or not, back with absolute paths (``status``, ``report``, ``clean``).

A shard's run (``run --shard I/N``) journals and lists the whole plan: the jobs of other shards
stay *planned* in its manifest. So every manifest to merge lists the same jobs, and a job is
taken from the one manifest that rendered it (any status but ``planned``). A job rendered in
two is an error unless both entries are identical (the same directory collected twice, say).
The merged manifest has the jobs in the shards' order, its totals recomputed with the
manifest's own arithmetic (:func:`~leobatch.manifest.manifest_totals`), and every path made
relative to its own folder; ``"collected"`` lists the shard folders (relative too), which
are the only places outside its folder a reader may follow its paths into.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leobatch._version import __version__
from leobatch.errors import ManifestError
from leobatch.manifest import manifest_totals, write_manifest
from leobatch.run.journal_records import STATUSES, GroupSummary, Summary

__all__ = ["Collected", "LoadedManifests", "collect", "load_manifests", "read_manifest_file"]

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Collected:
    """What :func:`collect` wrote: the merged manifest, and what each shard contributed."""

    path: Path
    manifest: dict[str, Any]
    #: shard folder -> jobs taken from it (rendered there)
    taken: dict[Path, int]
    #: jobs no shard rendered (still planned: a shard left out?)
    unrendered: int
    #: output files the merged manifest lists that are not on disk
    missing_files: int


@dataclass(frozen=True, slots=True)
class LoadedManifests:
    """Manifests read back for a command: their jobs with every output ``path`` absolute, and
    the output folders the jobs were rendered in (each with its journal, if it was kept)."""

    jobs: tuple[dict[str, Any], ...]
    #: the run output folders behind the manifests (a merged manifest's shard folders)
    sources: tuple[Path, ...]
    recipe_name: str | None

    def summary(self) -> Summary:
        """The jobs at a glance, as ``status`` shows a journal's (per stage and model)."""
        statuses: dict[str, int] = dict.fromkeys(STATUSES, 0)
        groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        for job in self.jobs:
            status = str(job.get("status") or "planned")
            statuses[status] = statuses.get(status, 0) + 1
            groups[(str(job.get("stage")), _model(job.get("request")))].append(job)
        outputs = [out for job in self.jobs for out in job.get("outputs") or ()]
        rows = tuple(
            GroupSummary(
                stage,
                model,
                len(members),
                sum(m.get("status") == "complete" for m in members),
                sum(m.get("status") == "failed" for m in members),
                sum(_int(m.get("credits_estimated")) or 0 for m in members),
                sum(_int(m.get("credits_estimated")) is None for m in members),
                sum(_int(m.get("credits_charged")) or 0 for m in members),
            )
            for (stage, model), members in groups.items()
        )
        return Summary(
            statuses=statuses,
            outputs=len(outputs),
            downloaded=sum(isinstance(out.get("sha256"), str) for out in outputs),
            credits_estimated=sum(g.credits_estimated for g in rows),
            unknown_estimates=sum(g.unknown_estimates for g in rows),
            credits_charged=sum(g.credits_charged for g in rows),
            groups=rows,
        )

    def failed(self) -> tuple[tuple[str, str, str | None], ...]:
        """(key, stage, error) of each failed job."""
        return tuple(
            (str(job["key"]), str(job.get("stage")), job.get("error"))
            for job in self.jobs
            if job.get("status") == "failed"
        )


def read_manifest_file(path: Path) -> dict[str, Any]:
    """Read one manifest (``path`` is the file or a folder holding ``manifest.json``)."""
    path = Path(path)
    file = path / MANIFEST if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        if (file.parent / ".leobatch").is_dir():
            raise ManifestError(
                f"{file.parent} has a run journal but no {MANIFEST}: its run stopped before "
                "writing one; run it again (the same `leobatch run ... --shard I/N`) to resume "
                "it and write its manifest"
            ) from e
        where = f"{path} has no {MANIFEST}" if path.is_dir() else f"no manifest at {file}"
        raise ManifestError(f"{where}: has anything been rendered there?") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"cannot read the manifest {file}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise ManifestError(f"{file} is not a leobatch manifest (no list of jobs)")
    for n, job in enumerate(data["jobs"]):
        if not isinstance(job, dict) or not isinstance(job.get("key"), str):
            raise ManifestError(f"{file} is not a leobatch manifest: job {n} has no key")
        if not isinstance(job.get("outputs", []), list):
            raise ManifestError(f"{file}: job {job['key'][:12]} has malformed outputs")
    return data


def collect(dirs: Sequence[Path], out: Path | None = None) -> Collected:
    """Merge the manifests of the shard output folders ``dirs`` into ``out/manifest.json``.

    ``out`` defaults to the folders' deepest common parent, so that every path stays inside
    the merged manifest's folder. Nothing is written when anything is wrong.
    """
    if not dirs:
        raise ManifestError("give the output folders of the shards to collect")
    folders = [Path(d).resolve() for d in dirs]
    if len(set(folders)) < len(folders):
        twice = next(str(d) for d, f in zip(dirs, folders, strict=True) if folders.count(f) > 1)
        raise ManifestError(f"{twice} is given twice")
    target = Path(out).resolve() if out is not None else Path(os.path.commonpath(folders))
    if target in folders or (target / ".leobatch").is_dir():
        raise ManifestError(
            f"{target} is a run's output folder: its manifest is its run's; collect into "
            "another folder (-o OUT)"
        )
    manifests = [read_manifest_file(d) for d in folders]
    for folder, data in zip(folders, manifests, strict=True):
        if data.get("collected"):
            raise ManifestError(
                f"{folder / MANIFEST} was merged by collect already: collect the shards' own "
                "output folders instead"
            )
    _check_same_plan(folders, manifests)
    chosen: dict[str, tuple[dict[str, Any], Path]] = {}
    for folder, data in zip(folders, manifests, strict=True):
        for job in data["jobs"]:
            key = job["key"]
            held = chosen.get(key)
            if held is None or (not _rendered(held[0]) and _rendered(job)):
                chosen[key] = (job, folder)
            elif _rendered(job) and job != held[0]:
                raise ManifestError(
                    f"job {key[:12]} ({job.get('stage')}) was rendered in both {held[1]} and "
                    f"{folder}, differently: were these outputs of overlapping runs? Collect "
                    "the shards of one `run --shard I/N` matrix"
                )
    # one relative prefix per shard folder (resolving every output path costs syscalls)
    prefixes = {folder: _relative(folder, target) for folder in folders}
    entries = [
        _rebased(job, prefixes[folder])
        for job, folder in (chosen[j["key"]] for j in manifests[0]["jobs"])
    ]
    taken = dict.fromkeys(folders, 0)
    for job, folder in chosen.values():
        if _rendered(job):
            taken[folder] += 1
    first = manifests[0]
    recipe = dict(first.get("recipe") or {})
    if isinstance(recipe.get("path"), str):
        recipe["path"] = _relative(folders[0] / recipe["path"], target)
    merged: dict[str, Any] = {
        "leobatch": __version__,
        "recipe": recipe,
        "totals": manifest_totals(entries),
        "collected": [
            {
                "dir": _relative(folder, target),
                "manifest_sha256": _sha256(folder / MANIFEST),
                "jobs": taken[folder],
                # what `leobatch clean` deleted of that shard, as its manifest says
                **({"cleaned": data["cleaned"]} if "cleaned" in data else {}),
            }
            for folder, data in zip(folders, manifests, strict=True)
        ],
        "jobs": entries,
    }
    missing = sum(  # on disk in its shard folder (``target`` may not exist yet)
        1
        for job, folder in chosen.values()
        for output in job.get("outputs") or ()
        if isinstance(output.get("path"), str) and not (folder / output["path"]).is_file()
    )
    write_manifest(target / MANIFEST, merged)
    return Collected(
        path=target / MANIFEST,
        manifest=merged,
        taken=taken,
        unrendered=sum(1 for job in entries if not _rendered(job)),
        missing_files=missing,
    )


def load_manifests(paths: Iterable[Path]) -> LoadedManifests:
    """Read manifests (files, or folders holding one), merged or not, for a command to act on.

    A job's output paths come back absolute. ``sources`` are the run folders behind them: a
    plain manifest's own folder, or a merged manifest's shard folders (its ``"collected"``),
    where each shard's journal (``.leobatch/``) is, if the folder was kept whole.
    """
    jobs: list[dict[str, Any]] = []
    sources: list[Path] = []
    name: str | None = None
    for path in paths:
        path = Path(path)
        file = (path / MANIFEST if path.is_dir() else path).resolve()
        data = read_manifest_file(file)
        base = file.parent
        recipe = data.get("recipe")
        if name is None and isinstance(recipe, dict) and isinstance(recipe.get("name"), str):
            name = recipe["name"]
        collected = data.get("collected")
        if isinstance(collected, list) and collected:
            found = [
                (base / str(c.get("dir", ""))).resolve() for c in collected if isinstance(c, dict)
            ]
        else:
            found = [base]
        sources += [s for s in found if s not in sources]
        for job in data["jobs"]:
            jobs.append(_absolute(job, base))
    return LoadedManifests(tuple(jobs), tuple(sources), name)


def _check_same_plan(folders: Sequence[Path], manifests: Sequence[Mapping[str, Any]]) -> None:
    """Shards of one plan list the same jobs (each lists the whole plan)."""
    first = {job["key"] for job in manifests[0]["jobs"]}
    for folder, data in zip(folders[1:], manifests[1:], strict=True):
        keys = {job["key"] for job in data["jobs"]}
        if keys != first:
            raise ManifestError(
                f"{folder / MANIFEST} is of another plan than {folders[0] / MANIFEST} "
                f"({len(keys - first)} jobs only in the one, {len(first - keys)} only in the "
                "other): were the shards run from different versions of the recipe?"
            )


def _rendered(job: Mapping[str, Any]) -> bool:
    """Whether a shard did anything with the job (a planned job was left to another shard)."""
    return job.get("status", "planned") != "planned" or bool(job.get("outputs"))


def _rebased(job: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``job`` with its output paths behind ``prefix``, its folder seen from the merged one."""
    outputs = [
        {**output, "path": posixpath.normpath(f"{prefix}/{output['path']}")}
        if isinstance(output.get("path"), str)
        else dict(output)
        for output in job.get("outputs") or ()
    ]
    return {**job, "outputs": outputs}


def _absolute(job: Mapping[str, Any], base: Path) -> dict[str, Any]:
    outputs = [
        {**output, "path": str((base / output["path"]).resolve())}
        if isinstance(output.get("path"), str)
        else dict(output)
        for output in job.get("outputs") or ()
    ]
    return {**job, "outputs": outputs}


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base)).as_posix()


def _model(request: Any) -> str | None:
    """The catalogue slug of a request's model (v1 ``modelId``, v2 and video ``model``)."""
    if not isinstance(request, dict):
        return None
    wire = request.get("modelId", request.get("model"))
    if not isinstance(wire, str):
        return None
    from leobatch.catalog import find_model

    found = find_model(wire)
    return found.slug if found is not None else wire


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
