"""The catalogue: models, preset styles, video styles, motion controls and elements.

Data lives beside this module as JSON (``models.json`` for the v1 surface, ``models_v2.json`` for
the v2 surface with each model's parameter rules (see :mod:`leobatch.catalog.v2`),
``preset_styles.json``,
``video_styles.json``, ``motion_controls.json``, ``elements.json``), generated from the
appendix tables of the seed guide and corrected by api-facts section 11: motion controls are
*elements* on the wire (``elements[{akUUID, weight}]``), not ``styleIds``. Each file is read once,
on first use, and cached.

Choices not fixed by the references:

- Video models: Motion 2.0 and Motion 2.0 Fast allow RESOLUTION_480 and RESOLUTION_720 (the
  pricing calculator's MOTION_VIDEO_GENERATION values); Veo 3 and Veo 3 Fast only RESOLUTION_720;
  Kling 2.1 and 2.5 RESOLUTION_720 and RESOLUTION_1080. The first entry is each model's default.
- Element "App Icon" is listed with the range "2 to 2" and default 1; its range is read as -2..2.
- Lucid Realism and Lucid Origin have no base model that elements are known to fit
  (``sd_version`` is ``None``). The pricing calculator has no flag for them (pricing-facts
  section 2 suggests ``isPhoenix``), so they are priced as Phoenix: ``calculator_flag`` is the
  flag leobatch sends, not a claim about Leonardo's internals.
- v2 models (api-v2-facts sections 2 and 3.1-3.2): ``id`` is Leonardo's wire ``model`` string and
  the slug is that string, unless a v1 slug already has it (v1 keeps it, so recipes and job keys do
  not change): then the v2 slug ends in ``-v2`` (``lucid-origin-v2``). Facts marked unconfirmed
  carry the choice made in the model's ``notes`` in ``models_v2.json``.
- Lifecycle dates are calendar dates (``retire_on``): a model is retired from that day on.
  Kling 2.1 Pro stops at 2026-09-15 09:30 AEST, i.e. 2026-09-14 23:30 UTC; its date is kept as
  Leonardo writes it (the day was past when this catalogue was written).
- :func:`models` returns the v1 models only (what the v1 request builder, pricing and emulator
  iterate); :func:`v2_models` the v2 ones and :func:`all_models` both. :func:`find_model` finds
  either, v1 first where a name is shared (``Lucid Origin`` is the v1 model; ``lucid-origin-v2`` or
  ``lucid-origin`` on the v2 side by wire string is not: the wire string is also the v1 slug).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from leobatch.catalog._lifecycle import (
    RETIRED_KINDS,
    RETIRING_WINDOW_DAYS,
    Lifecycle,
    LifecycleState,
    lifecycle,
)
from leobatch.catalog._rules import V2Rules, merge_rules, parse_rules

__all__ = [
    "RETIRED_KINDS",
    "RETIRING_WINDOW_DAYS",
    "Element",
    "Lifecycle",
    "LifecycleState",
    "Model",
    "MotionControl",
    "PresetStyle",
    "V2Rules",
    "VideoStyle",
    "all_models",
    "element_fits",
    "elements",
    "find_element",
    "find_model",
    "find_motion_control",
    "find_preset_style",
    "find_video_style",
    "lifecycle",
    "models",
    "motion_controls",
    "preset_styles",
    "suggest",
    "v2_models",
    "video_styles",
]


@dataclass(frozen=True, slots=True)
class Model:
    """A generation model.

    v1: ``id`` is a UUID (image) or the wire enum (video, e.g. ``MOTION2``). v2 (``surface ==
    "v2"``): ``id`` is the wire ``model`` string, ``kind`` one of image, video, upscaler,
    remove-bg, ``family`` the price family, ``rules`` the parameter rules.
    """

    slug: str
    name: str
    id: str
    kind: str
    family: str
    calculator_flag: str | None
    sd_version: str | None
    contrast_required: bool
    alchemy_min_contrast: float | None
    guidance: Mapping[str, int]
    resolutions: tuple[str, ...]
    surface: str = "v1"
    aliases: tuple[str, ...] = ()
    retire_on: str | None = None  # ISO date from which Leonardo refuses the model
    replacement: str | None = None  # a name find_model resolves (slug or alias)
    rules: V2Rules | None = None
    prompt_max: int | None = None


@dataclass(frozen=True, slots=True)
class Element:
    """An element (LoRA): ``id`` is its akUUID, ``base_model`` the base it was trained on."""

    name: str
    id: str
    base_model: str
    weight_default: float
    weight_min: float
    weight_max: float


@dataclass(frozen=True, slots=True)
class PresetStyle:
    """An image ``presetStyle`` value and whether it needs Alchemy."""

    name: str
    needs_alchemy: bool


@dataclass(frozen=True, slots=True)
class VideoStyle:
    """A video ``styleIds`` entry; ``category`` is ``Vibe``, ``Lighting`` or ``Shot Type``."""

    name: str
    id: str
    category: str


@dataclass(frozen=True, slots=True)
class MotionControl:
    """A Motion 2.0 camera motion; ``id`` is an element akUUID on the wire (base model WAN21)."""

    name: str
    id: str


def _read(name: str) -> Any:
    text = files("leobatch.catalog").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def _load(name: str) -> list[dict[str, Any]]:
    data = _read(name)
    assert isinstance(data, list)
    return data


@cache
def models() -> tuple[Model, ...]:
    """Every v1 model, image models first (see :func:`v2_models` and :func:`all_models`)."""
    return tuple(
        Model(
            slug=m["slug"],
            name=m["name"],
            id=m["id"],
            kind=m["kind"],
            family=m["family"],
            calculator_flag=m["calculator_flag"],
            sd_version=m["sd_version"],
            contrast_required=m["contrast_required"],
            alchemy_min_contrast=m["alchemy_min_contrast"],
            guidance=MappingProxyType(dict(m["guidance"])),
            resolutions=tuple(m["resolutions"]),
            aliases=tuple(m.get("aliases", ())),
            retire_on=m.get("retire_on"),
            replacement=m.get("replacement"),
        )
        for m in _load("models")
    )


def _v2_model(raw: Mapping[str, Any], data: Mapping[str, Any], v1_slugs: set[str]) -> Model:
    rules = {**_raw_rules(raw, data), "notes": raw.get("notes", ())}
    parsed = parse_rules(rules, _style_sets(data))
    slug = raw.get("slug", raw["id"])
    if slug in v1_slugs:
        slug = f"{slug}-v2"
    aliases = tuple(raw.get("aliases", ()))
    if "/" in raw["id"]:  # "bytedance/seedream-5.0-flash" is also "seedream-5.0-flash"
        aliases = (raw["id"].rpartition("/")[2], *aliases)
    return Model(
        slug=slug,
        name=raw["name"],
        id=raw["id"],
        kind=raw["kind"],
        family=raw.get("family", raw["id"]),
        calculator_flag=None,
        sd_version=None,
        contrast_required=False,
        alchemy_min_contrast=None,
        guidance=MappingProxyType({}),
        resolutions=(),
        surface="v2",
        aliases=aliases,
        retire_on=raw.get("retire_on"),
        replacement=raw.get("replacement"),
        rules=parsed,
        prompt_max=parsed.prompt_max if parsed.prompt else None,
    )


def _raw_rules(raw: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The model's rules with its ``like`` chain (a template or another model) resolved."""
    like = raw.get("like")
    base: Mapping[str, Any] = {}
    if like is not None:
        if like in data["templates"]:
            template = data["templates"][like]
            base = _raw_rules(template, data) if "like" in template else template.get("rules", {})
        else:
            other = next(m for m in data["models"] if m["id"] == like)
            base = _raw_rules(other, data)
    return merge_rules(base, raw.get("rules", {}))


def _style_sets(data: Mapping[str, Any]) -> dict[str, Mapping[str, str]]:
    """The v2 style id sets by name, plus ``video``: the v1 video styles (Motion 2.0)."""
    return {**data["style_sets"], "video": {v.name: v.id for v in video_styles()}}


@cache
def v2_models() -> tuple[Model, ...]:
    """Every v2 model (``POST /v2/generations``), retired ones included."""
    data = _read("models_v2")
    v1_slugs = {m.slug for m in models()}
    return tuple(_v2_model(m, data, v1_slugs) for m in data["models"])


def all_models() -> tuple[Model, ...]:
    """Every model of both surfaces: the v1 models, then the v2 ones."""
    return models() + v2_models()


@cache
def elements() -> tuple[Element, ...]:
    """Every element (LoRA) of the catalogue."""
    return tuple(
        Element(
            name=e["name"],
            id=e["id"],
            base_model=e["base_model"],
            weight_default=float(e["weight_default"]),
            weight_min=float(e["weight_min"]),
            weight_max=float(e["weight_max"]),
        )
        for e in _load("elements")
    )


@cache
def preset_styles() -> tuple[PresetStyle, ...]:
    """Every image preset style."""
    return tuple(PresetStyle(p["name"], p["needs_alchemy"]) for p in _load("preset_styles"))


@cache
def video_styles() -> tuple[VideoStyle, ...]:
    """Every video style (Vibe, Lighting, Shot Type)."""
    return tuple(VideoStyle(v["name"], v["id"], v["category"]) for v in _load("video_styles"))


@cache
def motion_controls() -> tuple[MotionControl, ...]:
    """Every Motion 2.0 motion control."""
    return tuple(MotionControl(m["name"], m["id"]) for m in _load("motion_controls"))


@cache
def _model_index() -> Mapping[str, Model]:
    index: dict[str, Model] = {}
    # slugs, aliases and ids first, so that a display name shared across surfaces
    # ("Lucid Origin") never hides a slug; v1 before v2 at each level
    for m in all_models():
        for key in (m.slug, *m.aliases):
            index.setdefault(key.casefold(), m)
    for m in all_models():
        index.setdefault(m.id.casefold(), m)
    for m in all_models():
        # "Flux Dev (Precision)" is also found as "Flux Dev"
        for key in (m.name, m.name.split(" (")[0]):
            index.setdefault(key.casefold(), m)
    return index


@cache
def _named_index(table: str) -> Mapping[str, Any]:
    rows: tuple[Any, ...] = {
        "elements": elements,
        "preset_styles": preset_styles,
        "video_styles": video_styles,
        "motion_controls": motion_controls,
    }[table]()
    index: dict[str, Any] = {}
    for row in rows:
        index.setdefault(row.name.casefold(), row)
        if hasattr(row, "id"):
            index.setdefault(row.id.casefold(), row)
    return index


def _key(name: object) -> str | None:
    return name.strip().casefold() if isinstance(name, str) else None


def find_model(name: str) -> Model | None:
    """The v1 or v2 model with this slug, alias, display name (any case, qualifier in
    brackets optional), UUID, video wire enum or v2 wire string."""
    key = _key(name)
    return None if key is None else _model_index().get(key)


def find_element(name: str) -> Element | None:
    """The element with this name (any case) or akUUID."""
    key = _key(name)
    found = None if key is None else _named_index("elements").get(key)
    return found if isinstance(found, Element) else None


def find_preset_style(name: str) -> PresetStyle | None:
    """The preset style with this name (any case: ``cinematic`` is ``CINEMATIC``)."""
    key = _key(name)
    found = None if key is None else _named_index("preset_styles").get(key)
    return found if isinstance(found, PresetStyle) else None


def find_video_style(name: str) -> VideoStyle | None:
    """The video style with this name (any case) or UUID."""
    key = _key(name)
    found = None if key is None else _named_index("video_styles").get(key)
    return found if isinstance(found, VideoStyle) else None


def find_motion_control(name: str) -> MotionControl | None:
    """The motion control with this name (any case) or akUUID."""
    key = _key(name)
    found = None if key is None else _named_index("motion_controls").get(key)
    return found if isinstance(found, MotionControl) else None


#: element base model -> the model ``sd_version`` values it fits
_FITS: Mapping[str, frozenset[str]] = {
    "SDXL_1_0": frozenset({"SDXL_1_0", "SDXL_0_9", "SDXL_LIGHTNING"}),
    "SDXL_LIGHTNING": frozenset({"SDXL_LIGHTNING"}),
    "FLUX_DEV": frozenset({"FLUX_DEV"}),
    "WAN21": frozenset({"WAN21"}),
}


def element_fits(element: Element, model: Model) -> bool:
    """Whether ``element`` can be applied with ``model`` (base-model compatibility)."""
    if model.sd_version is None:
        return False
    fits = _FITS.get(element.base_model, frozenset({element.base_model}))
    return model.sd_version in fits


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (case-insensitive), for "did you mean ...", or ``None``."""
    if not isinstance(name, str) or not name:
        return None
    options = list(dict.fromkeys(choices))
    by_fold: dict[str, str] = {}
    for choice in options:
        by_fold.setdefault(choice.casefold(), choice)
    folded = name.casefold()
    if folded in by_fold:
        return by_fold[folded]
    simple = {_simplify(c): c for c in reversed(options)}
    if _simplify(name) in simple:
        return simple[_simplify(name)]
    close = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def _simplify(text: str) -> str:
    """Lower case without separators: ``negativePrompt`` and ``negative_prompt`` meet here."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())
