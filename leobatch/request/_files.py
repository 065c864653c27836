"""Local input files: confined to the recipe's folder tree, hashed once per content version.

A plan of 100,000 jobs may name the same file 100,000 times, so resolution and hashing are
cached: the resolved path per (recipe folder, name), the sha256 and pixel size per
(path, mtime, size). A changed file is seen by its new mtime and size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG

__all__ = ["IMAGE_SUFFIXES", "LocalFile", "local_file"]

#: what ``POST /init-image`` accepts as an extension
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A checked local image: ``path`` relative to the recipe folder (POSIX), sha256, size."""

    path: str
    sha256: str
    size: tuple[int, int] | None


def local_file(recipe_dir: Path, name: object) -> LocalFile | str:
    """The file ``name`` names inside ``recipe_dir``'s tree, or why it cannot be used."""
    if not isinstance(name, str) or not name.strip():
        return f"must be a path to an image file, not {name!r}"
    resolved = _resolve(str(recipe_dir), name)
    if isinstance(resolved, str):
        return resolved
    full, relative = resolved
    try:
        stat = full.stat()
    except OSError:
        return f"file {name!r} does not exist (paths are relative to the recipe's folder)"
    if not S_ISREG(stat.st_mode):
        return f"{name!r} is not a file"
    try:
        sha256, size = _digest(full, stat.st_mtime_ns, stat.st_size)
    except OSError as e:
        return f"file {name!r} cannot be read: {e.strerror}"
    return LocalFile(relative, sha256, size)


@lru_cache(maxsize=4096)
def _resolve(recipe_dir: str, name: str) -> tuple[Path, str] | str:
    root = Path(recipe_dir).resolve()
    candidate = Path(name)
    if candidate.suffix.lower() not in IMAGE_SUFFIXES:
        return f"{name!r} must be a {', '.join(IMAGE_SUFFIXES)} image"
    full = (root / candidate).resolve()  # resolves symlinks, so a link cannot lead outside
    if not full.is_relative_to(root):
        return f"{name!r} is outside the recipe's folder; local files must stay inside it"
    return full, full.relative_to(root).as_posix()


@lru_cache(maxsize=4096)
def _digest(path: Path, mtime_ns: int, size: int) -> tuple[str, tuple[int, int] | None]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), _pixels(path)


def _pixels(path: Path) -> tuple[int, int] | None:
    """The image's (width, height) from its header, or ``None`` when Pillow cannot tell."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            return int(width), int(height)
    except (UnidentifiedImageError, OSError):
        return None
