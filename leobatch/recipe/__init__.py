"""Load and validate recipes: safe YAML with marks, the JSON Schema, static checks."""

from __future__ import annotations

from leobatch.recipe.load import load_recipe
from leobatch.recipe.model import Axis, InputFile, Matrix, Recipe, Stage

__all__ = ["Axis", "InputFile", "Matrix", "Recipe", "Stage", "load_recipe"]
