"""Reference images of a v2 request: ``guidance`` entries, ``from`` and ``image`` -> slots.

Every reference becomes one item of a slot in ``parameters.guidances`` (``image_reference``,
``start_frame``, ``style`` ...): ``{"image": {"type": ...}, "strength": ...}``, its id an
``Input`` at ``parameters.guidances.<slot>.<n>.image.id`` (known only at run time). The type
says where the id comes from: ``GENERATED`` (an upstream generation's image: v1 or v2),
``VARIATION`` (an upstream v1 variation: upscale, unzoom, nobg, universal-upscale) or
``UPLOADED`` (a local file, uploaded once per account).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leobatch.catalog import Model, suggest
from leobatch.plan.jobs import Input
from leobatch.request._context import IMAGE_KINDS, VARIATION_KINDS, Ctx, Path_, describe

__all__ = ["GUIDANCE_TYPES", "References"]

#: ``guidance`` entry types (the v1 names and plain ones) -> the v2 slot they fill
GUIDANCE_TYPES: Mapping[str, str] = {
    "style-reference": "style",
    "content-reference": "content",
    "character-reference": "character",
    "image-reference": "image_reference",
    "start-frame": "start_frame",
    "end-frame": "end_frame",
}
_ENTRY_KEYS = ("type", "image", "strength")


@dataclass
class References:
    """The slots being filled for one request, and where each reference came from."""

    ctx: Ctx
    model: Model
    slots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (slot, index) -> the stage path that gave that reference
    origin: dict[tuple[str, int], Path_] = field(default_factory=dict)
    #: slot -> the stage path of its first reference (count problems are located there)
    first: dict[str, Path_] = field(default_factory=dict)
    #: (slot, index) -> the pixel size of a local file's reference
    sizes: dict[tuple[str, int], tuple[int, int] | None] = field(default_factory=dict)

    @property
    def slot_names(self) -> tuple[str, ...]:
        """The model's reference slots."""
        rules = self.model.rules
        return tuple(rules.guidances) if rules is not None else ()

    def default_slot(self, preferred: tuple[str, ...]) -> str | None:
        """The first of ``preferred`` that the model has."""
        return next((s for s in preferred if s in self.slot_names), None)

    def add(self, slot: str, where: Path_, image: dict[str, Any], strength: str | None) -> int:
        """One reference item in ``slot``; returns its index."""
        items = self.slots.setdefault(slot, [])
        item: dict[str, Any] = {"image": image}
        if strength is not None:
            item["strength"] = strength
        items.append(item)
        self.origin[(slot, len(items) - 1)] = where
        self.first.setdefault(slot, where[:1])  # counts: at the stage key (guidance, from)
        return len(items) - 1

    def field(self, slot: str, index: int) -> str:
        """The dotted body path of a reference's id."""
        return f"parameters.guidances.{slot}.{index}.image.id"

    def upstream(self, slot: str, where: Path_, strength: str | None = None) -> bool:
        """The upstream output as a reference in ``slot`` (False, and a problem, if it cannot)."""
        ctx = self.ctx
        if ctx.upstream_kind not in IMAGE_KINDS:
            what = f"{ctx.upstream_kind!r} yields none" if ctx.upstream_kind else "none is given"
            ctx.problem(where, f"a reference image needs 'from' naming an image stage; {what}")
            return False
        variation = ctx.upstream_kind in VARIATION_KINDS
        rules = self.model.rules
        types = rules.guidances[slot].types if rules is not None and slot in rules.guidances else ()
        if variation and "VARIATION" not in types:
            ctx.problem(
                where,
                f"{self.model.slug} takes no variation as {slot} ({ctx.upstream_kind!r} yields "
                f"one; it takes {' or '.join(types) or 'none'}): take 'from' an image stage",
            )
            return False
        image_type = "VARIATION" if variation else "GENERATED"
        index = self.add(slot, where, {"type": image_type}, strength)
        field_name = self.field(slot, index)
        if variation:
            ctx.inputs.append(Input(field_name, "upstream", "variation"))
        else:
            ctx.inputs.append(Input(field_name, "upstream", "generated-image"))
        return True

    def local(self, slot: str, where: Path_, name: object, strength: str | None = None) -> bool:
        """A local file (uploaded at run time) as a reference in ``slot``."""
        found = self.ctx.file(where, name)
        if found is None:
            return False
        index = self.add(slot, where, {"type": "UPLOADED"}, strength)
        field_name = self.field(slot, index)
        self.ctx.inputs.append(Input(field_name, "file", "init-image", found.path, found.sha256))
        self.sizes[(slot, index)] = found.size
        return True

    def guidance(self, default: str | None) -> bool:
        """The stage's ``guidance`` entries; whether one of them takes the upstream output."""
        ctx = self.ctx
        uses_upstream = False
        for entry, path in ctx.names("guidance"):
            if not isinstance(entry, Mapping):
                ctx.problem(path, f"a guidance entry must be a mapping, not {describe(entry)}")
                continue
            for key in entry:
                if key not in _ENTRY_KEYS:
                    hint = suggest(str(key), _ENTRY_KEYS)
                    more = f"; did you mean {hint!r}?" if hint else ""
                    if key == "weight":
                        more = " (v2 references take a strength, not a weight)"
                    ctx.problem((*path, key), f"unknown guidance key {key!r}{more}")
            slot = self._slot(entry.get("type"), (*path, "type"), default)
            strength = self._strength(entry.get("strength"), (*path, "strength"))
            if "image" not in entry:
                ctx.problem(path, "a guidance entry needs an image: a path or 'upstream'")
                continue
            if slot is None:
                continue
            image = entry["image"]
            if image == "upstream":
                uses_upstream = True
                self.upstream(slot, (*path, "image"), strength)
            else:
                self.local(slot, (*path, "image"), image, strength)
        return uses_upstream

    def _slot(self, kind: object, where: Path_, default: str | None) -> str | None:
        names = self.slot_names
        slug = self.model.slug
        if kind is None:
            if default is None:
                has = f"; it has {', '.join(names)}: give the type" if names else ""
                self.ctx.problem(where[:-1], f"{slug} takes no reference images{has}")
            return default
        if not isinstance(kind, str):
            self.ctx.problem(where, f"a guidance type must be a string, not {describe(kind)}")
            return None
        slot = GUIDANCE_TYPES.get(kind, kind)
        if slot in names:
            return slot
        hint = None
        if kind not in GUIDANCE_TYPES:  # a known type the model lacks needs no guess
            hint = suggest(kind, [*names, *(k for k, v in GUIDANCE_TYPES.items() if v in names)])
        more = f"; did you mean {hint!r}?" if hint else ""
        has = f" (it has {', '.join(names)})" if names else " (it takes no reference images)"
        self.ctx.problem(where, f"{slug} has no {kind} reference slot{has}{more}")
        return None

    def _strength(self, value: object, where: Path_) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.ctx.problem(where, f"a strength must be a name, not {describe(value)}")
            return None
        return value.upper()  # v1 spells them Mid, High; v2 MID, HIGH

    def parameters(self) -> dict[str, list[dict[str, Any]]]:
        """``parameters.guidances`` (without ids)."""
        return self.slots

    def locate(self, path: tuple[str | int, ...]) -> Path_ | None:
        """The stage path of a problem at ``path`` inside ``guidances``, if a reference made it."""
        if len(path) >= 2 and isinstance(path[1], int):
            return self.origin.get((str(path[0]), path[1]))
        if len(path) == 1:
            return self.first.get(str(path[0]))
        return None
