"""The v2 parameter rules of each model, as pure functions (no I/O).

The request builder checks a stage's ``parameters`` with :func:`check_parameters` at plan time
and the emulator refuses a ``POST /v2/generations`` with the same function, so the two never
disagree. Each problem is ``(path, message)``: ``path`` is where it is inside ``parameters``
(``("guidances", "image_reference", 0, "strength")``; ``()`` for the object itself), the message
names the model, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leobatch.catalog import Model, V2Rules
from leobatch.catalog._checks import (
    Problems,
    check_guidances,
    check_param,
    check_prompt,
    check_quantity_and_duration,
    check_styles,
    unknown_names,
)
from leobatch.catalog._sizes import check_sizes

__all__ = [
    "Problem",
    "check_parameters",
    "duration",
    "example_parameters",
    "media_size",
    "parameter_names",
    "style_id",
    "style_names",
]

#: one problem: its path inside ``parameters`` and a message for users
Problem = tuple[tuple[str | int, ...], str]


def _rules(model: Model) -> V2Rules:
    if model.rules is None:
        raise ValueError(f"{model.slug} is a {model.surface} model: it has no v2 parameter rules")
    return model.rules


def parameter_names(model: Model) -> tuple[str, ...]:
    """Every name ``model`` accepts in ``parameters`` (for did-you-mean), in a stable order."""
    rules = _rules(model)
    names: list[str] = []
    if rules.prompt:
        names.append("prompt")
    if rules.sizes.kind != "none":
        names += ["width", "height"]
    names.append("quantity")
    if rules.durations:
        names.append("duration")
    if rules.guidances:
        names.append("guidances")
    if rules.styles:
        names.append("style_ids")
    names += [n for n in rules.params if n not in names]
    return tuple(names)


def check_parameters(model: Model, parameters: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a v2 ``parameters`` object for ``model``, each at its path."""
    rules = _rules(model)
    if not isinstance(parameters, Mapping):  # the wire edge: any JSON value may arrive
        return [((), f"{model.slug}: parameters must be an object, not {_kind(parameters)}")]  # type: ignore[unreachable]
    problems: Problems = []
    names = parameter_names(model)
    problems += unknown_names(model.slug, "parameter", parameters, names, (), rules.rejected)
    for name in rules.required:
        if name not in parameters:
            problems.append(((name,), f"{model.slug} needs {name!r} in parameters"))
    problems += check_prompt(model.slug, rules, parameters)
    problems += check_sizes(model.slug, rules, parameters)
    problems += check_quantity_and_duration(model.slug, model.kind, rules, parameters)
    if "guidances" in parameters and "guidances" in names:
        problems += check_guidances(model.slug, rules, parameters["guidances"])
    else:
        for slot in rules.guidances.values():
            if slot.min:
                problems.append(
                    (("guidances",), f"{model.slug} needs {_count(slot.min)} {slot.name}")
                )
    if "style_ids" in parameters and rules.styles:
        problems += check_styles(model.slug, rules, parameters["style_ids"])
    for name, param in rules.params.items():
        if name in parameters:
            problems += check_param(model.slug, param, parameters[name], (name,))
    return problems


def style_names(model: Model) -> tuple[str, ...]:
    """The names of ``model``'s own style set, in the model's order (empty: no ``style_ids``)."""
    return tuple(_rules(model).styles) if model.rules is not None else ()


def style_id(model: Model, name: str) -> str | None:
    """The id of style ``name`` (any case) in ``model``'s own set, or ``None``."""
    if model.rules is None:
        return None
    folded = name.strip().casefold()
    for style, sid in model.rules.styles.items():
        if style.casefold() == folded or sid == folded:
            return sid
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def media_size(model: Model, parameters: Mapping[str, Any]) -> tuple[int, int] | None:
    """The output's pixel size, or ``None`` when it depends on an input (``0x0``, remove-bg).

    For upscalers ``width``/``height`` are the input's size: the output is that times
    ``upscale_factor``.
    """
    rules = _rules(model)
    sizes = rules.sizes
    if sizes.kind == "none":
        return None
    default = sizes.default or (None, None)
    width = _int(parameters.get("width", default[0]))
    height = _int(parameters.get("height", default[1]))
    if width is None or height is None or width <= 0 or height <= 0:
        return None
    if sizes.kind == "input":
        factor = _int(parameters.get("upscale_factor", rules.params["upscale_factor"].default))
        if factor is None:
            return None
        return width * factor, height * factor
    return width, height


def duration(model: Model, parameters: Mapping[str, Any]) -> int | None:
    """The video's length in seconds (the model's default when not given), or ``None``."""
    rules = _rules(model)
    if not rules.durations:
        return rules.duration_default  # a fixed length, or not a video
    return _int(parameters.get("duration", rules.duration_default))


#: the placeholder id :func:`example_parameters` puts in required reference slots
EXAMPLE_ID = "00000000-0000-4000-8000-000000000000"


def example_parameters(model: Model, prompt: str = "a lighthouse at dusk") -> dict[str, Any]:
    """A minimal valid ``parameters`` object for ``model`` (documentation, tests, the emulator).

    Required reference slots get :data:`EXAMPLE_ID` (replace it with a real image id).
    """
    rules = _rules(model)
    out: dict[str, Any] = {}
    if rules.prompt:
        out["prompt"] = prompt
    sizes = rules.sizes
    size = sizes.default or (sizes.pairs[0] if sizes.required and sizes.pairs else None)
    if sizes.kind == "input":
        size = (1024, 1024)
    if size is not None:
        out["width"], out["height"] = size
    out["quantity"] = rules.quantity_default
    if rules.durations and rules.duration_default is not None:
        out["duration"] = rules.duration_default
    for name in rules.required:
        param = rules.params.get(name)
        if name not in out and param is not None:
            out[name] = param.default if param.default is not None else param.values[0]
    slots = {
        slot.name: [{slot.item: {"id": EXAMPLE_ID, "type": slot.types[0]}}] * slot.min
        for slot in rules.guidances.values()
        if slot.min
    }
    if slots:
        out["guidances"] = slots
    return out


def _kind(value: object) -> str:
    from leobatch.catalog._checks import type_name

    return type_name(value)


def _count(n: int) -> str:
    return "exactly 1" if n == 1 else f"at least {n}"
