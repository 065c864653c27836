"""Planned output paths against what is already on disk, checked before anything is paid.

A planned path is refused when a component of it below output.dir is a symbolic link (a link
would send the file outside output.dir), when a folder on the way is a file, when the path is
an existing folder, or when it is an existing file that this output.dir's journal does not record
as one of its outputs (so leobatch never overwrites a file it did not write: the user's notes,
``.git/config``, the recipe). output.dir itself was resolved when the recipe was loaded: a link
in it that stays inside the recipe's folder is followed there, so the folder checked here (and
written to by the run) is the real one, with no link in it.

The tree can change between plan and run; the downloader checks again as it writes
(:mod:`leobatch.run.download`). Cost: one ``lstat`` of output.dir, one directory listing per
existing folder the plan writes into (not one ``stat`` per file), and when some planned file
exists, one read-only query of the journal.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from leobatch.plan.outputs import FsLimits

__all__ = ["Conflict", "conflicts", "explain", "fs_limits"]

Reason = Literal["link", "not-a-folder", "folder", "foreign"]

_MISSING = "missing"
#: Kinds of directory entries, as a listing tells them without a stat.
_LINK, _DIR, _FILE = "link", "dir", "file"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A planned ``path`` that may not be written, why, and the component in the way
    (``blocker``: the path itself, or one of its folders), and who planned it."""

    path: str
    reason: Reason
    blocker: str
    who: Any


def fs_limits(folder: Path) -> FsLimits:
    """NAME_MAX and PATH_MAX of the file system ``folder`` is (or will be) on: asked of its
    nearest existing ancestor; 255 and 4096 when the system does not say."""
    probe = folder
    while not _exists(probe) and probe.parent != probe:
        probe = probe.parent
    return FsLimits(
        name_max=_pathconf(probe, "PC_NAME_MAX", 255),
        path_max=_pathconf(probe, "PC_PATH_MAX", 4096),
    )


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a path too long to stat (ENAMETOOLONG) does not exist either
        return False


def _pathconf(path: Path, name: str, fallback: int) -> int:
    try:
        value = os.pathconf(path, name)
    except (OSError, ValueError):
        return fallback
    return value if value > 0 else fallback


@dataclass(frozen=True, slots=True)
class _Listing:
    """An existing folder's entries: name -> kind, and casefolded name -> name."""

    entries: dict[str, str]
    folded: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Blocked:
    """A folder that cannot be written into: ``blocker`` is a link or not a folder."""

    blocker: str
    reason: Reason


class _Tree:
    """What exists under ``root``, learnt lazily: each folder listed at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, _Listing | _Blocked | str] = {}

    def folder(self, rel: str) -> _Listing | _Blocked | str:
        """The listing of folder ``rel`` (``""``: root), why it is blocked, or _MISSING."""
        known = self.folders.get(rel)
        if known is not None:
            return known
        if rel == "":
            found = self._root()
        else:
            parent_rel, name = posixpath.split(rel)
            parent = self.folder(parent_rel)
            if not isinstance(parent, _Listing):
                found = parent
            else:
                kind = self.kind(parent, rel, name)
                if kind == _DIR:
                    found = self._list(rel)
                elif kind == _LINK:
                    found = _Blocked(rel, "link")
                elif kind == _MISSING:
                    found = _MISSING
                else:
                    found = _Blocked(rel, "not-a-folder")
        self.folders[rel] = found
        return found

    def kind(self, listing: _Listing, rel: str, name: str) -> str:
        """The kind of entry ``name`` (at ``rel``) in ``listing``, or _MISSING."""
        kind = listing.entries.get(name)
        if kind is not None:
            return kind
        if name.casefold() not in listing.folded:
            return _MISSING
        # Only the case differs: whether that is the same file is the file system's call.
        try:
            mode = os.lstat(self.root / rel).st_mode
        except OSError:
            return _MISSING
        return _kind_of(mode)

    def _root(self) -> _Listing | _Blocked | str:
        try:
            mode = os.lstat(self.root).st_mode
        except FileNotFoundError:
            return _MISSING
        except OSError as e:
            if e.errno != errno.ENAMETOOLONG:
                raise
            return _MISSING  # nothing can be there; the plan already says the paths are too long
        kind = _kind_of(mode)
        if kind != _DIR:
            return _Blocked("", "link" if kind == _LINK else "not-a-folder")
        return self._list("")

    def _list(self, rel: str) -> _Listing:
        entries: dict[str, str] = {}
        try:
            with os.scandir(self.root / rel) as it:
                for entry in it:
                    # d_type answers these without a stat on most file systems.
                    if entry.is_symlink():
                        entries[entry.name] = _LINK
                    elif entry.is_dir(follow_symlinks=False):
                        entries[entry.name] = _DIR
                    else:
                        entries[entry.name] = _FILE
        except OSError:
            pass  # unreadable: nothing can be written there either, and the run will say so
        return _Listing(entries, {name.casefold(): name for name in entries})


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return _LINK
    return _DIR if stat.S_ISDIR(mode) else _FILE


def conflicts(root: Path, claimed: Iterable[tuple[str, Any]]) -> list[Conflict]:
    """The planned ``(path, who)`` pairs under output.dir ``root`` that may not be written, in
    plan order (see the module docstring for the rules)."""
    tree = _Tree(root)
    found: list[Conflict] = []
    existing: list[tuple[int, str, Any]] = []
    for path, who in claimed:
        parent_rel, name = posixpath.split(path)
        parent = tree.folder(parent_rel)
        if isinstance(parent, _Blocked):
            found.append(Conflict(path, parent.reason, parent.blocker, who))
            continue
        if not isinstance(parent, _Listing):
            continue  # the folder does not exist yet: nor does the file
        kind = tree.kind(parent, path, name)
        if kind == _LINK:
            found.append(Conflict(path, "link", path, who))
        elif kind == _DIR:
            found.append(Conflict(path, "folder", path, who))
        elif kind == _FILE:
            existing.append((len(found), path, who))
            found.append(Conflict(path, "foreign", path, who))
    if existing:
        ours = _journaled(root)
        keep = {i for i, path, _ in existing if path in ours}
        found = [c for i, c in enumerate(found) if i not in keep]
    return found


def explain(conflict: Conflict, root: Path) -> str:
    """The end of a conflict's message (after its path): what is in the way, what to do."""
    if conflict.blocker == "":  # output.dir itself (resolved at load: a file, or changed since)
        return f", but output.dir {str(root)!r} is not a folder: move it or change output.dir"
    if conflict.reason == "link":
        link = "which is" if conflict.blocker == conflict.path else f"whose {conflict.blocker!r} is"
        return (
            f", {link} a symbolic link; leobatch does not write through links (they can lead "
            "outside output.dir): remove it or change output.path"
        )
    if conflict.reason == "not-a-folder":
        return f", but {conflict.blocker!r} is a file, not a folder: move it or change output.path"
    if conflict.reason == "folder":
        return ", which is an existing folder: move it or change output.path"
    return (
        f": {root / conflict.path} already exists and no leobatch run in this output.dir wrote "
        "it; move it away or change output.path"
    )


def _journaled(root: Path) -> frozenset[str]:
    """Every output path this output.dir's journal records (empty without a journal)."""
    from leobatch.run.journal import Journal

    if not Journal.exists(root):
        return frozenset()
    with Journal.open_readonly(root) as journal:
        return frozenset(o.path for outs in journal.all_outputs().values() for o in outs)
