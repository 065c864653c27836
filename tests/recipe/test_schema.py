"""The shipped JSON Schema: valid draft 2020-12, closed, described, and found when installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from leobatch.recipe.schema import schema, schema_path

REPO = Path(__file__).resolve().parents[2]


def subschemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema inside ``node`` with a JSON-pointer-ish location."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from subschemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from subschemas(value, f"{where}/{i}")


def test_schema_is_valid_2020_12() -> None:
    """The schema checks against the draft 2020-12 meta-schema."""
    loaded = schema()
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(loaded)


def test_every_property_has_a_description() -> None:
    """Editors show a description for every key of the format."""
    missing = [
        f"{where}/{name}"
        for where, node in subschemas(schema())
        for name, prop in node.get("properties", {}).items()
        if isinstance(node.get("properties"), dict) and "description" not in prop
    ]
    assert missing == []


def test_closed_objects_refuse_unknown_keys() -> None:
    """Top level, stages, and every fixed-shape block have additionalProperties false."""
    loaded = schema()
    assert loaded["additionalProperties"] is False
    assert loaded["$defs"]["stage"]["additionalProperties"] is False
    for block in ("defaults", "budget", "limits", "retry", "output"):
        assert loaded["properties"][block]["additionalProperties"] is False


def test_source_tree_copy_is_the_one_loaded_in_a_checkout() -> None:
    """In a checkout the loader reads schemas/recipe.schema.json (the wheel ships a copy)."""
    assert json.loads(schema_path().read_text()) == json.loads(
        (REPO / "schemas" / "recipe.schema.json").read_text()
    )


def test_example_recipes_are_valid_against_the_schema_alone() -> None:
    """Editors validating the examples with the shipped schema see no errors."""
    validator = Draft202012Validator(schema())
    for path in sorted((REPO / "recipes").glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], path.name


def test_installed_layout_reads_the_packaged_copy(tmp_path: Path) -> None:
    """Laid out as the wheel installs it (schema inside the package), validation still works."""
    site = tmp_path / "site"
    shutil.copytree(
        REPO / "leobatch", site / "leobatch", ignore=shutil.ignore_patterns("__pycache__")
    )
    (site / "leobatch" / "schemas").mkdir()
    shutil.copy(REPO / "schemas" / "recipe.schema.json", site / "leobatch" / "schemas")
    code = (
        "import leobatch, sys\n"
        "from leobatch.recipe.schema import schema_path\n"
        "from leobatch import load_recipe, expand_plan\n"
        "print(schema_path())\n"
        "print(len(expand_plan(load_recipe(sys.argv[1])).jobs))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "recipes" / "quickstart.yaml")],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    where, jobs = result.stdout.split()
    assert Path(where) == site / "leobatch" / "schemas" / "recipe.schema.json"
    assert jobs == "6"
