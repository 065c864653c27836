"""``load_recipe``: YAML with marks -> version check -> JSON Schema -> static checks -> Recipe."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from leobatch.errors import Problem, RecipeError
from leobatch.plan.jobs import Kind
from leobatch.plan.outputs import output_dir_problem
from leobatch.recipe.axisfiles import AxisFileError, confined, read_axis_file
from leobatch.recipe.marked import KeyPath, Marks, parse_yaml
from leobatch.recipe.model import (
    DEFAULT_OUTPUT_PATH,
    STAGE_FIELDS,
    Axis,
    InputFile,
    Matrix,
    Recipe,
    Stage,
    locate,
)
from leobatch.recipe.schema import schema_findings

__all__ = ["RESERVED_NAMES", "SUPPORTED_VERSION", "load_recipe"]

SUPPORTED_VERSION = 1
#: Template names leobatch defines itself; vars and axes may not take them.
RESERVED_NAMES = frozenset({"stage", "recipe", "upstream", "job", "index", "ext"})
MAX_RECIPE_BYTES = 16 * 1024 * 1024


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read, validate and statically check the recipe at ``path``.

    Raises RecipeError carrying every problem found, each as ``file:line:col: message``.
    """
    display = os.fspath(path)
    absolute = Path(display).absolute()
    try:
        data = absolute.read_bytes()
    except OSError as e:
        problem = Problem(display, 1, 1, f"cannot read the recipe: {e.strerror or e}")
        raise RecipeError([problem]) from None
    if len(data) > MAX_RECIPE_BYTES:
        raise RecipeError([Problem(display, 1, 1, "the recipe is larger than 16 MiB")])
    parsed = parse_yaml(data)
    if parsed.problems:
        raise RecipeError([Problem(display, ln, col, msg) for ln, col, msg in parsed.problems])
    value, marks = parsed.value, parsed.marks

    def at(where: KeyPath, message: str) -> Problem:
        return locate(display, marks, where, message)

    if not isinstance(value, dict):
        raise RecipeError([at((), "a recipe is a mapping with at least `version` and `stages`")])
    version = value.get("version")
    if "version" in value and (type(version) is not int or version != SUPPORTED_VERSION):
        raise RecipeError(
            [
                at(
                    ("version",),
                    f"unsupported recipe version {version!r}: this leobatch reads "
                    f"version {SUPPORTED_VERSION}",
                )
            ]
        )
    digest = hashlib.sha256(data).hexdigest()
    findings = schema_findings(value)
    if not findings:
        return _build(value, marks, display, absolute, digest)
    # One pass: the parts the schema errors leave well-formed are still checked, so that
    # every mistake (an unknown model, a `from` naming no stage...) is reported at once.
    problems = [at(path, message) for path, message in findings]
    kept = _well_formed(value, [path for path, _ in findings])
    if kept is None:
        raise RecipeError(problems)
    doc, skipped, expandable = kept
    try:
        recipe = _build(doc, marks, display, absolute, digest, skipped)
    except RecipeError as e:
        partial = e.partial if expandable else None
        raise RecipeError([*problems, *e.problems], partial=partial) from None
    raise RecipeError(problems, partial=recipe if expandable else None)


#: Top-level sections an error in which changes what every template sees: the stages cannot
#: be expanded meaningfully without them.
_CONTEXT_SECTIONS = frozenset({"vars", "matrix", "defaults"})
#: Stage keys whose error makes the whole stage meaningless; an error in any other key the
#: schema knows skips the stage too (its message would repeat as a semantic one), while an
#: unknown key is simply left out.
_KNOWN_STAGE_KEYS = frozenset({"kind", "from", "when", "matrix", *STAGE_FIELDS})


def _well_formed(
    doc: Mapping[str, Any], paths: list[KeyPath]
) -> tuple[dict[str, Any], frozenset[str], bool] | None:
    """``doc`` without what the schema errors at ``paths`` make meaningless: the stages they
    touch (returned by name), the keys they name elsewhere; and whether the rest can still be
    expanded. ``None`` when nothing can be checked (no usable ``stages``)."""
    stages_doc = doc.get("stages")
    if not isinstance(stages_doc, dict) or not stages_doc:
        return None
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    stages = {k: (dict(v) if isinstance(v, dict) else v) for k, v in stages_doc.items()}
    skipped: set[str] = set()
    expandable = True
    for path in paths:
        if not path:
            continue  # a missing `version`: nothing else depends on it
        head = path[0]
        if head == "stages":
            if len(path) == 1:
                return None
            name = str(path[1])
            stage = stages.get(name)
            if len(path) > 2 and isinstance(stage, dict) and path[2] not in _KNOWN_STAGE_KEYS:
                stage.pop(str(path[2]), None)
            else:
                skipped.add(name)
        elif head in _CONTEXT_SECTIONS:
            expandable = False
            out.pop(str(head), None)
        elif len(path) > 1 and isinstance(out.get(str(head)), dict):
            out[str(head)].pop(str(path[1]), None)  # budget, limits, retry, output: defaults
        else:
            out.pop(str(head), None)
    out["stages"] = {k: v for k, v in stages.items() if k not in skipped}
    return out, frozenset(skipped), expandable


def _build(
    doc: Mapping[str, Any],
    marks: Marks,
    display: str,
    path: Path,
    sha256: str,
    skipped: frozenset[str] = frozenset(),
) -> Recipe:
    """The Recipe of a schema-valid ``doc``; ``skipped`` names stages left out for their schema
    errors (a ``from`` naming one is not reported again, and its stage is left out too)."""
    problems: list[Problem] = []
    folder = path.parent

    def at(where: KeyPath, message: str) -> None:
        problems.append(locate(display, marks, where, message))

    files: list[InputFile] = []
    variables = dict(doc.get("vars") or {})
    for name in variables:
        if name in RESERVED_NAMES:
            at(("vars", name), f"vars.{name}: {name!r} is reserved for leobatch's own use")
    matrix = _matrix(doc.get("matrix") or {}, ("matrix",), folder, files, at)
    stages_doc: Mapping[str, Any] = doc["stages"]
    stages = tuple(
        Stage(
            name=name,
            kind=cast(Kind, s["kind"]),
            upstream=s.get("from"),
            when=s.get("when"),
            matrix=_matrix(s.get("matrix") or {}, ("stages", name, "matrix"), folder, files, at),
            fields={k: s[k] for k in STAGE_FIELDS if k in s},
        )
        for name, s in stages_doc.items()
    )
    graph_problems: list[Problem] = []
    broken = _check_graph(
        stages,
        lambda where, message: graph_problems.append(locate(display, marks, where, message)),
        skipped,
    )
    _check_excludes(matrix, stages, at)
    name = doc.get("name") or path.stem
    output = doc.get("output") or {}
    out_dir = output.get("dir", f"out/{name}")
    try:
        holding = output_dir_problem(folder, out_dir, name)  # '.', '..': among the user's files
        if holding is not None:
            raise AxisFileError(holding)
        output_dir = confined(folder, out_dir)
    except AxisFileError as e:
        at(("output", "dir"), f"output.dir: {e}")
        output_dir = folder / "out"
    if problems:
        raise RecipeError([*problems, *graph_problems])
    budget = doc.get("budget") or {}
    limits = doc.get("limits") or {}
    recipe = Recipe(
        path=path,
        display=display,
        sha256=sha256,
        name=name,
        description=doc.get("description"),
        vars=variables,
        defaults={k: dict(v) for k, v in (doc.get("defaults") or {}).items()},
        matrix=matrix,
        stages=stages,
        output_dir=output_dir,
        output_path=output.get("path", DEFAULT_OUTPUT_PATH),
        budget_credits=budget.get("max_credits"),
        budget_usd=_usd(budget.get("max_usd")),
        unknown_job_ceiling=budget.get("unknown_job_ceiling"),
        unknown_job_ceiling_usd=_usd(budget.get("unknown_job_ceiling_usd")),
        concurrency=limits.get("concurrency"),
        create_per_minute=limits.get("create_per_minute"),
        requests_per_minute=limits.get("requests_per_minute"),
        retry_failed_jobs=(doc.get("retry") or {}).get("failed_jobs", 2),
        output_metadata=output.get("metadata", True),
        files=tuple(sorted(set(files), key=lambda f: f.path)),
        marks=marks,
    )
    if graph_problems:
        # The other stages can still be checked: hand them over with the error.
        kept = tuple(s for s in stages if not _depends_on(s, broken, stages))
        raise RecipeError(graph_problems, partial=replace(recipe, stages=kept))
    if broken:  # only downstream of skipped stages: leave them out, silently
        return replace(
            recipe, stages=tuple(s for s in stages if not _depends_on(s, broken, stages))
        )
    return recipe


def _depends_on(stage: Stage, broken: set[str], stages: tuple[Stage, ...]) -> bool:
    """Whether ``stage`` is in ``broken`` or downstream of one that is."""
    by_name = {s.name: s for s in stages}
    current: Stage | None = stage
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        if current.name in broken:
            return True
        seen.add(current.name)
        current = by_name.get(current.upstream) if current.upstream is not None else None
    return False


def _matrix(
    doc: Mapping[str, Any],
    where: KeyPath,
    folder: Path,
    files: list[InputFile],
    at: Any,
) -> Matrix:
    axes: list[Axis] = []
    for name, spec in doc.items():
        if name in ("exclude", "include"):
            continue
        if name in RESERVED_NAMES:
            at((*where, name), f"matrix axis {name!r} is reserved for leobatch's own use")
            continue
        if isinstance(spec, dict):
            try:
                values, digest = read_axis_file(folder, spec["file"])
            except AxisFileError as e:
                at((*where, name, "file"), f"matrix axis {name!r}: {e}")
                continue
            source = InputFile(str(spec["file"]), digest)
            files.append(source)
            axes.append(Axis(name, values, source))
        else:
            axes.append(Axis(name, tuple(spec)))
    exclude = tuple(doc.get("exclude") or ())
    include = tuple(doc.get("include") or ())
    return Matrix(tuple(axes), exclude, include, where)


def _check_excludes(matrix: Matrix, stages: tuple[Stage, ...], at: Any) -> None:
    """Exclude keys must be axes: of the recipe matrix, or for a stage-local matrix, of any
    matrix (a stage's combination carries its upstream's values)."""
    everywhere = {a.name for m in (matrix, *(s.matrix for s in stages)) for a in m.axes}
    for m, names in (
        (matrix, {a.name for a in matrix.axes}),
        *((s.matrix, everywhere) for s in stages),
    ):
        for i, entry in enumerate(m.exclude):
            for key in entry:
                if key not in names:
                    at(
                        (*m.where, "exclude", i, key),
                        f"exclude: {key!r} is not an axis of this matrix"
                        f" (axes: {', '.join(sorted(names)) or 'none'})",
                    )


def _check_graph(
    stages: tuple[Stage, ...], at: Any, skipped: frozenset[str] = frozenset()
) -> set[str]:
    """Report a ``from`` naming no stage and every cycle; returns the stages reported, and
    those whose ``from`` names a ``skipped`` stage (not reported: it exists, with errors)."""
    broken: set[str] = set()
    by_name = {s.name: s for s in stages}
    for stage in stages:
        if stage.upstream is None:
            continue
        if stage.upstream in skipped:
            broken.add(stage.name)
            continue
        if stage.upstream not in by_name:
            known = ", ".join(sorted(by_name))
            at(
                ("stages", stage.name, "from"),
                f"stage {stage.name!r}: from {stage.upstream!r} names no stage (stages: {known})",
            )
            broken.add(stage.name)
            continue
        seen = [stage.name]
        current: str | None = stage.upstream
        while current is not None and current in by_name:
            if current in seen:
                if current == stage.name:
                    cycle = " -> ".join([*seen, current])
                    at(("stages", stage.name, "from"), f"stage {stage.name!r}: cycle {cycle}")
                    broken.add(stage.name)
                break
            seen.append(current)
            current = by_name[current].upstream
    return broken


def _usd(value: Any) -> Decimal | None:
    """A dollar amount from YAML (a number), exactly as written (``0.1`` stays 0.1)."""
    return None if value is None else Decimal(str(value))
