"""Matrix combinations: the product of the axes in order, minus ``exclude``, plus ``include``.

Counting is arithmetic (``guard``) so that a huge matrix is refused before anything is built.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from leobatch.errors import RecipeError
from leobatch.recipe.model import Matrix, Recipe, Stage

__all__ = ["combinations", "estimated_jobs", "guard"]


def combinations(
    matrix: Matrix, carried: Mapping[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Every combination of ``matrix``: axis name -> value, in recipe order.

    ``exclude`` entries are matched against ``carried`` (the values an upstream job carried)
    updated with the combination, so a stage-local exclude may name upstream axes too.
    """
    names = tuple(axis.name for axis in matrix.axes)
    if names:
        for values in itertools.product(*(axis.values for axis in matrix.axes)):
            combo = dict(zip(names, values, strict=True))
            seen = combo if not carried else {**carried, **combo}
            if not any(_matches(seen, entry) for entry in matrix.exclude):
                yield combo
    elif not matrix.include:
        yield {}
    for entry in matrix.include:
        yield dict(entry)


def _matches(value: Any, pattern: Any) -> bool:
    """Whether ``value`` matches ``pattern``: mappings match on the keys the pattern gives."""
    if isinstance(pattern, Mapping) and isinstance(value, Mapping):
        return all(k in value and _matches(value[k], v) for k, v in pattern.items())
    return bool(value == pattern and type(value) is type(pattern)) or (
        _number(value) and _number(pattern) and value == pattern
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _outputs_hint(recipe: Recipe, stage: Stage) -> int:
    """A lower bound of each job's outputs, from a literal ``num_images`` when there is one."""
    if stage.kind == "improve-prompt":
        return 1  # its downstream fans out once per job: the improved text
    if stage.kind != "image":
        return 1
    params = {**recipe.defaults.get("image", {}), **(stage.fields.get("params") or {})}
    n = params.get("num_images")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def estimated_jobs(recipe: Recipe) -> dict[str, int]:
    """Jobs per stage before exclusions and ``when``: an upper bound of the combinations,
    with downstream fan-out from literal ``num_images`` values."""
    by_name = {s.name: s for s in recipe.stages}
    counts: dict[str, int] = {}

    def count(stage: Stage) -> int:
        if stage.name in counts:
            return counts[stage.name]
        if stage.upstream is None:
            n = recipe.matrix.size * stage.matrix.size
        else:
            up = by_name[stage.upstream]
            n = count(up) * _outputs_hint(recipe, up) * stage.matrix.size
        counts[stage.name] = n
        return n

    for stage in recipe.stages:
        count(stage)
    return counts


def guard(recipe: Recipe, max_jobs: int) -> None:
    """Refuse a recipe whose jobs, counted arithmetically, pass ``max_jobs``."""
    counts = estimated_jobs(recipe)
    total = sum(counts.values())
    if total <= max_jobs:
        return
    raise too_many(recipe, total, max_jobs)


def too_many(recipe: Recipe, total: int, max_jobs: int) -> RecipeError:
    """The located error for a recipe that expands past ``max_jobs`` jobs."""
    where: tuple[str, ...] = ("matrix",)
    combos = recipe.matrix.size
    head = f"matrix: {combos:,} combinations make"
    biggest = max(recipe.stages, key=lambda s: s.matrix.size)
    if combos <= 1 and biggest.matrix.size > 1:
        where = ("stages", biggest.name, "matrix")
        head = f"stage {biggest.name!r}: its matrix of {biggest.matrix.size:,} combinations makes"
    elif combos <= 1:
        head = "the recipe makes"
    message = (
        f"{head} {total:,} jobs, more than the limit of {max_jobs:,}; "
        "narrow the matrix or raise the limit with --max-jobs"
    )
    return RecipeError([recipe.locate(where, message)])
