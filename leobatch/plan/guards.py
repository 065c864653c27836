"""Sizes and limits of template values, and the sandbox's filters that can grow a value.

``center(400000000)`` or eight ``replace`` filters in a row allocate gigabytes inside one
filter call, where no clock or size check could stop them: so each such filter first works
out an upper bound on what it would produce (from its arguments, cheaply) and refuses past
the limit. Every guarded filter is also on the template's clock; the others do work linear
in a value that is already bounded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from functools import update_wrapper
from operator import index
from typing import TYPE_CHECKING, Any

from jinja2 import pass_environment
from jinja2.filters import make_attrgetter
from jinja2.utils import Namespace

if TYPE_CHECKING:
    from leobatch.plan.sandbox import Sandbox

__all__ = [
    "MAX_CHARS",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "Breach",
    "check_size",
    "forget",
    "guard_filters",
    "percent_size",
    "replaced_size",
    "too_big",
    "weight",
]

#: Strings, and what lists and mappings print as, may not pass this many characters ("1 MB").
MAX_CHARS = 1_000_000
#: Lists from ``*`` and ``range()`` may not pass this many items.
MAX_ITEMS = 100_000
#: Integers may not pass this many bits (about 1,200 digits): big-int arithmetic is slow.
MAX_INT_BITS = 4096


class Breach(Exception):
    """A template passed a size limit; ``str(self)`` is the user message."""


def too_big(what: str) -> Breach:
    """The size breach for ``what`` (``"the result of 'center'"``)."""
    return Breach(f"{what} would pass the 1 MB limit")


def weight(value: Any) -> int:
    """About how many characters ``value`` prints as (``MAX_CHARS + 1`` for a cycle).

    Shared parts count each time they print: that is how a template that nests a list in
    itself twice per step would blow up. Each container's weight is remembered (until
    ``forget``), so sizing ``[a, a]`` costs two lookups, not a walk of ``a``.
    """
    if isinstance(value, str):
        return len(value)
    if not walked(value):
        return _scalar_weight(value)
    if isinstance(value, (list, tuple)) and len(value) <= 8:  # the common small literal
        total = 2
        for item in value:
            if isinstance(item, str):
                total += len(item) + 4
            elif walked(item):
                break
            else:
                total += 2 + _scalar_weight(item)
        else:
            return total
    known = _MEMO.known
    found = known.get(id(value))
    if found is not None:
        return found[1]
    return _walk(value, known)


class _Memo(threading.local):
    #: id -> (container, weight) for the containers sized since the last ``forget``; the
    #: container is held so that its id cannot be reused. Namespaces change: not kept.
    known: dict[int, tuple[Any, int]]

    def __init__(self) -> None:
        self.known = {}


_MEMO = _Memo()  # per thread: renderers in two threads never share (or clear) it
_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace)
#: checked first: isinstance against the ABCs below is slow for values that are not one
_SCALARS = (str, int, float, type(None), bytes, range)
_VIEWS = (Mapping, KeysView, ValuesView, ItemsView)


def walked(value: Any) -> bool:
    """Whether ``value`` is a container whose parts are sized."""
    return isinstance(value, _CONTAINERS) or (
        not isinstance(value, _SCALARS) and isinstance(value, _VIEWS)
    )


def forget() -> None:
    """Drop the remembered weights (after each render)."""
    known = _MEMO.known
    if known:
        known.clear()


def _children(value: Any) -> list[Any]:
    """A container's parts, as a list: a view makes new (key, value) tuples each time it is
    iterated, so a node's parts are listed once and kept until it is sized."""
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    if isinstance(value, (dict, Mapping)):
        return [*value.keys(), *value.values()]
    return list(value)


def _walk(root: Any, known: dict[int, tuple[Any, int]]) -> int:
    """Depth-first over the containers under ``root``, each sized once, children first."""
    stack: list[tuple[Any, list[Any] | None]] = [(root, None)]
    path: set[int] = set()  # containers whose children are being sized: a cycle if met again
    local: dict[int, int] = {}  # namespaces' weights, for this walk only
    while stack:
        node, children = stack.pop()
        if children is not None:  # its children are sized: size it
            path.discard(id(node))
            total = 2
            for child in children:
                if isinstance(child, str):
                    total += len(child) + 4
                elif walked(child):
                    total += local[id(child)] if id(child) in local else known[id(child)][1]
                else:
                    total += 2 + _scalar_weight(child)
            if isinstance(node, Namespace):
                local[id(node)] = total
            else:
                known[id(node)] = (node, total)
            continue
        if id(node) in known or id(node) in local:
            continue
        path.add(id(node))
        children = _children(node)
        stack.append((node, children))
        queued: set[int] = set()  # a list of 100,000 times the same part queues it once
        for child in children:
            if isinstance(child, str) or not walked(child):
                continue
            key = id(child)
            if key in path:
                return MAX_CHARS + 1  # a namespace holding itself prints forever
            if key not in queued and key not in known and key not in local:
                queued.add(key)
                stack.append((child, None))
    return local[id(root)] if id(root) in local else known[id(root)][1]


def depth(value: Any) -> int:
    """How deeply containers nest in ``value`` (shared parts sized once; a cycle counts as
    ``MAX_CHARS``)."""
    if not walked(value):
        return 0
    levels: dict[int, tuple[Any, int]] = {}  # the part is held so its id stays its own
    stack: list[tuple[Any, list[Any] | None]] = [(value, None)]
    path: set[int] = set()
    while stack:
        node, children = stack.pop()
        if children is not None:
            path.discard(id(node))
            below = [levels[id(c)][1] for c in children if walked(c)]
            levels[id(node)] = (node, 1 + max(below, default=0))
            continue
        if id(node) in levels:
            continue
        path.add(id(node))
        children = _children(node)
        stack.append((node, children))
        for child in children:
            if walked(child) and id(child) not in levels:
                if id(child) in path:
                    return MAX_CHARS
                stack.append((child, None))
    return levels[id(value)][1]


def _scalar_weight(value: Any) -> int:
    if isinstance(value, int):
        return 1 + value.bit_length() * 3 // 10  # ~digits
    if isinstance(value, (bytes, range)):
        return len(value)
    return 1


def check_size(value: Any, what: str) -> Any:
    """``value``, or a Breach when it is past ``MAX_CHARS``."""
    if weight(value) > MAX_CHARS:
        raise too_big(what)
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_WIDTHS = re.compile(r"[\d*]").search
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
#: room for one converted number (a float's digits) beyond its width and precision
NUMBER = 400


def percent_size(template: str, values: Any) -> int:
    """An upper bound on the length of ``template % values``."""
    if isinstance(values, tuple):
        items: list[Any] = list(values)
    elif isinstance(values, Mapping):
        items = list(values.values())
    else:
        items = [values]
    size = len(template) + sum(weight(v) for v in items)
    if not _WIDTHS(template):  # no digit or '*': no width or precision to add
        return size + NUMBER * template.count("%")
    star = False
    for match in _PERCENT.finditer(template):
        size += NUMBER
        for group in match.groups():
            if group == "*":
                star = True
            elif group:
                size += int(group)
    if star:  # widths taken from the values
        size += sum(abs(v) for v in items if is_int(v))
    return size


def replaced_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """An upper bound on the length of ``text.replace(old, new, count)``."""
    text, old, new = str(text), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if count is not None and index(count) >= 0:
        found = min(found, index(count))
    return len(text) + found * max(len(new) - len(old), 0)


Size = Callable[..., int]


def guard_filters(env: Sandbox) -> None:
    """Replace ``env``'s growing filters by sized ones (and ``sum`` by a linear one)."""

    def text(value: Any) -> int:
        return weight(value)

    def lines(value: Any) -> int:
        return str(value).count("\n") + 1

    def center(value: Any, width: Any = 80) -> int:
        return max(text(value), index(width))

    def format_(value: Any, *args: Any, **kwargs: Any) -> int:
        return percent_size(str(value), kwargs or args)

    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> int:
        step = len(width) if isinstance(width, str) else index(width)
        return text(value) + lines(value) * step

    def wordwrap(
        value: Any,
        width: Any = 79,
        break_long_words: bool = True,
        wrapstring: str | None = None,
        break_on_hyphens: bool = True,
    ) -> int:
        # a wrapped line and the next hold more than `width` between them, so a paragraph
        # of n characters wraps into at most 2n/width + 1 lines
        n = text(value)
        breaks = 2 * n // max(index(width), 1) + lines(value) + 1
        return n + breaks * len(wrapstring if wrapstring is not None else env.newline_sequence)

    def truncate(value: Any, length: Any = 255, killwords: bool = False, end: Any = "...",
                 leeway: Any = None) -> int:  # fmt: skip
        return text(value) + len(str(end))

    def replace(value: Any, old: Any, new: Any, count: Any = None) -> int:
        return replaced_size(value, old, new, count)

    def batch(value: Any, linecount: Any, fill_with: Any = None) -> int:
        return 0 if fill_with is None else index(linecount) * (weight(fill_with) + 1)

    def slice_(value: Any, slices: Any, fill_with: Any = None) -> int:
        count = index(slices)
        fill = 0 if fill_with is None else count * weight(fill_with)
        return count * (MAX_CHARS // MAX_ITEMS) + fill

    def tojson(value: Any, indent: Any = None) -> int:
        if indent is None:
            return weight(value)
        step = len(indent) if isinstance(indent, str) else index(indent)
        # every value on its own line, indented once per level it is nested in
        return weight(value) * (2 + step * depth(value))

    def urlize(value: Any, trim_url_limit: Any = None, nofollow: bool = False,
               target: Any = None, rel: Any = None, extra_schemes: Any = None) -> int:  # fmt: skip
        # a link is at least 4 characters ("a.io"), and each gets its attributes added
        extra = 80 + len(str(target or "")) + len(str(rel or ""))
        return text(value) * 2 + (text(value) // 4 + 1) * extra

    sizes: dict[str, Size] = {
        "tojson": tojson,
        "urlize": urlize,
        "center": center,
        "format": format_,
        "indent": indent,
        "wordwrap": wordwrap,
        "truncate": truncate,
        "replace": replace,
        "batch": batch,
        "slice": slice_,
    }
    for name, size in sizes.items():
        env.filters[name] = _sized(env, name, env.filters[name], size)
    env.filters["join"] = _sized_join(env, env.filters["join"])
    env.filters["sum"] = _linear_sum


def _sized(env: Sandbox, name: str, func: Callable[..., Any], size: Size) -> Callable[..., Any]:
    skip = 0 if getattr(func, "jinja_pass_arg", None) is None else 1
    what = f"the result of {name!r}"

    def sized(*args: Any, **kwargs: Any) -> Any:
        env.tick()
        try:
            bound = size(*args[skip:], **kwargs)
        except (TypeError, ValueError, AttributeError, IndexError):
            bound = 0  # wrong arguments: the filter itself says what is wrong
        if bound > MAX_CHARS:
            raise too_big(what)
        return check_size(func(*args, **kwargs), what)

    return update_wrapper(sized, func)


def _sized_join(env: Sandbox, func: Callable[..., Any]) -> Callable[..., Any]:
    def join(eval_ctx: Any, value: Iterable[Any], d: Any = "", attribute: Any = None) -> Any:
        env.tick()
        items = list(value)
        parts = items if attribute is None else list(map(make_attrgetter(env, attribute), items))
        if sum(weight(p) for p in parts) + len(str(d)) * max(len(parts) - 1, 0) > MAX_CHARS:
            raise too_big("the result of 'join'")
        return func(eval_ctx, items, d, attribute)

    return update_wrapper(join, func)


@pass_environment
def _linear_sum(env: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    """Jinja's ``sum``; lists and tuples are concatenated in linear time (Python's ``sum``
    copies the running total at every step: quadratic), and sized first."""
    env.tick()
    if attribute is not None:
        iterable = map(make_attrgetter(env, attribute), iterable)
    items = list(iterable)
    if not isinstance(start, (list, tuple)):
        return sum(items, start)
    if weight(start) + weight(items) > MAX_CHARS:
        raise too_big("the result of 'sum'")
    kind = type(start)
    out = list(start)
    for item in items:
        if isinstance(item, kind):
            out.extend(item)
        else:
            out = list(kind(out) + item)  # the TypeError Python's sum would raise
    return kind(out)
