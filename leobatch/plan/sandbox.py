"""The Jinja sandbox recipes render in, with every template held to a time and size budget.

Jinja's own sandbox stops a template from reaching Python's internals; it does not stop it
from spending the machine: nested loops, ``center(400000000)``, a macro that doubles its
output thirty times, ``((9**256)**256)**256``. Here every way a template can grow a value or
spend time is bounded *before* the work is done:

- Time: ``Sandbox.deadline`` is checked on every call, attribute and item lookup, operator,
  guarded filter and ``{% for %}`` iteration (each loop's iterable is wrapped, at compile time).
- Size: strings, lists and mappings a template builds may not pass ``MAX_CHARS`` (about what
  they print as); each operation that can grow one (``*``, ``+``, ``%``, ``~``, ``.format``,
  ``center``, ``replace``, ``join``, ``indent`` ...) checks the size it *would* produce first;
  output is counted as it is rendered, macro bodies and ``{% set %}`` blocks included.
- Integers may not pass ``MAX_INT_BITS``; ``range()`` may not pass ``MAX_ITEMS`` numbers.

A breach raises ``Breach`` (or ``OutOfTime``): exceptions the template cannot catch, turned
into a located recipe error by ``leobatch.plan.render``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import update_wrapper
from operator import index
from time import perf_counter
from types import BuiltinMethodType, MethodType
from typing import Any, cast

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, Macro
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from leobatch.plan.guards import (
    MAX_CHARS,
    MAX_INT_BITS,
    MAX_ITEMS,
    NUMBER,
    Breach,
    check_size,
    guard_filters,
    is_int,
    percent_size,
    replaced_size,
    too_big,
    weight,
)

__all__ = ["Breach", "OutOfTime", "Sandbox"]

# The names of the internal filters the compile-time guard inserts; not valid filter names
# in template source, so a recipe cannot name them.
LOOP, CONCAT, BUILT = "(loop)", "(concat)", "(built)"
OUTPUT = "template output passes the 1 MB limit"


class OutOfTime(Exception):
    """A template ran past ``Sandbox.deadline``."""


class _Buffer(list[str]):
    """The output of a macro, ``{% set %}`` block or filter block, counted as it is written
    (a loop in a macro would otherwise fill it without limit before it is joined)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, part: str) -> None:
        """One piece of output."""
        self.size += len(part)
        if self.size > MAX_CHARS:
            raise Breach(OUTPUT)
        super().append(part)

    def extend(self, parts: Iterable[str]) -> None:
        """Several pieces of output."""
        for part in parts:
            self.append(part)


class _Generator(CodeGenerator):
    """Jinja's code generator, writing buffered output into a ``_Buffer``."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with time, size and integer bounds (see the module doc)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _Generator
    new_buffer = _Buffer

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        #: ``perf_counter()`` time past which the template being rendered stops.
        self.deadline = math.inf
        self.globals.pop("lipsum", None)  # not deterministic
        self.filters.pop("random", None)
        self.globals["range"] = _range
        self.globals["namespace"] = _Namespace
        guard_filters(self)
        self.filters.update({LOOP: _loop, CONCAT: _concat, BUILT: _built})

    def tick(self) -> None:
        """Raise OutOfTime once the deadline has passed."""
        if perf_counter() > self.deadline:
            raise OutOfTime

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        # every template is guarded as it is compiled, whichever way it was parsed
        _Guard().visit(source)
        return super()._generate(source, *args, **kwargs)

    def concat(self, parts: Iterable[str]) -> str:
        """Jinja's join of rendered output (whole templates, macros, set blocks), counted."""
        total, out = 0, []
        for part in parts:
            total += len(part)
            if total > MAX_CHARS:
                raise Breach(OUTPUT)
            out.append(part)
        return "".join(out)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Jinja's sandboxed ``obj.attribute``, on the clock."""
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Jinja's sandboxed ``obj[argument]``, on the clock."""
        self.tick()
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call from a template: on the clock, sized before (methods that grow strings)
        and after (everything, macros included)."""
        self.tick()
        name = obj.name if isinstance(obj, Macro) else getattr(obj, "__name__", None)
        name = name if isinstance(name, str) else "call"
        owner = getattr(obj, "__self__", None)
        if owner is not None and not isinstance(owner, type):
            if name == "join" and isinstance(owner, (str, bytes)) and args:
                args = (list(args[0]), *args[1:])  # sized below, then joined
            if _method_size(owner, name, args) > MAX_CHARS:
                raise too_big(f"the result of {name!r}")
        return check_size(super().call(context, obj, *args, **kwargs), f"the result of {name!r}")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**``, ``+`` and ``%``, refused before they build something too large."""
        self.tick()
        what = f"the result of {operator!r}"
        _check_binop(operator, left, right, what)
        return check_size(self.binop_table[operator](left, right), what)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` / ``format_map``, through a formatter that sizes every field."""
        if not isinstance(value, (MethodType, BuiltinMethodType)) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        formatter: SandboxedFormatter
        if isinstance(owner, Markup):
            formatter = _SizedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _SizedFormatter(self)
        is_map = value.__name__ == "format_map"

        def sized(*args: Any, **kwargs: Any) -> str:
            if not is_map:
                return type(owner)(formatter.vformat(owner, args, kwargs))
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            return type(owner)(formatter.vformat(owner, (), args[0]))

        return update_wrapper(sized, value)


def _check_binop(operator: str, left: Any, right: Any, what: str) -> None:
    if operator == "*":
        _check_times(left, right, what)
    elif operator == "**":
        power = is_int(left) and is_int(right) and right > 0 and abs(left) > 1
        if power and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise Breach(f"{what} would pass the {MAX_INT_BITS}-bit integer limit")
    elif operator == "+":
        joined = isinstance(left, (str, list, tuple)) and isinstance(right, type(left))
        if joined and weight(left) + weight(right) > MAX_CHARS:
            raise too_big(what)
    elif isinstance(left, str) and percent_size(left, right) > MAX_CHARS:
        raise too_big(what)


def _check_times(left: Any, right: Any, what: str) -> None:
    if is_int(left) and is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise Breach(f"{what} would pass the {MAX_INT_BITS}-bit integer limit")
        return
    for seq, times in ((left, right), (right, left)):
        if not isinstance(times, int) or times <= 1:
            continue
        if isinstance(seq, (str, bytes)) and len(seq) * times > MAX_CHARS:
            raise too_big(what)
        if isinstance(seq, (list, tuple)) and (
            len(seq) * times > MAX_ITEMS or weight(seq) * times > MAX_CHARS
        ):
            raise too_big(what)


class _SizedFormatter(SandboxedFormatter):
    """Jinja's sandboxed ``str.format``, each field's width checked before it is applied."""

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self._size = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        digits = sum(int(d) for d in re.findall(r"\d+", format_spec))
        self._size += digits + weight(value) + NUMBER
        if self._size > MAX_CHARS:
            raise too_big("the result of 'format'")
        return super().format_field(value, format_spec)


class _SizedEscapeFormatter(_SizedFormatter, SandboxedEscapeFormatter):
    pass


def _method_size(owner: Any, name: str, args: tuple[Any, ...]) -> int:
    """An upper bound on the size of ``owner.name(*args)`` for the methods that can grow."""
    if isinstance(owner, (str, bytes)):
        size = len(owner)
        try:
            if name in ("center", "ljust", "rjust", "zfill"):
                return max(size, index(args[0]))
            if name == "expandtabs":
                tab = index(args[0]) if args else 8
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                return size + tabs * tab
            if name == "replace":
                return replaced_size(owner, *args)
            if name == "join":
                return sum(weight(v) for v in args[0]) + size * max(len(args[0]) - 1, 0)
            if name == "translate":
                table = args[0]
                values = table.values() if isinstance(table, Mapping) else table
                longest = max((weight(v) for v in values if isinstance(v, str)), default=1)
                return size * max(longest, 1)
        except (IndexError, TypeError, ValueError):
            return 0  # wrong arguments: the method itself says so
    if is_int(owner) and name == "to_bytes" and args and isinstance(args[0], int):
        return args[0]
    return 0


def _range(*args: int) -> range:
    """``range()`` of at most MAX_ITEMS numbers (counted without building it)."""
    numbers = range(*args)
    step = numbers.step
    count = max(0, (numbers.stop - numbers.start + step - (1 if step > 0 else -1)) // step)
    if count > MAX_ITEMS:
        raise Breach(f"range() of {count:,} numbers passes the {MAX_ITEMS:,} limit")
    return numbers


class _Namespace(Namespace):
    """``namespace()``, whose attributes (set in loops) are held to the size limit too."""

    # printed as Jinja's own (``{{ namespace }}`` renders the class)
    __module__, __qualname__ = Namespace.__module__, Namespace.__qualname__

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        check_size(self, "the namespace")


@pass_context
def _loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: one clock check per item."""
    tick = cast(Sandbox, context.environment).tick
    for item in iterable:
        tick()
        yield item


@pass_context
def _concat(context: Context, *parts: Any) -> str:
    """``a ~ b``, sized before it is joined."""
    cast(Sandbox, context.environment).tick()
    texts = [str(p) for p in parts]
    if sum(map(len, texts)) > MAX_CHARS:
        raise too_big("the result of '~'")
    return "".join(texts)


@pass_context
def _built(context: Context, value: Any) -> Any:
    """A list, tuple or mapping literal with computed items, sized once built."""
    return check_size(value, "a value built in the template")


class _Guard(NodeTransformer):
    """Rewrites a parsed template so its loops, ``~`` and literals run through the guards."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(cast(nodes.Expr, node.iter), LOOP)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        first, *rest = node.nodes
        return _filter(first, CONCAT, rest)

    def _literal(self, node: nodes.List | nodes.Tuple | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node  # an assignment target
        children = node.items
        if all(isinstance(c, nodes.Const) for c in children):
            return node  # as large as the template source, no larger
        return _filter(node, BUILT)

    visit_List = visit_Tuple = visit_Dict = _literal


def _filter(node: nodes.Expr, name: str, args: list[nodes.Expr] | None = None) -> nodes.Filter:
    return nodes.Filter(node, name, args or [], [], None, None, lineno=node.lineno)
