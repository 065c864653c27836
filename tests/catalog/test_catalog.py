"""The catalogue: every appendix row present, every lookup path, compatibility, suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from leobatch import catalog
from leobatch.api import wire

GUIDE = Path("/work/shared/reference/leonardo-api-guide.md")
IMAGE_SLUGS = {
    "phoenix-1.0", "phoenix-0.9", "lightning-xl", "flux-schnell", "flux-dev", "kino-xl",
    "diffusion-xl", "vision-xl", "anime-xl", "sdxl-1.0", "albedobase-xl", "lucid-realism",
    "lucid-origin", "flux-kontext",
}  # fmt: skip
VIDEO = {
    "motion-2.0": "MOTION2", "motion-2.0-fast": "MOTION2FAST", "veo3": "VEO3",
    "veo3-fast": "VEO3FAST", "kling-2.1": "KLING2_1", "kling-2.5": "KLING2_5",
}  # fmt: skip


def _table_rows(title: str) -> list[list[str]]:
    """Rows of one appendix table of the guide, read independently of the catalogue's JSON."""
    text = GUIDE.read_text(encoding="utf-8")
    text = text[text.index("Appendix: Master Reference Tables") :]
    lines = text[text.index(title) :].splitlines()[1:]
    rows: list[list[str]] = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([c.strip().strip("*").replace("\\", "") for c in line.strip("|").split("|")])
    return [r for r in rows[2:] if r[1].strip()]  # drop header, ruler and category-only rows


needs_guide = pytest.mark.skipif(not GUIDE.exists(), reason="reference guide not present")


@needs_guide
def test_every_model_of_table_a_is_in_the_catalogue() -> None:
    """Each Table A row resolves by its UUID and by its display name."""
    rows = _table_rows("Table A")
    assert len(rows) == 14
    for row in rows:
        by_id = catalog.find_model(row[1])
        assert by_id is not None and by_id.name == row[0]
        assert catalog.find_model(row[0]) is by_id


@needs_guide
def test_every_preset_style_of_table_b_plus_sdk_extras() -> None:
    """Table B's styles plus CINEMATIC_CLOSEUP and UNPROCESSED; equal to the wire enum."""
    names = {r[0] for r in _table_rows("Table B")}
    assert len(names) == 29
    got = {p.name for p in catalog.preset_styles()}
    assert got == names | {"CINEMATIC_CLOSEUP", "UNPROCESSED"}
    assert got == set(wire.PRESET_STYLES)


@needs_guide
def test_table_c_splits_into_motion_controls_and_video_styles() -> None:
    """Motion Control rows become motion controls; Vibe, Lighting and Shot Type video styles."""
    rows = _table_rows("Table C")
    kinds: list[str] = []
    for row in rows:
        kinds.append(row[0] or kinds[-1])
    motion = {r[1]: r[2] for r, k in zip(rows, kinds, strict=True) if k == "Motion Control"}
    styles = {r[1]: (r[2], k) for r, k in zip(rows, kinds, strict=True) if k != "Motion Control"}
    assert (len(motion), len(styles)) == (12, 14)
    assert {m.name: m.id for m in catalog.motion_controls()} == motion
    assert {s.name: (s.id, s.category) for s in catalog.video_styles()} == styles


@needs_guide
def test_every_element_of_table_d() -> None:
    """Each Table D element is present with its akUUID, base model and default weight."""
    rows = _table_rows("Table D")
    assert len(rows) == 110
    assert len(catalog.elements()) == len(rows)
    for name, uuid, base, default, _range in rows:
        element = catalog.find_element(uuid)
        assert element is not None and element.name == name
        assert element.base_model == base and element.weight_default == float(default)
        assert element.weight_min <= element.weight_default <= element.weight_max


def test_model_slugs_and_video_enums() -> None:
    """All fourteen image slugs and six video models resolve; video ids are the wire enums."""
    assert {m.slug for m in catalog.models() if m.kind == "image"} == IMAGE_SLUGS
    for slug, enum in VIDEO.items():
        model = catalog.find_model(slug)
        assert model is not None and model.id == enum and model.kind == "video"
        assert catalog.find_model(enum) is model
        assert set(model.resolutions) <= set(wire.VIDEO_RESOLUTIONS)
    assert set(VIDEO.values()) == set(wire.VIDEO_MODELS)


def test_lookup_is_case_insensitive_and_trims() -> None:
    """Display names, slugs and UUIDs match in any case."""
    phoenix = catalog.find_model("phoenix-1.0")
    assert phoenix is not None
    assert catalog.find_model("leonardo PHOENIX 1.0") is phoenix
    assert catalog.find_model("DE7D3FAF-762F-48E0-B3B7-9D0AC3A3FCF3") is phoenix
    assert catalog.find_model(" Phoenix-1.0 ") is phoenix
    assert catalog.find_model("phoenix-1.1") is None
    assert catalog.find_model("flux dev") is catalog.find_model("Flux Dev (Precision)")
    assert catalog.find_element("sparklecore") == catalog.find_element(
        "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a"
    )
    assert catalog.find_preset_style("cinematic") == catalog.PresetStyle("CINEMATIC", True)
    golden = catalog.find_video_style("golden hour")
    assert golden is not None and golden.category == "Lighting"
    dolly = catalog.find_motion_control("DOLLY IN")
    assert dolly is not None and dolly.id == "ece8c6a9-3deb-430e-8c93-4d5061b6adbf"
    assert catalog.find_motion_control("Golden Hour") is None


def test_pricing_flags_and_constraints_per_pricing_facts() -> None:
    """Model UUIDs carry the calculator flag and constraints of pricing-facts and Table A."""
    expected = {
        "phoenix-1.0": ("isPhoenix", True, 2.5),
        "phoenix-0.9": ("isPhoenix", True, 2.5),
        "lightning-xl": ("isSDXLLightning", False, None),
        "flux-dev": ("isFluxDev", True, None),
        "flux-schnell": ("isFluxSchnell", True, None),
        "flux-kontext": ("isFluxKontext", False, None),
        "diffusion-xl": ("isSDXL", False, None),
        "lucid-origin": ("isPhoenix", True, None),
        "lucid-realism": ("isPhoenix", False, None),
    }
    for slug, (flag, contrast, minimum) in expected.items():
        model = catalog.find_model(slug)
        assert model is not None
        assert (model.calculator_flag, model.contrast_required) == (flag, contrast)
        assert model.alchemy_min_contrast == minimum


def test_guidance_preprocessor_ids() -> None:
    """Guidance types map to each model's controlnet preprocessor id."""
    phoenix, lightning = catalog.find_model("phoenix-1.0"), catalog.find_model("lightning-xl")
    flux = catalog.find_model("flux-dev")
    assert phoenix is not None and lightning is not None and flux is not None
    assert dict(phoenix.guidance) == {
        "style-reference": 166, "character-reference": 397, "content-reference": 364,
    }  # fmt: skip
    assert lightning.guidance["character-reference"] == 133
    assert "character-reference" not in flux.guidance


@pytest.mark.parametrize(
    ("element", "model", "fits"),
    [
        ("Sparklecore", "diffusion-xl", True),
        ("Sparklecore", "lightning-xl", True),
        ("Sparklecore", "phoenix-1.0", False),
        ("Sparklecore", "flux-dev", False),
        ("Cute Handdrawn", "flux-dev", True),
        ("Cute Handdrawn", "flux-schnell", False),
        ("Celtic Punk", "sdxl-1.0", False),
        ("Dolly In", "motion-2.0", True),
        ("Dolly In", "veo3", False),
        ("Sparklecore", "lucid-origin", False),
    ],
)
def test_element_fits(element: str, model: str, fits: bool) -> None:
    """Elements fit the models of their base model family only."""
    e, m = catalog.find_element(element), catalog.find_model(model)
    assert e is not None and m is not None
    assert catalog.element_fits(e, m) is fits


def test_suggest() -> None:
    """Near misses get the closest choice; separators and case are ignored; nonsense gets None."""
    slugs = [m.slug for m in catalog.models()]
    assert catalog.suggest("phoenix-1.1", slugs) == "phoenix-1.0"
    assert catalog.suggest("lightning", slugs) == "lightning-xl"
    assert catalog.suggest("negativePrompt", ["prompt", "negative_prompt"]) == "negative_prompt"
    assert catalog.suggest("CINEMATC", [p.name for p in catalog.preset_styles()]) == "CINEMATIC"
    assert catalog.suggest("zzzzqqq", slugs) is None
    assert catalog.suggest("", slugs) is None


def test_tables_load_once() -> None:
    """The tables are cached: the same tuple each call."""
    assert catalog.models() is catalog.models()
    assert catalog.elements() is catalog.elements()


def test_expected_names_without_the_guide() -> None:
    """The Table C names, written out, so the check holds where the guide is absent."""
    assert {m.name for m in catalog.motion_controls()} == {
        "Bullet Time", "Crane Down", "Crane Up", "Dolly In", "Dolly Left", "Dolly Out",
        "Dolly Right", "Handheld", "Orbit Left", "Orbit Right", "Tilt Down", "Tilt Up",
    }  # fmt: skip
    assert {(s.category, s.name) for s in catalog.video_styles()} == {
        ("Vibe", "Clay"), ("Vibe", "Color Sketch"), ("Vibe", "Logo"),
        ("Lighting", "Backlight"), ("Lighting", "Golden Hour"), ("Lighting", "Low Key"),
        ("Lighting", "Rainy"), ("Lighting", "Soft Light"), ("Lighting", "Volumetric"),
        ("Shot Type", "Bokeh"), ("Shot Type", "Cinematic"), ("Shot Type", "Close Up"),
        ("Shot Type", "Overhead"), ("Shot Type", "Spooky"),
    }  # fmt: skip
    for motion in catalog.motion_controls():
        element = catalog.find_element(motion.id)
        assert element is not None and element.base_model == "WAN21"
