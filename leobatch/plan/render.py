"""Sandboxed Jinja rendering of recipe templates, each template compiled once.

A string that is exactly one ``{{ expression }}`` renders to the expression's native value
(an int stays an int, a mapping stays a mapping); any other template renders to a string;
a string without ``{`` is not a template at all. Every failure (undefined name, sandbox
refusal, syntax, runtime error) becomes a ``TemplateFailure`` carrying a readable message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
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
    """Compiles and renders template strings; one instance per expansion."""

    def __init__(self) -> None:
        self.env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self._compiled: dict[str, Compiled] = {}

    def is_template(self, source: str) -> bool:
        """Whether ``source`` needs rendering at all."""
        return "{" in source

    def render(self, source: str, context: Mapping[str, Any]) -> Any:
        """``source`` rendered in ``context``: a native value or a string."""
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = self._compiled[source] = self._compile(source)
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
            match = _SINGLE.match(source.strip())
            if match and _single_expression(tree):
                expression = self.env.compile_expression(match.group(1), undefined_to_none=False)

                def native(context: Mapping[str, Any]) -> Any:
                    return _plain(expression(**context))

                return native
            template = self.env.from_string(tree)
        except TemplateSyntaxError as e:
            raise TemplateFailure(f"template syntax error: {e.message}") from None
        except SecurityError as e:
            raise TemplateFailure(f"refused by the template sandbox: {e.message}") from None
        except RecursionError:
            raise TemplateFailure("template nested too deeply") from None
        return template.render


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
