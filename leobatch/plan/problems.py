"""Problems found while expanding, located in the recipe and deduplicated across combinations.

A 10,000-job recipe with one bad field prints one line: the first combination's values, and
"(in N combinations)" when more than one combination hit the same problem at the same place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leobatch.errors import Problem, RecipeError
from leobatch.recipe.marked import KeyPath
from leobatch.recipe.model import Recipe

__all__ = ["MAX_DISTINCT", "Problems", "describe_combo"]

#: Stop expanding once this many distinct problems are known: the user has enough to fix.
MAX_DISTINCT = 100


def describe_combo(matrix: Mapping[str, Any]) -> str:
    """``model=phoenix-1.0, seed=11``: a combination's values, each shortened."""
    parts = []
    for name, value in matrix.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > 40:
            text = text[:37] + "..."
        parts.append(f"{name}={text}")
    return ", ".join(parts)


@dataclass
class _Seen:
    where: KeyPath
    stage: str | None
    combo: str
    message: str
    count: int = 1


@dataclass
class Problems:
    """Collects located problems for one expansion."""

    recipe: Recipe
    _seen: dict[tuple[KeyPath, str | None, str], _Seen] = field(default_factory=dict)
    _plain: list[Problem] = field(default_factory=list)

    def add(
        self, where: KeyPath, message: str, *, stage: str | None, matrix: Mapping[str, Any]
    ) -> None:
        """A problem at ``where`` for one combination of ``stage``."""
        key = (where, stage, message)
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = _Seen(where, stage, describe_combo(matrix), message)
        else:
            seen.count += 1

    def add_plain(self, where: KeyPath, message: str) -> None:
        """A problem that belongs to no combination."""
        self._plain.append(self.recipe.locate(where, message))

    @property
    def full(self) -> bool:
        """Whether enough distinct problems are known to stop looking."""
        return len(self._seen) + len(self._plain) >= MAX_DISTINCT

    def __bool__(self) -> bool:
        return bool(self._seen or self._plain)

    def error(self) -> RecipeError:
        """Every problem as one RecipeError."""
        found = list(self._plain)
        for seen in self._seen.values():
            head = f"stage {seen.stage!r}" if seen.stage else "recipe"
            if seen.combo:
                head += f" ({seen.combo})"
            tail = f" (in {seen.count} combinations)" if seen.count > 1 else ""
            found.append(self.recipe.locate(seen.where, f"{head}: {seen.message}{tail}"))
        return RecipeError(found)
