"""The v2 parameter rules as values, parsed from ``models_v2.json``.

One :class:`V2Rules` per v2 model: its size rule, quantity, durations, prompt limits, reference
slots (``guidances.*``), style set, and the typed parameters of its own. The JSON is written to be
read and edited by people: a model may say ``"like": "<template or wire id>"`` to start from
another rule set; its own ``rules`` then replace keys of that set, and ``params`` / ``guidances``
merge by name (``null`` removes an inherited entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Param", "Sizes", "Slot", "V2Rules", "merge_rules", "parse_rules"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class Param:
    """One typed parameter: ``type`` is enum, int, number, bool, string, object, array or any."""

    name: str
    type: str
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    default: Any = None


@dataclass(frozen=True, slots=True)
class Slot:
    """A reference slot inside ``parameters.guidances``: a list of ``{<item>: {id, type}, ...}``."""

    name: str
    item: str = "image"  # the key of the reference object: image, video or audio
    max: int = 1
    min: int = 0
    types: tuple[str, ...] = ("GENERATED", "UPLOADED")
    strengths: tuple[str, ...] = ()  # empty: the slot takes no strength
    needs: str | None = None  # another slot this one requires (end_frame needs start_frame)
    max_with: Mapping[str, int] = field(
        default_factory=_empty
    )  # a lower max while another slot is used
    order: bool = False  # whether items may carry ``order``


@dataclass(frozen=True, slots=True)
class Sizes:
    """How ``width``/``height`` are checked.

    ``kind``: ``pairs`` (only listed pairs), ``axes`` (per-axis value lists, then ``pairs`` if
    any are listed), ``range`` (per-axis ranges with a multiple), ``gpt-image-2`` (presets or the
    custom rule), ``input`` (the input image's size, for upscalers), ``none`` (no size
    parameters), ``free`` (any positive integers).
    """

    kind: str
    pairs: tuple[tuple[int, int], ...] = ()
    widths: tuple[int, ...] = ()
    heights: tuple[int, ...] = ()
    width_range: tuple[int, int] | None = None
    height_range: tuple[int, int] | None = None
    multiple: int = 1
    zero: bool = False  # 0x0 = match the reference / automatic
    both: bool = False  # give both width and height or neither
    required: bool = False
    default: tuple[int, int] | None = None
    by_mode: Mapping[str, tuple[tuple[int, int], ...]] = field(
        default_factory=_empty
    )  # ``mode`` -> its pairs


@dataclass(frozen=True, slots=True)
class V2Rules:
    """Everything :func:`leobatch.catalog.v2.check_parameters` checks for one model."""

    sizes: Sizes
    quantity_max: int = 1
    quantity_default: int = 1
    durations: tuple[int, ...] = ()  # empty: no ``duration`` parameter
    duration_default: int | None = None  # also the fixed length of a model without ``duration``
    duration_max_with: Mapping[str, int] = field(
        default_factory=_empty
    )  # a lower maximum while a slot is used
    prompt: bool = True  # whether the model takes a prompt
    prompt_required: bool = True
    prompt_min: int = 1
    prompt_max: int | None = None
    guidances: Mapping[str, Slot] = field(default_factory=_empty)
    exclusive: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    styles: Mapping[str, str] = field(
        default_factory=_empty
    )  # style name -> id, in the model's own order
    styles_max: int | None = None
    style_default: str | None = None
    params: Mapping[str, Param] = field(default_factory=_empty)
    required: tuple[str, ...] = ()
    rejected: Mapping[str, str] = field(
        default_factory=_empty
    )  # a parameter Leonardo stopped taking -> why / instead
    notes: tuple[str, ...] = field(default=())


def merge_rules(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """``own`` over ``base``: top-level keys replace, ``params``/``guidances`` merge by name."""
    out = dict(base)
    for key, value in own.items():
        if key in ("params", "guidances") and isinstance(value, Mapping):
            merged = dict(base.get(key) or {})
            for name, spec in value.items():
                if spec is None:
                    merged.pop(name, None)
                else:
                    merged[name] = spec
            out[key] = merged
        else:
            out[key] = value
    return out


def _pairs(raw: Any) -> tuple[tuple[int, int], ...]:
    return tuple((int(w), int(h)) for w, h in raw or ())


def _sizes(raw: Mapping[str, Any]) -> Sizes:
    default = raw.get("default")
    return Sizes(
        kind=raw["kind"],
        pairs=_pairs(raw.get("pairs")),
        widths=tuple(raw.get("widths", ())),
        heights=tuple(raw.get("heights", ())),
        width_range=tuple(raw["width"]) if "width" in raw else None,
        height_range=tuple(raw["height"]) if "height" in raw else None,
        multiple=int(raw.get("multiple", 1)),
        zero=bool(raw.get("zero", False)),
        both=bool(raw.get("both", False)),
        required=bool(raw.get("required", False)),
        default=(int(default[0]), int(default[1])) if default else None,
        by_mode=MappingProxyType({k: _pairs(v) for k, v in raw.get("by_mode", {}).items()}),
    )


def _slot(name: str, raw: Mapping[str, Any]) -> Slot:
    return Slot(
        name=name,
        item=raw.get("item", "image"),
        max=int(raw.get("max", 1)),
        min=int(raw.get("min", 0)),
        types=tuple(raw.get("types", ("GENERATED", "UPLOADED"))),
        strengths=tuple(raw.get("strengths", ())),
        needs=raw.get("needs"),
        max_with=MappingProxyType(dict(raw.get("max_with", {}))),
        order=bool(raw.get("order", False)),
    )


def _param(name: str, raw: Mapping[str, Any]) -> Param:
    return Param(
        name=name,
        type=raw["type"],
        values=tuple(raw.get("values", ())),
        min=raw.get("min"),
        max=raw.get("max"),
        default=raw.get("default"),
    )


def _durations(raw: Any) -> tuple[int, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        step = int(raw.get("step", 1))
        return tuple(range(int(raw["min"]), int(raw["max"]) + 1, step))
    return tuple(int(d) for d in raw)


def _styles(raw: Mapping[str, Any] | None, sets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    if not raw:
        return {}
    styles = dict(sets[raw["set"]])
    for name in raw.get("without", ()):
        del styles[name]
    styles.update(raw.get("ids", {}))  # a set's name with another id on this model
    return styles


def parse_rules(raw: Mapping[str, Any], sets: Mapping[str, Mapping[str, str]]) -> V2Rules:
    """One model's merged ``rules`` object as :class:`V2Rules` (``sets``: the style id sets)."""
    quantity = raw.get("quantity", {})
    duration = raw.get("duration")
    prompt = raw.get("prompt", {})
    styles = raw.get("styles")
    exclusive = tuple((frozenset(a), frozenset(b)) for a, b in raw.get("exclusive", ()))
    return V2Rules(
        sizes=_sizes(raw["sizes"]),
        quantity_max=int(quantity.get("max", 1)),
        quantity_default=int(quantity.get("default", 1)),
        durations=_durations(duration.get("values")) if duration else (),
        duration_default=(duration.get("default", duration.get("fixed")) if duration else None),
        duration_max_with=MappingProxyType(dict((duration or {}).get("max_with", {}))),
        prompt=prompt is not None,
        prompt_required=bool((prompt or {}).get("required", True)),
        prompt_min=int((prompt or {}).get("min", 1)),
        prompt_max=(prompt or {}).get("max"),
        guidances=MappingProxyType(
            {k: _slot(k, v) for k, v in (raw.get("guidances") or {}).items()}
        ),
        exclusive=exclusive,
        styles=MappingProxyType(_styles(styles, sets)),
        styles_max=styles.get("max") if styles else None,
        style_default=styles.get("default") if styles else None,
        params=MappingProxyType({k: _param(k, v) for k, v in (raw.get("params") or {}).items()}),
        required=tuple(raw.get("required", ())),
        rejected=MappingProxyType(dict(raw.get("rejected", {}))),
        notes=tuple(raw.get("notes", ())),
    )
