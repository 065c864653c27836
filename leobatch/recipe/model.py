"""The loaded recipe: frozen values for every part of DESIGN section 3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from leobatch.errors import Problem
from leobatch.plan.jobs import Kind
from leobatch.recipe.marked import KeyPath, Marks

__all__ = [
    "DEFAULT_OUTPUT_PATH",
    "STAGE_FIELDS",
    "Axis",
    "InputFile",
    "Matrix",
    "Recipe",
    "Stage",
]

#: No ``output.path`` template: the plan names files by their matrix values, downstream files
#: after their source, falling back to ``{stage}/{job}-{index}.{ext}`` on a collision
#: (:mod:`leobatch.plan.readable`).
DEFAULT_OUTPUT_PATH: str | None = None

#: Stage keys handed to the request builder (after rendering), in a fixed order.
STAGE_FIELDS: tuple[str, ...] = (
    "model",
    "prompt",
    "negative_prompt",
    "init_image",
    "image",
    "elements",
    "guidance",
    "context_images",
    "styles",
    "motion",
    "instructions",
    "width",
    "height",
    "num_images",
    "seed",
    "params",
)


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file the recipe reads (a file axis), relative to the recipe's folder, with its hash."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Axis:
    """One matrix axis: its name, its values, and the file they came from (if any)."""

    name: str
    values: tuple[Any, ...]
    file: InputFile | None = None


@dataclass(frozen=True, slots=True)
class Matrix:
    """Axes crossed in order, combinations dropped (``exclude``) and added (``include``).

    ``where`` is the key path of the matrix in the recipe (for locating problems).
    """

    axes: tuple[Axis, ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()
    include: tuple[Mapping[str, Any], ...] = ()
    where: KeyPath = ()

    @property
    def size(self) -> int:
        """Combinations before ``exclude``: the product of the axis lengths plus the includes."""
        n = 1 if self.axes or not self.include else 0
        for axis in self.axes:
            n *= len(axis.values)
        return n + len(self.include)


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage. ``fields`` holds the request-building keys (``STAGE_FIELDS``) as written."""

    name: str
    kind: Kind
    upstream: str | None
    when: str | bool | None
    matrix: Matrix
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Recipe:
    """A recipe that passed loading, the schema and the static checks.

    ``display`` is the path as the user wrote it (problems are printed against it); ``path``
    is absolute. ``marks`` maps every key path to its 1-based ``(line, col)``.
    """

    path: Path
    display: str
    sha256: str
    name: str
    description: str | None
    vars: Mapping[str, Any]
    defaults: Mapping[str, Mapping[str, Any]]
    matrix: Matrix
    stages: tuple[Stage, ...]
    output_dir: Path
    #: The ``output.path`` template as written; ``None`` for the default names.
    output_path: str | None
    budget_credits: int | None = None
    budget_usd: Decimal | None = None
    unknown_job_ceiling: int | None = None  # credits a job of unknown price reserves
    unknown_job_ceiling_usd: Decimal | None = None
    concurrency: int | None = None
    create_per_minute: int | None = None
    requests_per_minute: int | None = None
    retry_failed_jobs: int = 2
    #: ``output.metadata``: write each output's provenance inside it (false: files as served)
    output_metadata: bool = True
    files: tuple[InputFile, ...] = ()
    marks: Marks = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The recipe's folder: local files must stay inside it."""
        return self.path.parent

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def locate(self, path: KeyPath, message: str) -> Problem:
        """A Problem at ``path``, or at its nearest enclosing key that the YAML has."""
        return locate(self.display, self.marks, path, message)


def locate(display: str, marks: Marks, path: KeyPath, message: str) -> Problem:
    """A Problem at the key path ``path`` or the nearest enclosing one present in ``marks``."""
    p = tuple(path)
    while p and p not in marks:
        p = p[:-1]
    line, col = marks.get(p, (1, 1))
    return Problem(display, line, col, message)
