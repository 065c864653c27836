"""The recipe's JSON Schema (draft 2020-12): finding it, and turning its errors into Problems.

The schema ships inside the wheel as ``leobatch/schemas/recipe.schema.json`` (hatchling
force-includes ``schemas/recipe.schema.json``); in a source checkout it is read from the tree.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from leobatch.errors import Problem
from leobatch.recipe.marked import KeyPath, Marks
from leobatch.recipe.model import locate

__all__ = ["schema", "schema_findings", "schema_path", "schema_problems"]

_SOURCE_TREE = Path(__file__).resolve().parents[2] / "schemas" / "recipe.schema.json"


def schema_path() -> Path:
    """Where the schema file is: inside the installed package, else in the source tree."""
    packaged = files("leobatch").joinpath("schemas").joinpath("recipe.schema.json")
    if packaged.is_file():
        return Path(str(packaged))
    return _SOURCE_TREE


@cache
def schema() -> dict[str, Any]:
    """The recipe schema, parsed once."""
    loaded = json.loads(schema_path().read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def schema_problems(value: Any, marks: Marks, display: str) -> list[Problem]:
    """Every schema violation of ``value``, each located at its key."""
    return [locate(display, marks, path, message) for path, message in schema_findings(value)]


def schema_findings(value: Any) -> list[tuple[KeyPath, str]]:
    """Every schema violation of ``value`` as (key path, message), but those the plan-time
    rules report better (see ``_checked_at_plan``)."""
    found = [
        item
        for error in _validator().iter_errors(value)
        if not _checked_at_plan(error)
        for item in _describe(error)
    ]
    return list(dict.fromkeys(found))


def _checked_at_plan(error: ValidationError) -> bool:
    """Whether the plan-time rules check what ``error`` is about, with a better message.

    The schema types ``params`` fields and lists catalogue names so that editors complete and
    flag them; leobatch's own rules know more (a model's own seed range, any spelling of a
    name, UUIDs, the live catalogue, retired models and their replacements), and still run
    on a stage that the schema finds no other fault in.
    """
    path = tuple(error.absolute_path)
    in_params = len(path) >= 4 and path[0] == "stages" and path[2] == "params"
    in_defaults = len(path) >= 3 and path[0] == "defaults"
    catalogue = isinstance(error.schema, dict) and "x-catalogue" in error.schema
    return in_params or in_defaults or catalogue


def _untemplated(error: ValidationError) -> bool:
    """Whether ``error`` is a plain string failing the ``templated`` pattern."""
    return error.validator == "pattern" and error.validator_value == _TEMPLATE_PATTERN


_TEMPLATE_PATTERN = "\\{\\{|\\{%"


def _dotted(path: KeyPath) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "the recipe"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null"


def _describe(error: ValidationError) -> Iterator[tuple[KeyPath, str]]:
    path: KeyPath = tuple(error.absolute_path)
    where = _dotted(path)
    kind = error.validator
    rule: Any = error.validator_value
    node: Any = error.schema
    instance: Any = error.instance
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(node.get("properties", {}))
        for key in error.instance:
            if key in known:
                continue
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f" (known: {', '.join(known)})"
            yield (*path, key), f"{where}: unknown key {key!r}{hint}"
        return
    if kind == "required":
        missing = [k for k in rule if k not in instance]
        for key in missing:
            yield path, f"{where}: missing required key {key!r}"
        return
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        yield (*path, error.instance), f"{where}: {error.instance!r} is not a valid name here"
        return
    if kind == "type":
        expected = rule
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        yield path, f"{where}: expected {wanted}, got {_type_name(error.instance)}"
        return
    if kind == "enum":
        choices = [str(c) for c in rule]
        near = difflib.get_close_matches(str(error.instance), choices, n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]!r}?" if near else f" (one of: {', '.join(choices)})"
        yield path, f"{where}: {_short(error.instance)} is not allowed{hint}"
        return
    if kind == "anyOf" and error.context and all(e.validator == "required" for e in error.context):
        # alternatives of required keys (an element's name or akUUID): one message for all
        keys = [
            k
            for e in error.context
            for k in cast(list[str], e.validator_value)
            if k not in instance
        ]
        others = " or ".join(repr(k) for k in keys[1:])
        yield (
            path,
            f"{where}: missing required key {keys[0]!r}" + (f" (or {others})" if others else ""),
        )
        return
    if kind in ("oneOf", "anyOf") and error.context:
        # the branch whose type fits says what is wrong inside; else list the types allowed
        fitting = [e for e in error.context if e.validator != "type" and not _untemplated(e)]
        if not fitting and any(_untemplated(e) for e in error.context):
            types = [
                _TYPE_NAMES.get(str(e.validator_value), str(e.validator_value))
                for e in error.context
                if e.validator == "type"
            ]
            wanted = " or ".join([*types, 'a template ("{{ expression }}")'])
            yield path, f"{where}: expected {wanted}, got {_type_name(instance)}"
            return
        if fitting:
            for branch_error in fitting:
                yield from _describe(branch_error)
            return
        wanted = " or ".join(
            _TYPE_NAMES.get(str(e.validator_value), str(e.validator_value)) for e in error.context
        )
        yield path, f"{where}: expected {wanted}, got {_type_name(instance)}"
        return
    if kind in ("minItems", "minProperties"):
        what = "value" if kind == "minItems" else "entry"
        yield path, f"{where}: needs at least {rule} {what}{'' if rule == 1 else 's'}"
        return
    if kind == "pattern" and path and path[-1] == "file":
        yield path, f"{where}: an axis file must be .csv, .jsonl or .txt, not {instance!r}"
        return
    message = error.message
    if len(message) > 160:
        message = message[:157] + "..."
    yield path, f"{where}: {message}"
