"""The shipped JSON Schema: valid draft 2020-12, closed, described, and found when installed."""

from __future__ import annotations

import json
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
