"""Sandboxed Jinja rendering of recipe templates, each template compiled once.

A string that is exactly one ``{{ expression }}`` renders to the expression's native value
(an int stays an int, a mapping stays a mapping); any other template renders to a string;
a string without ``{`` is not a template at all. Every failure (undefined name, sandbox
refusal, syntax, runtime error) becomes a ``TemplateFailure`` carrying a readable message.

Templates are untrusted code held to a budget (``leobatch.plan.sandbox`` enforces it as they
run): 1 MB per value and per output, ``TIME_LIMIT_S`` per render, and ``PLAN_TIME_LIMIT_S``
for all renders of one plan together. The plan's limit is not a recipe setting: the
templates of a 10,000-job plan take about 0.1 s, so 10 s is only ever reached by a template
that does far more work than a prompt needs; its one failure names the template that was
rendering when the time ran out, and the expansion stops there (``PlanTimeSpent``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from time import perf_counter
from typing import Any

from jinja2 import Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from leobatch.plan.guards import MAX_CHARS, MAX_ITEMS, Breach, forget, weight
from leobatch.plan.hints import undefined_message, unknown_name_message
from leobatch.plan.sandbox import OutOfTime, Sandbox

__all__ = [
    "PLAN_TIME_LIMIT_S",
    "TIME_LIMIT_S",
    "PlanTimeSpent",
    "Renderer",
    "TemplateFailure",
]

_SINGLE = re.compile(r"\A\{\{-?(.*?)-?\}\}\Z", re.DOTALL)
#: One render of one template may take this long.
TIME_LIMIT_S = 1.0
#: All renders of one plan together may take this long: a template that takes 0.9 s per job
#: is within the limit above, and would take 2.5 hours over 10,000 jobs.
PLAN_TIME_LIMIT_S = 10.0

Compiled = Callable[[Mapping[str, Any]], Any]


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; ``str(self)`` is the user message."""


class PlanTimeSpent(Exception):
    """The plan's template time is spent, and the failure saying so has been raised once;
    the expansion stops here (see ``leobatch.plan.expand``)."""


class Renderer:
    """Compiles and renders template strings; one instance per expansion.

    Rendering is pure (the sandbox is immutable and the non-deterministic ``lipsum`` and
    ``random`` are removed), so a template's scalar result is memoised on the values of the
    names it reads: a 10,000-job matrix renders ``{{ model }}`` once per model.
    """

    def __init__(
        self, *, time_limit_s: float | None = None, plan_time_limit_s: float | None = None
    ) -> None:
        self.env = Sandbox()
        # the module's limits, read now (not at import) so that tests can lower them
        self.time_limit_s = TIME_LIMIT_S if time_limit_s is None else time_limit_s
        self.plan_time_limit_s = (
            PLAN_TIME_LIMIT_S if plan_time_limit_s is None else plan_time_limit_s
        )
        #: Rendering time left for the whole plan.
        self.time_left_s = self.plan_time_limit_s
        self.renders = 0
        self._spent_reported = False
        self._compiled: dict[str, Compiled] = {}
        self._names: dict[str, tuple[str, ...] | None] = {}
        self._memo: dict[tuple[str, tuple[Any, ...]], Any] = {}
        self._pinned: dict[int, tuple[Any, Any]] = {}
        self._context: Mapping[str, Any] | None = None  # held, so its id cannot be reused
        self._context_keys: dict[str, Any] = {}

    def is_template(self, source: str) -> bool:
        """Whether ``source`` needs rendering at all."""
        return "{" in source

    def render(self, source: str, context: Mapping[str, Any]) -> Any:
        """``source`` rendered in ``context``: a native value or a string."""
        compiled = self._compiled.get(source)
        if compiled is None:
            try:
                compiled = self._compile(source)
            except TemplateFailure as failure:
                compiled = _raiser(failure)
            self._compiled[source] = compiled
        names = self._names.get(source)
        memo_key = None if names is None else self._memo_key(source, names, context)
        if memo_key is not None:
            found = self._memo.get(memo_key, _MISSING)
            if found is not _MISSING:
                return found
        result = self._call(compiled, context)
        if memo_key is not None and _scalar(result) and len(self._memo) < MAX_MEMO:
            self._memo[memo_key] = result
        return result

    def _simple(self, tree: nodes.Template) -> Compiled | None:
        """Plain ``text {{ name.attr }} text`` templates, rendered without a Jinja context.

        The output paths of a large plan are all distinct, so memoising cannot help them;
        this is the same result (``str`` of each value, Jinja's attribute lookup) for a
        fraction of the cost.
        """
        if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
            return None
        parts = tree.body[0].nodes
        if not all(isinstance(p, nodes.TemplateData) or self._plain(p) for p in parts):
            return None
        env = self.env

        def render(context: Mapping[str, Any]) -> str:
            out = []
            for part in parts:
                if isinstance(part, nodes.TemplateData):
                    out.append(part.data)
                else:
                    out.append(_text(_lookup(env, part, context)))
            return "".join(out)

        return render

    def pin(self, values: Iterable[Any]) -> None:
        """Values that live as long as this renderer (the recipe's vars and axis values):
        their memo keys are computed once, by identity."""
        for value in values:
            if isinstance(value, (Mapping, list, tuple)):
                self._pinned[id(value)] = (value, _freeze(value, 0))

    def _memo_key(self, source: str, names: tuple[str, ...], context: Mapping[str, Any]) -> Any:
        """(source, the values of the names it reads), or None when a value is not keyable."""
        if context is not self._context:  # one job renders many templates in one context
            self._context, self._context_keys = context, {}
        known = self._context_keys
        values = []
        for name in names:
            key = known.get(name, _MISSING)
            if key is _MISSING:
                key = known[name] = self._key_of(name, context)
            if key is None:
                return None
            values.append(key)
        return source, tuple(values)

    def _key_of(self, name: str, context: Mapping[str, Any]) -> Any:
        if name not in context:
            return None  # a global, or undefined: render it for real
        value = context[name]
        held = self._pinned.get(id(value))
        return held[1] if held is not None and held[0] is value else _freeze(value, 0)

    def _plain(self, node: nodes.Node) -> bool:
        """Whether ``node`` is ``name``, ``name.attr...`` or such with argument-less filters
        that need no context (``| lower``): renderable without a Jinja context."""
        while True:
            if isinstance(node, nodes.Getattr):
                node = node.node
            elif isinstance(node, nodes.Filter):
                plain_filter = (
                    node.node is not None
                    and not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
                    and node.name in self.env.filters
                    and getattr(self.env.filters[node.name], "jinja_pass_arg", None) is None
                )
                if not plain_filter or node.node is None:
                    return False
                node = node.node
            else:
                return isinstance(node, nodes.Name)

    def _call(self, compiled: Compiled, context: Mapping[str, Any]) -> Any:
        left = self.time_left_s
        self.renders += 1
        if left <= 0:
            self._spent()
        env = self.env
        start = perf_counter()
        env.deadline = start + min(left, self.time_limit_s)
        try:
            result = compiled(context)
        except TemplateFailure:
            raise
        except OutOfTime:
            if left < self.time_limit_s:  # the plan's time ran out, not this template's
                self.time_left_s = 0.0
                self._spent()
            raise TemplateFailure(
                f"template rendering passes the {self.time_limit_s:g} s time limit"
            ) from None
        except Breach as e:
            raise TemplateFailure(str(e)) from None
        except SecurityError as e:
            raise TemplateFailure(f"refused by the template sandbox: {e.message}") from None
        except UndefinedError as e:
            names = [*context, *env.globals]
            raise TemplateFailure(undefined_message(str(e.message), names)) from None
        except RecursionError:
            raise TemplateFailure("template recursion too deep") from None
        except MemoryError:
            raise TemplateFailure("template needs too much memory") from None
        except Exception as e:  # a template is untrusted code: any failure is the recipe's
            raise TemplateFailure(f"template error: {type(e).__name__}: {e}") from None
        finally:
            self.time_left_s -= perf_counter() - start
            forget()
        return result

    def _spent(self) -> None:
        """The plan's template time is spent: one located failure, then PlanTimeSpent."""
        if self._spent_reported:
            raise PlanTimeSpent
        self._spent_reported = True
        raise TemplateFailure(
            f"templates pass the {self.plan_time_limit_s:g} s time limit for one plan "
            f"(all {self.renders:,} renders together); planning stopped here"
        )

    def _compile(self, source: str) -> Compiled:
        try:
            tree = self.env.parse(source)
            names = meta.find_undeclared_variables(tree)
            # a template reading a per-output name (an output path) never repeats: no memo
            self._names[source] = None if names & UNIQUE_NAMES else tuple(sorted(names))
            match = _SINGLE.match(source.strip())
            if match and _single_expression(tree):
                expression = self.env.compile_expression(match.group(1), undefined_to_none=False)

                def native(context: Mapping[str, Any]) -> Any:
                    return _plain(expression(**context))

                return native
            simple = self._simple(tree)
            if simple is not None:
                return simple
            template = self.env.from_string(tree)
            root, new_context = template.root_render_func, template.new_context
            globals_ = dict(self.env.globals)
            concat = self.env.concat  # counts the output as it is rendered

            def render(context: Mapping[str, Any]) -> str:
                # shared=True skips Jinja's per-render merge of globals: half the cost
                return concat(root(new_context({**globals_, **context}, shared=True)))

            return render
        except TemplateSyntaxError as e:
            unknown = unknown_name_message(str(e.message), self.env.filters, self.env.tests)
            raise TemplateFailure(f"template syntax error: {unknown or e.message}") from None
        except SecurityError as e:
            raise TemplateFailure(f"refused by the template sandbox: {e.message}") from None
        except RecursionError:
            raise TemplateFailure("template nested too deeply") from None


def _lookup(env: Sandbox, node: nodes.Expr, context: Mapping[str, Any]) -> Any:
    if isinstance(node, nodes.Name):
        if node.name in context:
            return context[node.name]
        if node.name in env.globals:
            return env.globals[node.name]
        message = f"{node.name!r} is undefined"
        raise TemplateFailure(undefined_message(message, [*context, *env.globals]))
    if isinstance(node, nodes.Filter):
        assert node.node is not None
        value = _lookup(env, node.node, context)
        if isinstance(value, Undefined):
            str(value)
        return env.filters[node.name](value)
    assert isinstance(node, nodes.Getattr)
    # Jinja's lookup without the clock: a plain template's work is bounded by its length
    value = _SANDBOX_GETATTR(env, _lookup(env, node.node, context), node.attr)
    if isinstance(value, Undefined):
        str(value)  # raises Jinja's own message (undefined attribute, or the sandbox's)
    return value


_SANDBOX_GETATTR = ImmutableSandboxedEnvironment.getattr


def _raiser(failure: TemplateFailure) -> Compiled:
    """A compiled template that fails as its compilation did (compile errors are cached)."""

    def fail(context: Mapping[str, Any]) -> Any:
        raise TemplateFailure(str(failure))

    return fail


_MISSING = object()
#: Names that differ for every output (see ``leobatch.plan.expand``).
UNIQUE_NAMES = frozenset({"job", "index"})
MAX_MEMO = 200_000


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _freeze(value: Any, depth: int) -> Any:
    """A hashable stand-in for a plain value that keeps types apart (1, 1.0, True)."""
    if depth > 4:
        return None
    if value is None or isinstance(value, (str, int, float)):
        return type(value), value
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            frozen = _freeze(v, depth + 1)
            if frozen is None:
                return None
            items.append((k, frozen))
        return dict, tuple(items)
    if isinstance(value, (list, tuple)) and len(value) <= 64:
        parts = tuple(_freeze(v, depth + 1) for v in value)
        return None if None in parts else (list, parts)
    return None


def _text(value: Any) -> str:
    if isinstance(value, Undefined):
        str(value)
    return str(value)


def _single_expression(tree: nodes.Template) -> bool:
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return False
    parts = tree.body[0].nodes
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of a native result; Undefined and foreign objects are failures."""
    if isinstance(value, Undefined):
        str(value)  # raises the undefined (or sandbox) error with Jinja's message
        raise TemplateFailure("undefined value")
    if depth > 32:
        raise TemplateFailure("the value is nested too deeply")
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        if len(value) > MAX_CHARS:
            raise TemplateFailure("template output passes the 1 MB limit")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateFailure(f"{value} is not a finite number")
        return value
    if depth == 0 and weight(value) > MAX_CHARS:
        raise TemplateFailure("template output passes the 1 MB limit")
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise TemplateFailure("the list is too long")
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    raise TemplateFailure(f"renders to a {type(value).__name__}, not a plain value")
