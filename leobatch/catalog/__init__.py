"""The catalogue: models, preset styles, video styles, motion controls and elements.

Data lives beside this module as JSON (``models.json``, ``preset_styles.json``,
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

__all__ = [
    "Element",
    "Model",
    "MotionControl",
    "PresetStyle",
    "VideoStyle",
    "element_fits",
    "elements",
    "find_element",
    "find_model",
    "find_motion_control",
    "find_preset_style",
    "find_video_style",
    "models",
    "motion_controls",
    "preset_styles",
    "suggest",
    "video_styles",
]


@dataclass(frozen=True, slots=True)
class Model:
    """A generation model: ``id`` is a UUID (image) or the wire enum (video, e.g. ``MOTION2``)."""

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


def _load(name: str) -> list[dict[str, Any]]:
    text = files("leobatch.catalog").joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, list)
    return data


@cache
def models() -> tuple[Model, ...]:
    """Every model, image models first."""
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
        )
        for m in _load("models")
    )


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
    for m in models():
        # "Flux Dev (Precision)" is also found as "Flux Dev"
        short = m.name.split(" (")[0]
        for key in (m.slug, m.name, m.id, short):
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
    """The model with this slug, display name (any case, qualifier in brackets optional),
    UUID or video wire enum."""
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
