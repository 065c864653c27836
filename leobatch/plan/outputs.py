"""Output paths: rendered from ``output.path``, normalised, confined to ``output.dir``, unique."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BadPath", "PathRegistry", "normalise"]


class BadPath(Exception):
    """A rendered output path that may not be used; the message says why."""


def normalise(rendered: object) -> str:
    """The rendered path, normalised; BadPath if it is empty, absolute or leaves the folder."""
    text = str(rendered).strip()
    if not text or "\x00" in text:
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
    return normal


@dataclass
class PathRegistry:
    """Which job output took each output path; finds collisions.

    Owners are opaque values; ``describe`` turns one into words only when there is a collision.
    """

    describe: Callable[[Any], str]
    _owner: dict[str, Any] = field(default_factory=dict)
    collisions: list[tuple[str, Any, Any]] = field(default_factory=list)

    def claim(self, path: str, who: Any) -> None:
        """Record that ``who`` writes ``path``; a second writer is a collision."""
        key = path.casefold()  # one file on case-insensitive file systems
        first = self._owner.get(key)
        if first is None:
            self._owner[key] = who
        elif len(self.collisions) < 1000:
            self.collisions.append((path, first, who))
