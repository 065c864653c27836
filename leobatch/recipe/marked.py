"""Safe YAML that remembers where every key came from.

PyYAML's composer gives nodes with marks; we build plain values from them ourselves, so that no
constructor for a non-standard tag (``!!python/object/apply`` ...) ever runs. Every key path maps
to its 1-based ``(line, col)``: the key's position for mapping entries, the item's position for
sequence items, ``(1, 1)`` for the document itself.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["KeyPath", "Marks", "Parsed", "parse_yaml"]

#: A key path into the recipe: mapping keys and sequence indexes.
KeyPath = tuple["str | int", ...]
#: Key path -> 1-based (line, col).
Marks = Mapping[KeyPath, tuple[int, int]]

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
#: A recipe is small; aliases that expand past this many values are a "billion laughs" attack.
MAX_VALUES = 200_000
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Parsed:
    """The document's value (``None`` when empty), its marks, and the problems found."""

    value: Any
    marks: Marks
    problems: tuple[tuple[int, int, str], ...]


class _Builder:
    def __init__(self) -> None:
        self.marks: dict[KeyPath, tuple[int, int]] = {}
        self.problems: list[tuple[int, int, str]] = []
        self.count = 0
        self._scalars = yaml.constructor.SafeConstructor()

    def problem(self, node: Node, message: str) -> None:
        self.problems.append((node.start_mark.line + 1, node.start_mark.column + 1, message))

    def build(self, node: Node, path: KeyPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig(node)
        if depth > MAX_DEPTH:
            self.problem(node, f"nesting deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if node.tag not in (_STD + "seq", _STD + "map"):
            self.problem(node, f"tag {_tag(node.tag)!r} is not allowed in a recipe")
            return None
        if isinstance(node, SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                here = (*path, i)
                self.marks.setdefault(here, _pos(item))
                items.append(self.build(item, here, depth + 1))
            return items
        assert isinstance(node, MappingNode)
        return self.mapping(node, path, depth)

    def mapping(self, node: MappingNode, path: KeyPath, depth: int) -> dict[str, Any] | None:
        if _unquoted_template(node):
            # `prompt: {{ x }}` is a flow mapping {{x: null}: null} to YAML, not a template
            source = str(node.start_mark.buffer or "")
            written = source[node.start_mark.index : node.end_mark.index] or "{{ ... }}"
            self.problem(node, f"an unquoted {{{{ }}}} is read as a YAML mapping {_hint(written)}")
            return None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STD + "merge":
                self.problem(key_node, "merge keys ('<<') are not supported in a recipe")
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.problem(key_node, "a mapping key must be a plain name")
                continue
            key = str(key_node.value)
            here = (*path, key)
            if key in out:
                line, _ = self.marks.get(here, (0, 0))
                self.problem(key_node, f"duplicate key {key!r} (first at line {line})")
                continue
            self.marks[here] = _pos(key_node)
            out[key] = self.build(value_node, here, depth + 1)
        return out

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, f"tag {_tag(node.tag)!r} is not allowed in a recipe")
            return None
        if node.tag == _STD + "timestamp":
            return str(node.value)  # keep dates as written: values must be JSON-able
        try:
            value = self._scalars.construct_object(node)
        except (yaml.YAMLError, ValueError) as e:
            self.problem(node, f"bad {node.tag.rsplit(':', 1)[-1]} value: {e}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(node, f"{node.value!r} is not a finite number")
            return None
        return value


class _TooBig(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse_yaml(text: str | bytes) -> Parsed:
    """Parse one YAML document safely, keeping marks; never raises for bad input."""
    builder = _Builder()
    if isinstance(text, bytes) and not text.startswith(_UTF16_BOMS):
        # decoded here, not by PyYAML, whose error gives only an offset into the file
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line, col = _byte_position(data, e.start)
            message = f"the recipe is not UTF-8 text (byte 0x{data[e.start]:02x})"
            return Parsed(None, {}, ((line, col, message),))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = e.problem or str(e)
        context = f" ({e.context})" if e.context and e.problem else ""
        if context and e.context_mark and e.context_mark is not mark:
            context = f" ({e.context} at line {e.context_mark.line + 1})"
        message = f"YAML syntax error: {what}{context}{_syntax_hint(text, line, what)}"
        return Parsed(None, {}, ((line, col, message),))
    except yaml.YAMLError as e:
        line, col = 1, 1
        position = getattr(e, "position", None)
        if isinstance(position, int):
            col = position + 1
        if isinstance(position, int) and isinstance(text, str):
            line, col = _char_position(text, position)
        reason = getattr(e, "reason", None) or str(e).splitlines()[0]
        return Parsed(None, {}, ((line, col, f"not a readable YAML file: {reason}"),))
    except RecursionError:
        return Parsed(None, {}, ((1, 1, "YAML nested too deeply"),))
    if root is None:
        return Parsed(None, {(): (1, 1)}, ())
    try:
        size = _expanded_size(root, {}, set())
    except _TooBig as cycle:
        line, col = _pos(cycle.node)
        return Parsed(None, {}, ((line, col, "an alias refers to a value that contains it"),))
    if size > MAX_VALUES:
        return Parsed(None, {}, (_too_large(root),))
    builder.marks[()] = (1, 1)
    try:
        value = builder.build(root, (), 0)
    except _TooBig as big:
        builder.problem(big.node, f"the document expands to more than {MAX_VALUES} values")
        value = None
    return Parsed(value, dict(builder.marks), tuple(builder.problems))


def _expanded_size(node: Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values ``node`` builds into once aliases are expanded (linear in the nodes).

    Raises _TooBig at a node that contains itself (an alias to an enclosing anchor).
    """
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _TooBig(node)
    active.add(key)
    total = 1
    if isinstance(node, SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo, active)
            if total > MAX_VALUES:
                break
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, memo, active)
            total += _expanded_size(value_node, memo, active)
            if total > MAX_VALUES:
                break
    active.discard(key)
    memo[key] = total
    return total


def _too_large(root: Node) -> tuple[int, int, str]:
    """What makes the document too large: its own size (located at its longest list or
    mapping), or aliases that expand it."""
    count, longest = 0, root
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue  # an alias: written once
        seen.add(id(node))
        count += 1
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        if isinstance(node, (SequenceNode, MappingNode)) and len(node.value) > len(longest.value):
            longest = node
    if count <= MAX_VALUES:
        line, col = _pos(root)
        message = f"the recipe expands to more than {MAX_VALUES} values through its aliases"
        return line, col, f"{message} (the limit)"
    line, col = _pos(longest)
    what = "list" if isinstance(longest, SequenceNode) else "mapping"
    return (
        line,
        col,
        f"the recipe has {count:,} YAML values (keys, items and scalars), more than the "
        f"{MAX_VALUES:,} allowed; this {what} has {len(longest.value):,} entries",
    )


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column (in characters) of byte ``offset`` of UTF-8 ``data``."""
    start = data.rfind(b"\n", 0, offset) + 1
    before = data[start:offset].decode("utf-8", errors="replace")
    return data.count(b"\n", 0, offset) + 1, len(before) + 1


def _char_position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character ``offset`` of ``text``."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _unquoted_template(node: MappingNode) -> bool:
    """Whether ``node`` is how YAML reads an unquoted ``{{ x }}``: a flow mapping whose one key
    is a flow mapping, both with null values."""
    if not node.flow_style or len(node.value) != 1:
        return False
    key, value = node.value[0]
    return (
        isinstance(key, MappingNode)
        and key.flow_style is True
        and _is_null(value)
        and all(_is_null(v) for _, v in key.value)
    )


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _STD + "null" and node.value in ("", "~")


def _hint(value: str) -> str:
    quoted = value.strip().replace("\\", "\\\\").replace('"', '\\"')
    return f'(a Jinja expression must be quoted in YAML: "{quoted}")'


#: PyYAML problems that a line indented too far or not far enough causes
_INDENTATION = (
    "mapping values are not allowed here",
    "did not find expected key",
    "expected <block end>",
)


def _syntax_hint(text: str | bytes, line: int, problem: str) -> str:
    """A hint for the usual causes of ``problem`` at ``line`` (1-based): an unquoted template,
    or indentation."""
    lines = text.splitlines() if isinstance(text, str) else []
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    _key, colon, value = source.partition(": ")
    if colon and value.lstrip().startswith("{{"):
        return f" {_hint(value.split(' #', 1)[0])}"
    if any(problem.startswith(p) for p in _INDENTATION):
        return (
            f" (check the indentation of line {line}: the keys of one mapping start in the"
            ' same column; a value holding ": " must be quoted)'
        )
    return ""


def _tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag
