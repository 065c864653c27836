"""One stage's keys rendered for one combination and handed to the request builder.

Templates are found once per stage; a value without a template is passed through as written.
``params`` is the recipe's ``defaults[kind]`` merged under the stage's own ``params``; the
stage's ``params`` may also be one ``{{ expression }}`` rendering to a mapping. The builder's
FieldProblems are located at the stage key that caused them (or, for a param that came from
``defaults``, at that default). A retired model or kind is refused here, before the request is
built; a model retiring soon is a warning.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from leobatch.plan.jobs import Job
from leobatch.plan.lifecycle import Verdict, kind_verdict, model_verdict
from leobatch.plan.render import Renderer, TemplateFailure
from leobatch.recipe.marked import KeyPath
from leobatch.recipe.model import Recipe, Stage
from leobatch.request import BuiltRequest, build_request

__all__ = ["StageFields"]

Report = Callable[[KeyPath, str], None]


#: Text fields that get a stand-in value when their template fails (see ``StageFields.build``).
_TEXT_FIELDS = frozenset({"prompt", "negative_prompt", "instructions"})


class _Failed(Exception):
    pass


class StageFields:
    """Renders a stage's keys and builds its request, once per job."""

    def __init__(
        self,
        recipe: Recipe,
        stage: Stage,
        renderer: Renderer,
        day: datetime.date | None = None,
        warn: Report | None = None,
    ) -> None:
        self.recipe = recipe
        self.stage = stage
        self.renderer = renderer
        self.day = day or datetime.date.today()
        self.warn = warn
        raw = stage.fields.get("params")
        #: ``params: "{{ p }}"``: the whole mapping comes from one template, rendered per job
        self.params_template: str | None = raw if isinstance(raw, str) else None
        self.params: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        defaults = recipe.defaults.get(stage.kind, {})
        self.all_defaults: Mapping[str, Any] = defaults
        self.defaults = {k: v for k, v in defaults.items() if k not in self.params}
        self.others = {k: v for k, v in stage.fields.items() if k != "params"}
        self.has_params = bool(self.params or self.defaults or "params" in stage.fields)
        self.kind_verdict = kind_verdict(stage.kind, self.day)
        self.verdicts: dict[str, Verdict | None] = {}
        # which keys need rendering at all, found once: (where, name) pairs
        self.templated = frozenset(
            (group, name)
            for group, values in (("o", self.others), ("d", self.defaults), ("p", self.params))
            for name, value in values.items()
            if _has_template(value)
        )

    def build(
        self, context: Mapping[str, Any], upstream: Job | None, report: Report
    ) -> tuple[BuiltRequest, Any] | None:
        """The built request and the rendered prompt, or None after reporting problems."""
        base: KeyPath = ("stages", self.stage.name)
        verdict = self.kind_verdict
        if verdict is not None and verdict.level == "error":
            report((*base, "kind"), verdict.message)
            return None
        if verdict is not None and self.warn is not None:
            self.warn((*base, "kind"), verdict.message)
        # Fields whose template failed are left out, and the request is still checked, so that
        # one bad template does not hide the other mistakes; problems about a left-out field
        # (e.g. "prompt is required") are not reported twice.
        failed: list[tuple[str | int, ...]] = []
        fields: dict[str, Any] = {}
        for name, value in self.others.items():
            try:
                fields[name] = self._value("o", name, value, (*base, name), context, report)
            except _Failed:
                failed.append((name,))
                if name in _TEXT_FIELDS:  # keep "needs a prompt" from echoing the failure
                    fields[name] = "x"
        own = self.params
        if self.params_template is not None:
            try:
                own = self._own_params(context, report)
            except _Failed:
                failed.append(("params",))
                own = {}
        defaults = {k: v for k, v in self.defaults.items() if k not in own}
        params: dict[str, Any] = {}
        for name, value in defaults.items():
            try:
                where = ("defaults", self.stage.kind, name)
                params[name] = self._value("d", name, value, where, context, report)
            except _Failed:
                failed.append(("params", name))
        for name, value in own.items():
            if self.params_template is not None:  # rendered already
                params[name] = value
                continue
            try:
                params[name] = self._value(
                    "p", name, value, (*base, "params", name), context, report
                )
            except _Failed:
                failed.append(("params", name))
        if self.has_params:
            fields["params"] = params
        model = fields.get("model")
        if isinstance(model, str) and ("model",) not in failed:
            if model not in self.verdicts:  # one look-up per model name, not per job
                self.verdicts[model] = model_verdict(model, self.day)
            said = self.verdicts[model]
            if said is not None and said.level == "error":
                report((*base, "model"), said.message)
                return None
            if said is not None and self.warn is not None:
                self.warn((*base, "model"), said.message)
        result = build_request(
            self.stage.kind,
            fields,
            upstream_kind=upstream.kind if upstream else None,
            upstream_size=upstream.size if upstream else None,
            recipe_dir=self.recipe.folder,
            upstream_endpoint=upstream.endpoint if upstream else None,
            from_defaults=frozenset(defaults),
        )
        if isinstance(result, BuiltRequest):
            return None if failed else (result, fields.get("prompt"))
        for field_problem in result:
            if not any(field_problem.path[: len(f)] == f for f in failed):
                report(self._where(field_problem.path, defaults), field_problem.message)
        return None

    def _own_params(self, context: Mapping[str, Any], report: Report) -> Mapping[str, Any]:
        """``params: "{{ expression }}"`` rendered: it must give a mapping."""
        assert self.params_template is not None
        where: KeyPath = ("stages", self.stage.name, "params")
        value = self._render(self.params_template, where, context, report)
        if not isinstance(value, Mapping):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            report(where, f"params must render to a mapping, not {shown}")
            raise _Failed
        return {str(k): v for k, v in value.items()}

    def _where(self, path: tuple[str | int, ...], defaults: Mapping[str, Any]) -> KeyPath:
        stage: KeyPath = ("stages", self.stage.name)
        if path and path[0] == "params" and len(path) > 1:
            name = path[1]
            if name in defaults:
                return ("defaults", self.stage.kind, *path[1:])
        return (*stage, *path)

    def _value(
        self,
        group: str,
        name: str,
        value: Any,
        where: KeyPath,
        context: Mapping[str, Any],
        report: Report,
    ) -> Any:
        if (group, name) not in self.templated:
            return value
        return self._render(value, where, context, report)

    def _render(
        self, value: Any, where: KeyPath, context: Mapping[str, Any], report: Report
    ) -> Any:
        if isinstance(value, str):
            if not self.renderer.is_template(value):
                return value
            try:
                return self.renderer.render(value, context)
            except TemplateFailure as e:
                report(where, f"{_dotted(where)}: {e}")
                raise _Failed from None
        if isinstance(value, list):
            return [self._render(v, (*where, i), context, report) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self._render(v, (*where, k), context, report) for k, v in value.items()}
        return value


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False


def _dotted(where: KeyPath) -> str:
    """``params.width`` or ``prompt``: the key path inside the stage (or the defaults)."""
    inner = where[2:] if where[:1] in (("stages",), ("defaults",)) else where
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in inner).replace(".[", "[")
