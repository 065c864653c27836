"""Where a report's data lies: the output folder of a recipe (or a folder given directly).

The recipe is read only to find its output folder and the order of its axis values. A recipe
that no longer loads (edited since the run, a file axis gone) must not stop a report of what was
rendered: the output folder is then read from the YAML as written, or taken as the default
``out/<name>``, and the manifest alone is enough.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ReportSource", "resolve_source"]


@dataclass(frozen=True, slots=True)
class ReportSource:
    """The output folder, the recipe's folder (``None`` when given a folder), the recipe's
    order of each axis's values, and a note when the recipe could not be used."""

    output_dir: Path
    recipe_dir: Path | None
    order: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    note: str | None = None


def resolve_source(target: Path) -> ReportSource:
    """``target`` is a recipe file, an output folder holding a ``manifest.json``, or that
    ``manifest.json`` itself (one ``leobatch collect`` merged, say)."""
    if target.is_dir():
        return ReportSource(target, None)
    if target.name == "manifest.json":
        return ReportSource(target.parent, None)
    from leobatch.errors import RecipeError
    from leobatch.recipe import load_recipe

    try:
        recipe = load_recipe(target)
    except RecipeError as e:
        n = len(e.problems)
        note = (
            f"{target} does not load any more ({n} problem{'s' if n != 1 else ''}; "
            "`leobatch validate` lists them): reporting from the manifest alone"
        )
        return ReportSource(_output_dir_as_written(target), target.parent, {}, note)
    order: dict[str, list[Any]] = {}
    for matrix in (recipe.matrix, *(stage.matrix for stage in recipe.stages)):
        for axis in matrix.axes:
            order.setdefault(axis.name, []).extend(axis.values)
        for entry in matrix.include:
            for name, value in entry.items():
                order.setdefault(name, []).append(value)
    return ReportSource(recipe.output_dir, recipe.folder, order)


def _output_dir_as_written(recipe: Path) -> Path:
    """``output.dir`` read from the YAML without any check (default ``out/<name or stem>``)."""
    import yaml

    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    top: dict[str, Any] = data if isinstance(data, dict) else {}
    output = top.get("output")
    name = top.get("name") if isinstance(top.get("name"), str) else recipe.stem
    folder = output.get("dir") if isinstance(output, dict) else None
    folder = folder if isinstance(folder, str) else f"out/{name}"
    return (recipe.parent / folder).resolve()
