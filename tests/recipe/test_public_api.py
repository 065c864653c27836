"""The top-level ``leobatch`` API: what ``__all__`` promises, imported lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import leobatch


def test_all_names_resolve() -> None:
    """Every name in ``leobatch.__all__`` is an attribute of the package."""
    assert sorted(leobatch.__all__) == sorted(set(leobatch.__all__))
    for name in leobatch.__all__:
        assert getattr(leobatch, name) is not None, name
    assert {"load_recipe", "expand_plan", "Plan", "Job", "Recipe", "RecipeError"} <= set(
        leobatch.__all__
    )


def test_import_is_lazy() -> None:
    """``import leobatch`` does not import the recipe, plan or jinja2 machinery."""
    code = (
        "import sys, leobatch; "
        "print(sorted(m for m in ('leobatch.recipe', 'leobatch.plan', 'jinja2', 'jsonschema') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A name that is not public raises AttributeError like any module."""
    with pytest.raises(AttributeError, match="no_such_name"):
        leobatch.no_such_name  # noqa: B018
