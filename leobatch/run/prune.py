"""``leobatch prune``: delete the files and journal rows of jobs no longer in the recipe.

What may be deleted is narrow on purpose. A file is deleted only when the journal records it as
an output of a job the recipe no longer yields (and not in flight), it lies inside output.dir,
no component of its path is a symbolic link (folders are opened one name at a time with
``O_NOFOLLOW``, as downloads are written), it is a regular file whose sha256 is still the one
journaled when it was downloaded (so a file the user or a later job put there is kept), and no
job of the recipe writes to that path. Anything else is kept and listed with the reason.

Order makes a killed prune safe to run again: files first (re-checked as each is deleted), then
the journal rows in one transaction, then the manifest. A re-run finds the files gone and the
rows still there, or nothing left to do; the manifest also loses any job that is neither in the
recipe nor in the journal (left by a prune killed before it rewrote it). Folders that end up
empty on the way to a deleted file are removed (``rmdir`` only removes empty folders).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from leobatch.plan.jobs import Plan
from leobatch.run.diff import RemovedJob, removed_jobs
from leobatch.run.journal import Journal, OutputState
from leobatch.run.journal_records import STATE_DIR

__all__ = ["FileAction", "PruneFile", "PrunePlan", "Pruned", "apply_prune", "plan_prune"]

Action = Literal["delete", "missing", "kept"]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)


@dataclass(frozen=True, slots=True)
class FileAction:
    """What prune does with one journaled output: ``delete`` it, nothing (``missing``: already
    gone), or ``kept`` with ``why``."""

    action: Action
    bytes: int | None = None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class PruneFile:
    """One journaled output of a pruned job and its fate."""

    output: OutputState
    fate: FileAction

    @property
    def job_key(self) -> str:
        """The key of the job the file is an output of."""
        return self.output.job_key

    @property
    def path(self) -> str:
        """Where the file is, relative to output.dir."""
        return self.output.path


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """The jobs to forget, those left alone because they are in flight, and their files."""

    output_dir: Path
    jobs: tuple[RemovedJob, ...]
    in_flight: tuple[RemovedJob, ...]
    files: tuple[PruneFile, ...]
    #: paths a job of the recipe (or a job kept in the journal) writes to: never deleted
    claimed: frozenset[str] = frozenset()

    @property
    def deletable(self) -> tuple[PruneFile, ...]:
        """The files that would be deleted."""
        return tuple(f for f in self.files if f.fate.action == "delete")

    @property
    def bytes(self) -> int:
        """Bytes the deletable files hold."""
        return sum(f.fate.bytes or 0 for f in self.deletable)


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune did: jobs forgotten, files deleted and their bytes, empty folders removed,
    and the files it kept after all (changed between listing and deleting)."""

    jobs: int
    files: int
    bytes: int
    folders: int
    kept: tuple[PruneFile, ...]


def plan_prune(plan: Plan, journal: Journal) -> PrunePlan:
    """What pruning ``plan``'s output directory would do, checking each file (nothing changes)."""
    root = Path(plan.output_dir)
    states = journal.jobs()
    outputs = journal.all_outputs()
    removed = removed_jobs(plan, states, outputs)
    gone = {job.key for job in removed}
    claimed = {path for job in plan.jobs for path in job.paths}
    claimed.update(o.path for key, outs in outputs.items() if key not in gone for o in outs)
    prunable = tuple(job for job in removed if not job.in_flight)
    files = tuple(
        PruneFile(out, _fate(root, out, claimed)) for job in prunable for out in job.outputs
    )
    in_flight = tuple(job for job in removed if job.in_flight)
    return PrunePlan(root, prunable, in_flight, files, frozenset(claimed))


def apply_prune(plan: Plan, prune: PrunePlan, journal: Journal) -> Pruned:
    """Delete ``prune``'s files (each checked again), forget its jobs, rewrite the manifest.

    ``journal`` must be open to write: it holds output.dir's lock, so no run writes meanwhile.
    """
    root = prune.output_dir
    deleted, size, kept = 0, 0, []
    folders: set[tuple[str, ...]] = set()
    for item in prune.deletable:
        fate = _delete(root, item.output, prune.claimed)
        if fate.action == "delete":
            deleted += 1
            size += fate.bytes or 0
            parts = PurePosixPath(item.path).parts[:-1]
            folders.update(parts[:n] for n in range(1, len(parts) + 1))
        elif fate.action == "kept":
            kept.append(PruneFile(item.output, fate))
    removed_folders = sum(_rmdir(root, p) for p in sorted(folders, key=len, reverse=True))
    forgotten = journal.forget(job.key for job in prune.jobs)
    _rewrite_manifest(root, plan, journal)
    return Pruned(forgotten, deleted, size, removed_folders, tuple(kept))


def _fate(root: Path, out: OutputState, claimed: set[str] | frozenset[str]) -> FileAction:
    with _checked(root, out, claimed) as (fate, _, _):
        return fate


def _delete(root: Path, out: OutputState, claimed: frozenset[str]) -> FileAction:
    with _checked(root, out, claimed) as (fate, folder, ino):
        if fate.action != "delete" or folder is None:
            return fate
        name = PurePosixPath(out.path).name
        try:
            # The name must still be the file just verified (not swapped for another since).
            if os.stat(name, dir_fd=folder, follow_symlinks=False).st_ino != ino:
                return FileAction("kept", why="replaced while prune checked it")
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            return FileAction("missing")
        except OSError as e:
            return FileAction("kept", why=f"cannot delete: {e.strerror}")
        return fate


@contextmanager
def _checked(
    root: Path, out: OutputState, claimed: set[str] | frozenset[str]
) -> Iterator[tuple[FileAction, int | None, int | None]]:
    """The fate of ``out``'s file, with its open folder and inode while it is deletable."""
    parts = PurePosixPath(out.path).parts
    if out.sha256 is None:
        yield FileAction("missing"), None, None  # never downloaded: nothing of it is on disk
        return
    if not parts or PurePosixPath(out.path).is_absolute() or ".." in parts or parts[0] == STATE_DIR:
        yield FileAction("kept", why="not a path inside output.dir"), None, None
        return
    if out.path in claimed:
        yield FileAction("kept", why="a job of the recipe writes to this path"), None, None
        return
    try:
        folder = _open_folder(root, parts[:-1])
    except _Blocked as e:
        yield FileAction("kept", why=str(e)), None, None
        return
    if folder is None:
        yield FileAction("missing"), None, None
        return
    try:
        fate, ino = _verify(folder, parts[-1], out.sha256)
        yield fate, folder, ino
    finally:
        os.close(folder)


def _verify(folder: int, name: str, sha256: str) -> tuple[FileAction, int | None]:
    """Whether ``name`` in ``folder`` is a regular file with this sha256 (and its inode)."""
    try:
        mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return FileAction("missing"), None
    except OSError as e:
        return FileAction("kept", why=f"cannot read: {e.strerror}"), None
    if stat.S_ISLNK(mode):
        return FileAction("kept", why="a symbolic link, not followed"), None
    if not stat.S_ISREG(mode):
        return FileAction("kept", why="not a regular file"), None
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    except OSError as e:
        return FileAction("kept", why=f"cannot read: {e.strerror}"), None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return FileAction("kept", why="not a regular file"), None
        hasher = hashlib.sha256()
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
        digest = hasher.hexdigest()
    if digest != sha256:
        return FileAction("kept", why="changed since leobatch downloaded it"), None
    return FileAction("delete", bytes=info.st_size), info.st_ino


class _Blocked(Exception):
    """A folder on the way is a symbolic link or not a folder."""


def _open_folder(root: Path, names: tuple[str, ...]) -> int | None:
    """``root/names`` opened one name at a time without following a link (``None``: missing)."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _Blocked(f"output.dir cannot be opened: {e.strerror}") from e
    for i, name in enumerate(names):
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            return None
        except OSError as e:
            os.close(fd)
            where = "/".join(names[: i + 1])
            raise _Blocked(f"{where!r} is a symbolic link or not a folder: not followed") from e
        os.close(fd)
        fd = child
    return fd


def _rmdir(root: Path, parts: tuple[str, ...]) -> bool:
    """Remove the folder ``root/parts`` if it is empty (and no link on the way)."""
    try:
        parent = _open_folder(root, parts[:-1])
    except _Blocked:
        return False
    if parent is None:
        return False
    try:
        os.rmdir(parts[-1], dir_fd=parent)  # refuses a folder that is not empty, and a link
    except OSError:
        return False
    finally:
        os.close(parent)
    return True


def _rewrite_manifest(root: Path, plan: Plan, journal: Journal) -> None:
    """Drop from the manifest every job neither in the recipe nor in the journal."""
    from leobatch.manifest import write_manifest

    path = root / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        jobs = manifest["jobs"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no manifest to correct (the next run writes one)
    keep = {job.key for job in plan.jobs} | {state.key for state in journal.jobs()}
    kept = [job for job in jobs if isinstance(job, dict) and job.get("key") in keep]
    if len(kept) == len(jobs):
        return
    totals = manifest.get("totals")
    if isinstance(totals, dict):
        complete = sum(1 for j in kept if j.get("status") == "complete")
        failed = sum(1 for j in kept if j.get("status") == "failed")
        totals.update(
            jobs=len(kept),
            complete=complete,
            failed=failed,
            pending=len(kept) - complete - failed,
            credits_estimated=sum(j.get("credits_estimated") or 0 for j in kept),
            credits_charged=sum(j.get("credits_charged") or 0 for j in kept),
        )
    write_manifest(path, {**manifest, "jobs": kept})
