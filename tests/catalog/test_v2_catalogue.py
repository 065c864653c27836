"""The v2 catalogue: every documented model present, lookups, lifecycles, style sets."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from leobatch import catalog
from leobatch.catalog import v2

FACTS = Path("/work/shared/reference/api-v2-facts.md")
needs_facts = pytest.mark.skipif(not FACTS.exists(), reason="api-v2-facts not present")

V2 = catalog.v2_models()
CURRENT = [m for m in V2 if m.retire_on is None]


def _table_wire_strings(heading: str) -> set[str]:
    """The lower-case backticked ``model`` strings of one table of api-v2-facts section 2."""
    text = FACTS.read_text(encoding="utf-8")
    lines = text[text.index(heading) :].splitlines()
    rows: list[str] = []
    for line in lines[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append(line)
    found: set[str] = set()
    for row in rows[2:]:  # past the header and the ruler
        cell = row.strip("|").split("|")[1]
        wires = re.findall(r"`([^`]+)`", cell)
        found |= {s for s in wires if s == s.lower() and not s.startswith("/")}
    return found


@needs_facts
@pytest.mark.parametrize("heading", ["### 2.1 Image models", "### 2.2 Video models"])
def test_every_v2_model_of_the_section_2_tables_is_catalogued(heading: str) -> None:
    """Each lower-case wire string in the tables is a v2 model with that id."""
    wires = _table_wire_strings(heading)
    assert len(wires) > 15
    ids = {m.id for m in V2}
    assert wires - ids == set()


#: the "Other v2 ... models" paragraphs and sections 3.1-3.2, read by hand
OTHER_IDS = {
    "flux-dev", "flux-schnell", "flux-kontext-max", "ideogram-v4.0", "ideogram/p-image-ideogram",
    "ideogram/ideogram-4.5", "bytedance/seedream-5.0-flash", "seedream-5.0-pro", "bfl/flux-3-image",
    "openai/gpt-image-2.5-flare", "openai/gpt-image-2.5-sunburst", "krea-2-turbo", "krea/krea-2",
    "kino-xl", "anime-xl", "portrait-perfect", "stock-photography", "illustrative-albedo",
    "concept-art", "lifelike-vision", "graphic-design", "lightning-xl", "hailuo-03",
    "alibaba/wan-3.0", "wan-2.7", "wan-2.6", "bfl/flux-3-video", "happy-horse", "happy-horse-1.1",
    "grok-imagine-1.5", "gemini-omni-flash", "google/gemini-omni-1.1-flash-preview",
    "bytedance/seedance-2.5", "sora-2", "sora-2-pro", "svd", "aurora-upscaler-precise",
    "aurora-upscaler-creative", "remove-bg",
}  # fmt: skip


def test_the_other_models_and_upscalers_are_catalogued() -> None:
    """The paragraph-listed models, the Pro Upscalers and remove-bg are v2 models too."""
    assert OTHER_IDS - {m.id for m in V2} == set()


def test_ids_slugs_and_aliases_are_unique_across_surfaces() -> None:
    """No name resolves to two models: every slug and alias finds its own model."""
    names = [n.casefold() for m in catalog.all_models() for n in (m.slug, *m.aliases)]
    assert len(names) == len(set(names))
    for m in catalog.all_models():
        for name in (m.slug, *m.aliases):
            assert catalog.find_model(name) is m, name


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("nano-banana", "gemini-2.5-flash-image"), ("nano-banana-pro", "gemini-image-2"),
        ("flux-2-pro", "flux-pro-2.0"), ("ideogram-3.0", "ideogram-v3.0"),
        ("veo-3.1", "veo-3.1-generate-001"), ("veo-3.1-fast", "veo-3.1-fast-generate-001"),
        ("kling-o1", "kling-video-o-1"), ("kling-o3", "kling-video-o-3"),
        ("hailuo-2.3", "hailuo-2_3"), ("hailuo-2.3-fast", "hailuo-2_3-fast"),
        ("ltx-2.3-pro", "ltxv-2.3-pro"), ("ltx-2.3-fast", "ltxv-2.3-fast"),
        ("motion-2.0-v2", "motion_2.0"), ("phoenix-1.0-v2", "phoenix-v1.0"),
        ("phoenix-0.9-v2", "phoenix-v0.9"), ("pro-upscaler-precise", "aurora-upscaler-precise"),
        ("pro-upscaler-creative", "aurora-upscaler-creative"), ("seedream-4", "seedream-4.0"),
        ("seedream-5.0-flash", "bytedance/seedream-5.0-flash"), ("lucid-origin-v2", "lucid-origin"),
        ("lucid-realism-v2", "lucid-realism"), ("flux-dev-v2", "flux-dev"),
        ("flux-schnell-v2", "flux-schnell"), ("kino-xl-v2", "kino-xl"),
        ("anime-xl-v2", "anime-xl"), ("lightning-xl-v2", "lightning-xl"),
        ("Nano Banana Pro", "gemini-image-2"), ("GEMINI-IMAGE-2", "gemini-image-2"),
    ],
)  # fmt: skip
def test_aliases_find_the_v2_model(name: str, wire: str) -> None:
    """Friendly aliases, -v2 slugs, display names and wire strings find the v2 model."""
    model = catalog.find_model(name)
    assert model is not None and model.surface == "v2" and model.id == wire


def test_v1_keeps_its_slugs_and_names() -> None:
    """Where v1 and v2 share a slug or display name, the v1 model keeps it."""
    for name in ("lucid-origin", "Lucid Origin", "flux-dev", "kino-xl", "kling-2.5", "phoenix-1.0"):
        found = catalog.find_model(name)
        assert found is not None and found.surface == "v1", name
    assert catalog.find_model("kling-2.5-v2") is catalog.find_model("kling-2.5-turbo")
    assert all(m.surface == "v1" for m in catalog.models())


@pytest.mark.parametrize("model", V2, ids=lambda m: m.slug)
def test_every_v2_model_has_rules_and_valid_defaults(model: catalog.Model) -> None:
    """Kind, size rule, quantity and the example parameters pass the model's own check."""
    rules = model.rules
    assert rules is not None and model.kind in ("image", "video", "upscaler", "remove-bg")
    assert rules.sizes.kind in ("pairs", "axes", "range", "gpt-image-2", "input", "none")
    assert 1 <= rules.quantity_default <= rules.quantity_max
    if model.kind != "image":
        assert rules.quantity_max == 1
    if model.kind == "video":
        assert v2.duration(model, {}) is not None
        assert rules.durations == () or rules.duration_default in rules.durations
    example = v2.example_parameters(model)
    assert v2.check_parameters(model, example) == []
    for param in rules.params.values():
        if param.default is not None:
            assert v2.check_parameters(model, {**example, param.name: param.default}) == []
    if rules.sizes.default is not None:
        assert v2.media_size(model, {}) == rules.sizes.default
    if rules.styles_max is not None and rules.style_default is not None:
        assert v2.style_id(model, rules.style_default) is not None


RETIRED = [
    ("veo3", "2026-06-29", "veo-3.1"), ("veo3-fast", "2026-06-29", "veo-3.1"),
    ("kling-2.1", "2026-09-15", "kling-3.0"),
    ("veo-3.0-generate-001", "2026-06-29", "veo-3.1"),
    ("veo-3.0-fast-generate-001", "2026-06-29", "veo-3.1"),
    ("sora-2", "2026-07-09", None), ("sora-2-pro", "2026-07-09", None),
    ("seedance-1.0-lite", "2026-05-13", "seedance-1.0-pro-fast"),
    ("svd", "2026-06-17", "hailuo-2.3"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "date", "replacement"), RETIRED)
def test_retired_models_have_their_date_and_replacement(
    name: str, date: str, replacement: str | None
) -> None:
    """Retired on the date, retiring within the 30 days before it, current before that."""
    model = catalog.find_model(name)
    assert model is not None
    day = datetime.date.fromisoformat(date)
    assert catalog.lifecycle(model, day) == catalog.Lifecycle("retired", date, replacement)
    assert catalog.lifecycle(model, datetime.date(2026, 12, 1)).state == "retired"
    assert catalog.lifecycle(model, day - datetime.timedelta(days=1)).state == "retiring"
    assert catalog.lifecycle(model, day - datetime.timedelta(days=30)).state == "retiring"
    assert catalog.lifecycle(model, day - datetime.timedelta(days=31)).state == "current"
    if replacement is not None:
        found = catalog.find_model(replacement)
        assert found is not None and found.retire_on is None


def test_retired_kinds_and_current_models() -> None:
    """motion-svd is a retired kind; every other model is current today."""
    assert catalog.RETIRED_KINDS["motion-svd"] == ("2026-06-17", "hailuo-2.3")
    assert catalog.find_model(catalog.RETIRED_KINDS["motion-svd"][1]) is not None
    retired = {getattr(catalog.find_model(n), "slug", None) for n, _, _ in RETIRED}
    today = datetime.date(2026, 12, 1)
    for m in catalog.all_models():
        if m.slug not in retired:
            assert catalog.lifecycle(m, today) == catalog.Lifecycle("current", None, None), m.slug


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("nano-banana-pro", 19), ("nano-banana-2", 19), ("nano-banana-2-lite", 18),
        ("lucid-realism-v2", 21), ("phoenix-1.0-v2", 23), ("ideogram-3.0", 7),
        ("lucid-origin-v2", 8), ("flux-kontext-pro", 19), ("recraft-v4", 0),
    ],
)  # fmt: skip
def test_style_sets(name: str, count: int) -> None:
    """Each model's own style set by name, with the documented sizes."""
    model = catalog.find_model(name)
    assert model is not None
    assert len(v2.style_names(model)) == count


def test_style_ids_by_name() -> None:
    """Names resolve case-insensitively; Portrait differs between sets A and B."""
    pro, kontext = catalog.find_model("nano-banana-pro"), catalog.find_model("flux-kontext-pro")
    lite, phoenix = catalog.find_model("nano-banana-2-lite"), catalog.find_model("phoenix-v1.0")
    assert pro and kontext and lite and phoenix
    assert v2.style_id(pro, "portrait") == "8e2bc543-6ee2-45f9-bcd9-594b6ce84dcd"
    assert v2.style_id(kontext, "Portrait") == "ab5a4220-7c42-41e5-a578-eddb9fed3d75"
    assert v2.style_id(phoenix, "Portrait") == "ab5a4220-7c42-41e5-a578-eddb9fed3d75"
    assert v2.style_id(lite, "Portrait") is None
    assert v2.style_id(phoenix, "sketch (b&w)") == "be8c6b58-739c-4d44-b9c1-b032ed308b61"
    assert v2.style_id(pro, "Dynamic") == "111dc692-d470-4eec-b791-3475abac4c46"
    assert v2.style_id(pro, "Bokeh") is None
    motion = catalog.find_model("motion-2.0-v2")
    assert (
        motion is not None and v2.style_id(motion, "Clay") == "964d8a8f-865b-48c5-b79e-e75ae8727648"
    )
    v1 = catalog.find_model("phoenix-1.0")
    assert v1 is not None and v2.style_names(v1) == () and v2.style_id(v1, "Dynamic") is None


def test_public_names_resolve() -> None:
    """Every name ``catalog`` and ``catalog.v2`` promise in ``__all__`` exists."""
    for module in (catalog, v2):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)
