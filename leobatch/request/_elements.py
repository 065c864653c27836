"""Elements (LoRAs) for image stages and motion controls for video stages: both are
``elements[{akUUID, weight}]`` on the wire (api-facts section 11.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leobatch import catalog
from leobatch.catalog import Element, Model, suggest
from leobatch.request._context import UUID, Ctx, Path_, describe

__all__ = ["elements", "motion"]


def _weight(ctx: Ctx, path: Path_, raw: object, element: Element | None) -> float | None:
    if raw is None:
        return element.weight_default if element is not None else 1.0
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        ctx.problem(path, f"weight must be a number, not {describe(raw)}")
        return None
    if element is not None and not element.weight_min <= raw <= element.weight_max:
        ctx.problem(
            path,
            f"weight of {element.name!r} must be in {element.weight_min:g}..{element.weight_max:g},"
            f" not {raw}",
        )
        return None
    return raw


def _entry(ctx: Ctx, entry: object, path: Path_) -> tuple[str, Path_, object] | None:
    """(name or akUUID, its path, weight) of one entry: a string or a mapping."""
    if isinstance(entry, str):
        return entry, path, None
    if not isinstance(entry, Mapping):
        ctx.problem(
            path, f"must be a name or a mapping with name and weight, not {describe(entry)}"
        )
        return None
    for key in entry:
        if key not in ("name", "akUUID", "weight"):
            hint = suggest(str(key), ["name", "akUUID", "weight"])
            more = f"; did you mean {hint!r}?" if hint else ""
            ctx.problem((*path, key), f"unknown key {key!r}{more}")
    key = "name" if "name" in entry else "akUUID"
    name = entry.get(key)
    if not isinstance(name, str):
        ctx.problem((*path, key), f"needs a name or akUUID, not {describe(name)}")
        return None
    return name, (*path, key), entry.get("weight")


def elements(ctx: Ctx, model: Model | None, key: str, *, custom: bool) -> None:
    """The stage's ``elements`` -> body ``elements``, each fitting ``model``."""
    entries = ctx.names(key)
    out: list[dict[str, Any]] = []
    for entry, path in entries:
        found = _entry(ctx, entry, path)
        if found is None:
            continue
        name, name_path, raw_weight = found
        element = catalog.find_element(name)
        weight_path = (*path, "weight") if isinstance(entry, Mapping) else path
        if element is None and UUID.match(name.strip()):
            weight = _weight(ctx, weight_path, raw_weight, None)  # the account's own element
            if weight is not None:
                out.append({"akUUID": name.strip(), "weight": weight})
            continue
        if element is None:
            hint = suggest(name, [e.name for e in catalog.elements()])
            more = f"; did you mean {hint!r}?" if hint else ""
            ctx.problem(name_path, f"unknown element {name!r}{more}")
            continue
        if model is not None and not catalog.element_fits(element, model):
            ctx.problem(
                name_path,
                f"element {element.name!r} (base model {element.base_model}) does not fit "
                f"model {model.slug!r} ({model.sd_version or 'no element base'})",
            )
        elif model is None and not custom and element.base_model != "v1_5":
            ctx.problem(
                name_path,
                f"element {element.name!r} (base model {element.base_model}) needs a model "
                "it fits; without a model the API uses SD 1.5",
            )
        weight = _weight(ctx, weight_path, raw_weight, element)
        if weight is not None:
            out.append({"akUUID": element.id, "weight": weight})
    if entries:
        ctx.body["elements"] = out


def motion(ctx: Ctx, model: Model | None) -> None:
    """The stage's ``motion`` (a motion control name) -> body ``elements``."""
    found = ctx.get("motion")
    if found is None:
        return
    value, path = found
    entry = _entry(ctx, value, path)
    if entry is None:
        return
    name, name_path, raw_weight = entry
    control = catalog.find_motion_control(name)
    if control is None:
        hint = suggest(name, [m.name for m in catalog.motion_controls()])
        more = f"; did you mean {hint!r}?" if hint else ""
        ctx.problem(name_path, f"unknown motion control {name!r}{more}")
        return
    if model is not None and model.sd_version != "WAN21":
        ctx.problem(path, f"motion controls need Motion 2.0, not model {model.slug!r}")
        return
    element = catalog.find_element(control.id)
    weight_path = (*path, "weight") if isinstance(value, Mapping) else path
    weight = _weight(ctx, weight_path, raw_weight, element)
    if weight is not None:
        ctx.body["elements"] = [{"akUUID": control.id, "weight": weight}]
