"""The state of one ``build_request`` call: the stage's fields, the problems found, the inputs.

Checks here never raise on bad input: each records a problem at the offending stage key and
returns ``None``, so that every problem of a stage is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leobatch.api.wire import ENDPOINTS, FieldType
from leobatch.catalog import suggest
from leobatch.plan.jobs import UPSTREAM_TEXT, Input
from leobatch.request._files import LocalFile, local_file

__all__ = [
    "IMAGE_KINDS",
    "UUID",
    "VARIATION_KINDS",
    "VIDEO_KINDS",
    "Ctx",
    "Path_",
    "Spec",
    "describe",
]

Path_ = tuple[str | int, ...]

#: a UUID: an id the catalogue does not know is still accepted for models and elements
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: kinds whose outputs are variations of an image (their ids are variation ids)
VARIATION_KINDS = frozenset({"upscale", "unzoom", "nobg", "universal-upscale"})
#: kinds whose outputs are images
IMAGE_KINDS = frozenset({"image"}) | VARIATION_KINDS
#: kinds whose outputs are videos (their upstream id is a generation id)
VIDEO_KINDS = frozenset({"text-to-video", "image-to-video", "motion-svd"})
#: stage keys every kind may carry; they steer expansion, not the request
CONTROL_KEYS = frozenset({"kind", "from", "when", "matrix"})
STAGE_KEYS = (
    "model", "prompt", "negative_prompt", "init_image", "image", "elements", "guidance",
    "context_images", "styles", "motion", "instructions", "width", "height", "num_images",
    "seed", "params",
)  # fmt: skip
#: the portable stage keys that are body fields of the same name on v1 (DESIGN section 5.1)
PORTABLE_INTS = ("width", "height", "num_images", "seed")

_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "list[str]": "a list of strings",
    "list[object]": "a list of mappings",
    "object": "a mapping",
}


@dataclass(frozen=True, slots=True)
class Spec:
    """What one kind takes: its endpoint, stage keys, and the body fields leobatch owns.

    ``aliases``: body field -> the stage key that sets it (allowed in ``params`` instead).
    ``runtime``: body field -> where its run-time id comes from (refused in ``params``).
    ``managed``: body field -> the stage key that builds it (refused in ``params``).
    """

    endpoint: str
    keys: frozenset[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    runtime: Mapping[str, str] = field(default_factory=dict)
    managed: Mapping[str, str] = field(default_factory=dict)


def describe(value: object) -> str:
    """A short repr for messages (long strings cut)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_CHECKS: Mapping[str, Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "list[object]": lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
    "object": lambda v: isinstance(v, dict),
}


def coerce(value: object, ftype: FieldType) -> tuple[Any, str | None]:
    """``value`` fitted to the wire type ``ftype`` (enums match in any case), or why not."""
    if ftype.tag == "enum" and isinstance(value, str) and value not in ftype.enum:
        for allowed in ftype.enum:
            if allowed.casefold() == value.casefold():
                return allowed, None
    return value, type_problem(value, ftype)


def type_problem(value: object, ftype: FieldType) -> str | None:
    """Why ``value`` does not fit the wire type ``ftype``, or ``None``."""
    tag = ftype.tag
    if tag == "enum":
        if isinstance(value, str) and value in ftype.enum:
            return None
        hint = suggest(value, ftype.enum) if isinstance(value, str) else None
        more = f"; did you mean {hint!r}?" if hint else f" (one of {', '.join(ftype.enum)})"
        return f"must be one of the allowed values, not {describe(value)}{more}"
    check = _CHECKS.get(tag)
    ok = check is None or check(value)
    return None if ok else f"must be {_TYPE_WORDS.get(tag, tag)}, not {describe(value)}"


class Ctx:
    """Accumulates the body, the run-time inputs and the problems of one stage."""

    __slots__ = (
        "body",
        "fields",
        "from_defaults",
        "input_size",
        "inputs",
        "kind",
        "origin",
        "params",
        "problems",
        "recipe_dir",
        "spec",
        "upstream_kind",
        "upstream_size",
    )

    def __init__(
        self,
        kind: str,
        spec: Spec,
        fields: Mapping[str, Any],
        upstream_kind: str | None,
        upstream_size: tuple[int, int] | None,
        recipe_dir: Path,
        from_defaults: frozenset[str] = frozenset(),
    ) -> None:
        self.kind = kind
        self.spec = spec
        self.fields = fields
        self.upstream_kind = upstream_kind
        self.upstream_size = upstream_size
        self.recipe_dir = recipe_dir
        self.problems: list[tuple[Path_, str]] = []
        self.inputs: list[Input] = []
        self.body: dict[str, Any] = {}
        self.input_size: tuple[int, int] | None = upstream_size
        #: ``params`` keys that came from the recipe's ``defaults`` for this kind
        self.from_defaults = from_defaults
        #: body field -> the stage path its value came from (``where`` falls back to params)
        self.origin: dict[str, Path_] = {}
        raw = fields.get("params", {})
        self.params: dict[str, Any] = {}
        if isinstance(raw, Mapping):
            self.params = dict(raw)
        elif raw is not None:
            self.problem(("params",), f"params must be a mapping, not {describe(raw)}")

    def problem(self, path: Path_, message: str) -> None:
        """Record one problem at ``path`` in the stage mapping."""
        self.problems.append((path, message))

    def get(self, key: str) -> tuple[Any, Path_] | None:
        """A stage key's value and path; a body field in ``params`` aliasing it counts too."""
        if key in self.fields and self.fields[key] is not None:
            return self.fields[key], (key,)
        for wire_name, stage_key in self.spec.aliases.items():
            if stage_key == key and wire_name in self.params:
                return self.params[wire_name], ("params", wire_name)
        return None

    def where(self, name: str) -> Path_:
        """The stage path that set body field ``name``: a portable key, else ``params``."""
        return self.origin.get(name, ("params", name))

    def portable_ints(self, names: tuple[str, ...] = PORTABLE_INTS) -> None:
        """Portable integer stage keys (or their ``params`` spelling) into the body."""
        for name in names:
            found = self.get(name)
            if found is None:
                continue
            value, path = found
            if not _is_int(value):
                self.problem(path, f"{name} must be an integer, not {describe(value)}")
                continue
            self.body[name] = value
            self.origin[name] = path

    def text(self, key: str, *, limit: int | None = None, what: str | None = None) -> str | None:
        """A string stage key (``None`` when absent or wrong), its length checked."""
        found = self.get(key)
        if found is None:
            return None
        value, path = found
        if not isinstance(value, str):
            self.problem(path, f"{what or key} must be a string, not {describe(value)}")
            return None
        if limit is not None and len(value) > limit and UPSTREAM_TEXT not in value:
            self.problem(
                path, f"{what or key} is {len(value)} characters; at most {limit} are allowed"
            )
        return value

    def names(self, key: str) -> list[tuple[Any, Path_]]:
        """A stage key holding one item or a list of items, as (item, path) pairs."""
        found = self.get(key)
        if found is None:
            return []
        value, path = found
        if isinstance(value, list):
            return [(item, (*path, i)) for i, item in enumerate(value)]
        return [(value, path)]

    def file(self, path: Path_, name: object) -> LocalFile | None:
        """A local file named at ``path``, checked; ``None`` (and a problem) when unusable."""
        found = local_file(self.recipe_dir, name)
        if isinstance(found, str):
            self.problem(path, found)
            return None
        return found

    def file_input(self, body_field: str, path: Path_, name: object) -> LocalFile | None:
        """A local file becoming an init-image id at ``body_field``."""
        found = self.file(path, name)
        if found is not None:
            self.inputs.append(Input(body_field, "file", "init-image", found.path, found.sha256))
        return found

    def upstream_input(self, body_field: str) -> None:
        """The upstream output's id becoming ``body_field`` at run time."""
        if self.upstream_kind in VIDEO_KINDS:
            self.inputs.append(Input(body_field, "upstream", "generation"))
        elif self.upstream_kind in VARIATION_KINDS:
            self.inputs.append(Input(body_field, "upstream", "variation"))
        else:
            self.inputs.append(Input(body_field, "upstream", "generated-image"))

    def param(self, name: str, default: Any = None) -> Any:
        """A body field's value after ``check_params`` (the default when absent)."""
        return self.body.get(name, default)

    def check_keys(self) -> None:
        """Refuse stage keys this kind does not take."""
        for key in self.fields:
            if key in CONTROL_KEYS or key in self.spec.keys or key == "params":
                continue
            if key in STAGE_KEYS:
                self.problem((key,), f"{key!r} does not apply to {self.kind} stages")
            else:
                hint = suggest(key, [*self.spec.keys, "params"])
                more = f"; did you mean {hint!r}?" if hint else ""
                self.problem((key,), f"unknown stage key {key!r}{more}")

    def check_params(self) -> None:
        """Type-check every ``params`` key against the endpoint's wire fields into ``body``."""
        wire = ENDPOINTS[self.spec.endpoint].fields
        for name, value in self.params.items():
            path: Path_ = ("params", name)
            if name in ("isVariation", "isInitImage", "imageType", "initImageType"):
                self.problem(
                    path,
                    f"{name} is never written by hand: leobatch sets it from where the "
                    "input image comes from",
                )
            elif name in self.spec.runtime:
                self.problem(
                    path,
                    f"{name} is an id known only at run time; leobatch sets it from "
                    f"{self.spec.runtime[name]}",
                )
            elif name in self.spec.managed:
                key = self.spec.managed[name]
                self.problem(path, f"{name} is built by leobatch; use the stage key {key!r}")
            elif name in self.spec.aliases:
                key = self.spec.aliases[name]
                if key in self.fields:
                    self.problem(path, f"{name} is also set by the stage key {key!r}; keep one")
            elif name not in wire and name in STAGE_KEYS:
                self.problem(
                    path, f"{name} is a stage key, not a request field; move it out of params"
                )
            elif name not in wire:
                hint = suggest(name, [*wire, *self.spec.keys])
                more = f"; did you mean {hint!r}?" if hint else ""
                self.problem(path, f"unknown request field {name!r}{more}")
            elif value is not None:
                value, message = coerce(value, wire[name])
                if message is None:
                    self.body[name] = value
                else:
                    self.problem(path, f"{name} {message}")

    def check_range(self, name: str, low: float, high: float) -> None:
        """A numeric body field inside ``low..high``."""
        value = self.body.get(name)
        if value is not None and not low <= value <= high:
            self.problem(("params", name), f"{name} must be in {low}..{high}, not {value}")
