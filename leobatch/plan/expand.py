"""``expand_plan``: a Recipe -> a Plan of fully rendered jobs with keys and output paths.

Root stages run once per combination of the recipe matrix (crossed with their own matrix);
a downstream stage runs once per output of every upstream job (crossed with its own matrix),
and sees everything the upstream job carried plus ``upstream``. Problems are collected for
every combination, located and deduplicated, and raised together as one RecipeError.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from leobatch.errors import Problem, RecipeError
from leobatch.plan import readable
from leobatch.plan.jobs import UPSTREAM_TEXT, Input, Job, Plan, Upstream
from leobatch.plan.keys import inputs_digest, job_key
from leobatch.plan.lifecycle import today
from leobatch.plan.limits import DEFAULT_MAX_JOBS
from leobatch.plan.matrix import combinations, guard, too_many
from leobatch.plan.ondisk import Conflict, conflicts, explain, fs_limits
from leobatch.plan.outputs import BadPath, PathRegistry, check_length, normalise
from leobatch.plan.problems import Problems, describe_combo
from leobatch.plan.render import PlanTimeSpent, Renderer, TemplateFailure
from leobatch.plan.stagefields import StageFields
from leobatch.recipe.model import Recipe, Stage

__all__ = ["DEFAULT_MAX_JOBS", "expand_plan", "plan_recipe"]

_FALSY = frozenset({"", "false", "no", "off", "0", "none", "null"})


@dataclass(frozen=True, slots=True)
class _Made:
    """A job and the template values it carries to its downstream jobs."""

    job: Job
    carried: Mapping[str, Any]


def expand_plan(recipe: Recipe, *, max_jobs: int = DEFAULT_MAX_JOBS) -> Plan:
    """Every job of ``recipe``, upstream before downstream; RecipeError lists every problem.

    The job count is checked arithmetically before anything is built: above ``max_jobs`` the
    recipe is refused at its ``matrix``.
    """
    guard(recipe, max_jobs)
    return _Expansion(recipe, max_jobs).run()


def plan_recipe(path: str | os.PathLike[str], *, max_jobs: int = DEFAULT_MAX_JOBS) -> Plan:
    """Load the recipe at ``path`` and expand it, reporting every problem of both at once.

    A mistake in the stage graph (a ``from`` naming no stage, a cycle) stops loading; the
    stages it does not touch are still expanded here, so their problems are reported with it.
    """
    from leobatch.recipe import load_recipe

    try:
        recipe = load_recipe(path)
    except RecipeError as e:
        if e.partial is None or not e.partial.stages:
            raise
        try:
            expand_plan(e.partial, max_jobs=max_jobs)
        except RecipeError as more:
            raise RecipeError([*e.problems, *more.problems]) from None
        raise
    return expand_plan(recipe, max_jobs=max_jobs)


class _Expansion:
    def __init__(self, recipe: Recipe, max_jobs: int) -> None:
        self.recipe = recipe
        self.max_jobs = max_jobs
        self.renderer = Renderer()
        self.problems = Problems(recipe)
        self.paths = PathRegistry(_describe_owner)
        self.limits = fs_limits(recipe.output_dir)
        self.dir_bytes = len(os.fsencode(recipe.output_dir))
        self.made: dict[str, list[_Made]] = {}
        self.day = today()
        #: located warnings (a model retiring soon), each once
        self.warnings: dict[tuple[Any, ...], Problem] = {}
        self.count = 0
        self.keys: set[str] = set()
        self.feeds = {s.upstream for s in recipe.stages if s.upstream is not None}
        # No output.path: readable names, settled stage by stage (leobatch.plan.readable).
        self.readable = recipe.output_path is None
        self.defaults = readable.DefaultPaths(
            [a.name for a in recipe.matrix.axes],
            [s.name for s in recipe.stages],
            self.feeds,
            lambda path: check_length(path, self.dir_bytes, self.limits),
        )
        self.files: set[tuple[str, str]] = {(f.path, f.sha256) for f in recipe.files}
        self.base: dict[str, Any] = {**recipe.vars, "recipe": {"name": recipe.name}}
        self.renderer.pin(
            [
                *self.base.values(),
                *(
                    v
                    for s in (recipe.matrix, *(st.matrix for st in recipe.stages))
                    for a in s.axes
                    for v in a.values
                ),
            ]
        )

    def run(self) -> Plan:
        try:
            for stage in _upstream_first(self.recipe.stages):
                self.made[stage.name] = []
                if self.problems.full:
                    break
                self._stage(stage)
                if self.readable:
                    self._settle(stage)
        except PlanTimeSpent:  # already reported, at the template that spent the last of it
            pass
        self._collisions()
        if not self.problems.full:
            self._on_disk()
        if self.problems:
            raise self.problems.error()
        recipe = self.recipe
        jobs = tuple(m.job for s in _upstream_first(recipe.stages) for m in self.made[s.name])
        return Plan(
            recipe_name=recipe.name,
            recipe_path=recipe.path,
            recipe_sha256=recipe.sha256,
            inputs_sha256=inputs_digest(self.files),
            output_dir=recipe.output_dir,
            stages=tuple(s.name for s in recipe.stages),
            jobs=jobs,
            budget_credits=recipe.budget_credits,
            budget_usd=recipe.budget_usd,
            unknown_job_ceiling=recipe.unknown_job_ceiling,
            unknown_job_ceiling_usd=recipe.unknown_job_ceiling_usd,
            concurrency=recipe.concurrency,
            create_per_minute=recipe.create_per_minute,
            requests_per_minute=recipe.requests_per_minute,
            retry_failed_jobs=recipe.retry_failed_jobs,
            stage_kinds={s.name: s.kind for s in recipe.stages},
            output_metadata=recipe.output_metadata,
            warnings=tuple(sorted(self.warnings.values())),
        )

    def _parents(self, stage: Stage) -> Iterator[tuple[dict[str, Any], _Made | None, int]]:
        """(matrix values, upstream job, output index) for each job this stage fans out of."""
        if stage.upstream is None:
            for combo in combinations(self.recipe.matrix):
                yield combo, None, 0
            return
        for parent in self.made.get(stage.upstream, ()):
            fan_out = 1 if parent.job.kind == "improve-prompt" else parent.job.outputs
            for index in range(fan_out):
                yield dict(parent.job.matrix), parent, index

    def _stage(self, stage: Stage) -> None:
        def warn(where: tuple[str | int, ...], message: str) -> None:
            self.warnings.setdefault(
                (where, message), self.recipe.locate(where, f"warning: {message}")
            )

        fields = StageFields(self.recipe, stage, self.renderer, self.day, warn)
        local = tuple(combinations(stage.matrix))
        for combo, parent, index in self._parents(stage):
            extras = combinations(stage.matrix, combo) if stage.matrix.exclude else local
            for extra in extras:
                matrix = {**combo, **extra}
                if parent is None:
                    context = {**self.base, **matrix, "stage": stage.name}
                else:
                    context = {**parent.carried, **extra, "stage": stage.name}
                    context["upstream"] = _upstream_values(parent.job, index)
                self._job(stage, fields, matrix, extra, context, parent, index)
                if self.problems.full:
                    return

    def _job(
        self,
        stage: Stage,
        fields: StageFields,
        matrix: dict[str, Any],
        extra: dict[str, Any],
        context: dict[str, Any],
        parent: _Made | None,
        index: int,
    ) -> None:
        def problem(where: tuple[str | int, ...], message: str) -> None:
            self.problems.add(where, message, stage=stage.name, matrix=matrix)

        if not self._wanted(stage, context, problem):
            return
        made = fields.build(context, parent.job if parent else None, problem)
        if made is None:
            return
        built, prompt = made
        upstream = None if parent is None else Upstream(parent.job.key, index)
        inputs = built.inputs
        has_text = any(i.source == "upstream-text" for i in inputs)
        if isinstance(prompt, str) and UPSTREAM_TEXT in prompt and not has_text:
            inputs = (*inputs, Input(field="prompt", source="upstream-text", id_kind=None))
        hashes = [i.sha256 for i in inputs if i.source == "file" and i.sha256]
        self.files.update((i.path or "", i.sha256 or "") for i in inputs if i.source == "file")
        key = job_key(stage.kind, built.endpoint, built.body, upstream, hashes)
        if key in self.keys:
            problem(
                ("stages", stage.name),
                "makes the same request as an earlier combination (a job is its request); "
                "use the matrix values in the request, e.g. params.seed",
            )
            return
        self.keys.add(key)
        who = (stage.name, matrix, parent.job.stage if parent else None, index)
        template = self.recipe.output_path
        if template is not None:
            paths = self._paths(
                template, stage, context, key, built.outputs, built.ext, who, problem
            )
        else:  # claimed when the stage is settled
            paths = self._default(
                stage, key, matrix, built.outputs, built.ext, extra, parent, index
            )
        input_size = built.input_size or (parent.job.size if parent else None)
        job = Job(
            key=key,
            stage=stage.name,
            kind=stage.kind,
            endpoint=built.endpoint,
            body=built.body,
            inputs=inputs,
            upstream=upstream,
            matrix=matrix,
            prompt=prompt if isinstance(prompt, str) else None,
            model=built.model,
            outputs=built.outputs,
            paths=paths,
            size=built.size,
            input_size=input_size,
        )
        carried: Mapping[str, Any] = {}
        if stage.name in self.feeds:  # only jobs with downstream jobs need their values kept
            carried = {k: v for k, v in context.items() if k not in ("stage", "upstream")}
        self.made[stage.name].append(_Made(job, carried))
        self.count += 1
        if self.count > self.max_jobs:
            raise too_many(self.recipe, self.count, self.max_jobs)

    def _wanted(self, stage: Stage, context: dict[str, Any], problem: Any) -> bool:
        if stage.when is None or isinstance(stage.when, bool):
            return stage.when is not False
        try:
            value = self.renderer.render(stage.when, context)
        except TemplateFailure as e:
            problem(("stages", stage.name, "when"), f"when: {e}")
            return False
        if isinstance(value, str):
            return value.strip().lower() not in _FALSY
        return bool(value)

    def _paths(
        self,
        template: str,
        stage: Stage,
        context: dict[str, Any],
        key: str,
        outputs: int,
        ext: str,
        who: tuple[str, Mapping[str, Any], str | None, int],
        problem: Any,
    ) -> tuple[str, ...]:
        paths = []
        for index in range(outputs):
            values = {**context, "stage": stage.name, "job": key[:12], "index": index, "ext": ext}
            try:
                path = normalise(self.renderer.render(template, values))
                check_length(path, self.dir_bytes, self.limits)
            except TemplateFailure as e:
                problem(("output", "path"), f"output.path: {e}")
                return ()
            except BadPath as e:
                problem(("output", "path"), str(e))
                return ()
            self.paths.claim(path, (*who, index, outputs))
            paths.append(path)
        return tuple(paths)

    def _default(
        self,
        stage: Stage,
        key: str,
        matrix: Mapping[str, Any],
        outputs: int,
        ext: str,
        extra: Mapping[str, Any],
        parent: _Made | None,
        index: int,
    ) -> tuple[str, ...]:
        up = parent.job if parent else None
        try:
            return self.defaults.propose(stage, key, matrix, outputs, ext, extra, up, index)
        except BadPath as e:
            self.problems.add(("output", "path"), str(e), stage=stage.name, matrix=matrix)
            return ()

    def _settle(self, stage: Stage) -> None:
        """Settle the stage's default paths (the key form for every job that shares one,
        whatever the jobs' order), then claim them as explicit output.path paths are."""
        made = self.made[stage.name]
        for position, paths in self.defaults.settle([m.job for m in made]).items():
            job = made[position].job
            if isinstance(paths, BadPath):
                self.problems.add(
                    ("output", "path"), str(paths), stage=stage.name, matrix=job.matrix
                )
                paths = ()
            made[position] = replace(made[position], job=replace(job, paths=paths))
        for m in made:
            job = m.job
            up = job.upstream
            who = (job.stage, job.matrix, stage.upstream if up else None, up.output if up else 0)
            for index, path in enumerate(job.paths):
                self.paths.claim(path, (*who, index, job.outputs))

    def _collisions(self) -> None:
        collisions = self.paths.collisions
        if not collisions:
            return
        path, first_owner, second_owner = collisions[0]
        first, second = _describe_owner(first_owner), _describe_owner(second_owner)
        more = f" (and {len(collisions) - 1} more)" if len(collisions) > 1 else ""
        self.problems.add_plain(
            ("output", "path"),
            f"output.path: {first} and {second} both render to {path!r}{more}; add what "
            "differs to output.path (e.g. {{ job }}, {{ upstream.index }})",
        )

    def _on_disk(self) -> None:
        """Planned paths that what is already in output.dir forbids: the first of each kind."""
        by_reason: dict[str, list[Conflict]] = {}
        for conflict in conflicts(self.recipe.output_dir, self.paths.claimed()):
            by_reason.setdefault(conflict.reason, []).append(conflict)
        for found in by_reason.values():
            first = found[0]
            more = f" (and {len(found) - 1:,} more)" if len(found) > 1 else ""
            self.problems.add_plain(
                ("output", "path"),
                f"output.path: {_describe_owner(first.who)} renders to {first.path!r}"
                f"{explain(first, self.recipe.output_dir)}{more}",
            )


def _describe_owner(owner: tuple[str, Mapping[str, Any], str | None, int, int, int]) -> str:
    """``stage 'hero' (seed=11) from 'base' output 1 (output 0)``: a path's writer, in words."""
    stage, matrix, parent_stage, parent_index, index, outputs = owner
    who = f"stage {stage!r}" + (f" ({describe_combo(matrix)})" if matrix else "")
    if parent_stage is not None:
        who += f" from {parent_stage!r} output {parent_index}"
    return f"{who} (output {index})" if outputs > 1 else who


def _upstream_values(job: Job, index: int) -> dict[str, Any]:
    values: dict[str, Any] = {"stage": job.stage, "index": index, "prompt": job.prompt}
    if job.kind == "improve-prompt":
        values["text"] = UPSTREAM_TEXT
    return values


def _upstream_first(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """Stages in recipe order, each moved after its upstream when it comes before it."""
    by_name = {s.name: s for s in stages}
    done: dict[str, Stage] = {}

    def visit(stage: Stage) -> None:
        if stage.name in done:
            return
        if stage.upstream is not None and stage.upstream in by_name:
            visit(by_name[stage.upstream])
        done[stage.name] = stage

    for stage in stages:
        visit(stage)
    return tuple(done.values())
