"""Sandboxed Jinja rendering of recipe templates, each template compiled once.

A string that is exactly one ``{{ expression }}`` renders to the expression's native value
(an int stays an int, a mapping stays a mapping); any other template renders to a string;
a string without ``{`` is not a template at all. Every failure (undefined name, sandbox
refusal, syntax, runtime error) becomes a ``TemplateFailure`` carrying a readable message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["Renderer", "TemplateFailure"]

_SINGLE = re.compile(r"\A\{\{-?(.*?)-?\}\}\Z", re.DOTALL)
#: Results and intermediate sequences larger than this are refused (memory exhaustion).
MAX_ITEMS = 100_000
MAX_EXPONENT = 256

Compiled = Callable[[Mapping[str, Any]], Any]


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; ``str(self)`` is the user message."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        big_power = operator == "**" and _number(right) and _number(left)
        if big_power and abs(right) > MAX_EXPONENT and abs(left) > 1:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                if sized and len(seq) * times > MAX_ITEMS:
                    raise SecurityError("the result of '*' would be too large")
        return super().call_binop(context, operator, left, right)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Renderer:
    """Compiles and renders template strings; one instance per expansion.

    Rendering is pure (the sandbox is immutable and the non-deterministic ``lipsum`` and
    ``random`` are removed), so a template's scalar result is memoised on the values of the
    names it reads: a 10,000-job matrix renders ``{{ model }}`` once per model.
    """

    def __init__(self) -> None:
        self.env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.env.globals.pop("lipsum", None)
        self.env.filters.pop("random", None)
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
        try:
            result = compiled(context)
        except TemplateFailure:
            raise
        except SecurityError as e:
            raise TemplateFailure(f"refused by the template sandbox: {e.message}") from None
        except UndefinedError as e:
            raise TemplateFailure(str(e.message)) from None
        except RecursionError:
            raise TemplateFailure("template recursion too deep") from None
        except Exception as e:  # a template is untrusted code: any failure is the recipe's
            raise TemplateFailure(f"template error: {type(e).__name__}: {e}") from None
        return result

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

            def render(context: Mapping[str, Any]) -> str:
                # shared=True skips Jinja's per-render merge of globals: half the cost
                return "".join(root(new_context({**globals_, **context}, shared=True)))

            return render
        except TemplateSyntaxError as e:
            raise TemplateFailure(f"template syntax error: {e.message}") from None
        except SecurityError as e:
            raise TemplateFailure(f"refused by the template sandbox: {e.message}") from None
        except RecursionError:
            raise TemplateFailure("template nested too deeply") from None


def _lookup(env: _Sandbox, node: nodes.Expr, context: Mapping[str, Any]) -> Any:
    if isinstance(node, nodes.Name):
        if node.name in context:
            return context[node.name]
        if node.name in env.globals:
            return env.globals[node.name]
        raise TemplateFailure(f"{node.name!r} is undefined")
    if isinstance(node, nodes.Filter):
        assert node.node is not None
        value = _lookup(env, node.node, context)
        if isinstance(value, Undefined):
            str(value)
        return env.filters[node.name](value)
    assert isinstance(node, nodes.Getattr)
    value = env.getattr(_lookup(env, node.node, context), node.attr)
    if isinstance(value, Undefined):
        str(value)  # raises Jinja's own message (undefined attribute, or the sandbox's)
    return value


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
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateFailure(f"{value} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise TemplateFailure("the list is too long")
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    raise TemplateFailure(f"renders to a {type(value).__name__}, not a plain value")
