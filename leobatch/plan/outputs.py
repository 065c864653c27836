"""Output paths: rendered from ``output.path``, normalised, confined to ``output.dir``, unique.

Everything here is pure (no file system access); :mod:`leobatch.plan.ondisk` holds the checks
against what is already on disk. A path is refused when it:

- is empty, absolute, holds a NUL or a backslash, names a folder, or leaves ``output.dir``;
- names leobatch's own files: anything in ``.leobatch/`` (journal, lock) or the manifest and its
  temporary files (the future ``report/`` folder is not reserved yet);
- would not fit the file system: a file name longer than NAME_MAX less the download's temporary
  decoration (:func:`part_name`), a folder name longer than NAME_MAX, or a whole temporary path
  longer than PATH_MAX.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leobatch.run.journal_records import STATE_DIR

__all__ = [
    "MANIFEST_NAME",
    "PART_EXTRA_BYTES",
    "BadPath",
    "FsLimits",
    "PathRegistry",
    "check_length",
    "normalise",
    "output_dir_problem",
    "part_name",
]

#: The manifest's name in output.dir (``leobatch.manifest``); its temporary files are
#: ``.manifest.json.<random>.tmp``.
MANIFEST_NAME = "manifest.json"
#: Length of the random part of a download's temporary name.
PART_TOKEN_CHARS = 8
#: What :func:`part_name` adds to a file name: ``.`` before, ``.<token>.part`` after.
PART_EXTRA_BYTES = len(".") + len(".") + PART_TOKEN_CHARS + len(".part")


class BadPath(Exception):
    """A rendered output path that may not be used; the message says why."""


def part_name(name: str, token: str) -> str:
    """The temporary name a download of ``name`` streams into (``token``: PART_TOKEN_CHARS)."""
    return f".{name}.{token}.part"


def normalise(rendered: object) -> str:
    """The rendered path, normalised; BadPath if it is empty, absolute, leaves the folder or
    names one of leobatch's own files."""
    text = str(rendered).strip()
    if "\x00" in text:
        raise BadPath(f"output path {text!r} contains a NUL character, which no file name can hold")
    if not text:
        raise BadPath("output.path renders to an empty path")
    if "\\" in text:
        raise BadPath(f"output path {text!r} contains a backslash; use '/'")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise BadPath(f"output path {text!r} is absolute; it must stay inside output.dir")
    normal = posixpath.normpath(text)
    if normal in (".", "") or normal == ".." or normal.startswith("../"):
        raise BadPath(f"output path {text!r} escapes output.dir")
    if text.endswith("/"):
        raise BadPath(f"output path {text!r} names a folder, not a file")
    try:
        normal.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPath(f"output path {text!r} holds characters no file name can hold") from None
    _refuse_reserved(normal)
    return normal


def _refuse_reserved(normal: str) -> None:
    # casefold: on a case-insensitive file system '.LeoBatch/lock' is the lock itself.
    top, _, rest = normal.partition("/")
    top = top.casefold()
    if top == STATE_DIR:
        where = "is inside .leobatch/, the folder" if rest else "is .leobatch, the folder"
        raise BadPath(
            f"output path {normal!r} {where} where leobatch keeps its journal and lock; "
            "choose another folder"
        )
    if not rest and (top == MANIFEST_NAME or top.startswith(f".{MANIFEST_NAME}.")):
        raise BadPath(
            f"output path {normal!r} is the name of leobatch's manifest (or its temporary "
            "file); choose another name"
        )


@dataclass(frozen=True, slots=True)
class FsLimits:
    """The file system's limits, in bytes: one name (NAME_MAX), one whole path (PATH_MAX)."""

    name_max: int = 255
    path_max: int = 4096


def check_length(path: str, dir_bytes: int, limits: FsLimits) -> None:
    """BadPath if ``path`` (normalised) cannot be written under an output.dir whose absolute
    path is ``dir_bytes`` long: the download's temporary file must fit too."""
    parts = path.split("/")
    for part in parts[:-1]:
        size = len(part.encode("utf-8"))
        if size > limits.name_max:
            raise BadPath(
                f"output path {_short(path)!r}: the folder name {_short(part)!r} is {size} "
                f"bytes long; this file system allows {limits.name_max}"
            )
    name = parts[-1]
    size = len(name.encode("utf-8"))
    allowed = limits.name_max - PART_EXTRA_BYTES
    if size > allowed:
        raise BadPath(
            f"output path {_short(path)!r}: the file name is {size} bytes long; this file "
            f"system allows {allowed} ({limits.name_max} less {PART_EXTRA_BYTES} for the "
            "download's temporary name)"
        )
    # dir + '/' + path + the temporary decoration; PATH_MAX counts the terminating NUL.
    total = dir_bytes + 1 + len(path.encode("utf-8")) + PART_EXTRA_BYTES
    if total >= limits.path_max:
        raise BadPath(
            f"output path {_short(path)!r} makes a {total}-byte path under output.dir (with "
            f"the download's temporary name); this file system allows {limits.path_max - 1}"
        )


def _short(text: str, keep: int = 60) -> str:
    """``text`` cut to about ``keep`` characters: a 300-character name is not worth printing."""
    if len(text) <= keep:
        return text
    return f"{text[: keep - 20]}...{text[-17:]}"


def output_dir_problem(folder: Path, out_dir: str, name: str) -> str | None:
    """Why ``out_dir`` (as written, relative to the recipe's ``folder``) may not be output.dir:
    it is the recipe's folder or one above it, where leobatch would write among the user's
    files (the recipe itself, ``.git/``, notes). ``None`` when it is not."""
    if not out_dir or "\x00" in out_dir:
        return None  # refused elsewhere, with its own message
    root = folder.resolve()
    target = (root / out_dir).resolve()
    if target != root and target not in root.parents:
        return None
    return (
        f"{out_dir!r} is the recipe's own folder{'' if target == root else ' or above it'}, "
        f"where leobatch would write among your files; use a subfolder such as 'out/{name}'"
    )


@dataclass
class PathRegistry:
    """Which job output took each output path; finds collisions.

    Owners are opaque values; ``describe`` turns one into words only when there is a collision.
    """

    describe: Callable[[Any], str]
    _owner: dict[str, tuple[str, Any]] = field(default_factory=dict)
    collisions: list[tuple[str, Any, Any]] = field(default_factory=list)

    def claim(self, path: str, who: Any) -> None:
        """Record that ``who`` writes ``path``; a second writer is a collision."""
        key = path.casefold()  # one file on case-insensitive file systems
        first = self._owner.get(key)
        if first is None:
            self._owner[key] = (path, who)
        elif len(self.collisions) < 1000:
            self.collisions.append((path, first[1], who))

    def claimed(self) -> Iterable[tuple[str, Any]]:
        """Every claimed path with its first owner, in the order they were claimed."""
        return self._owner.values()
