"""``catalog.v2.check_parameters``: each kind of rule refuses a violation at its path."""

from __future__ import annotations

from typing import Any

import pytest

from leobatch import catalog
from leobatch.catalog import v2

GEN = {"id": "0b1c2d3e-0000-4000-8000-000000000001", "type": "GENERATED"}


def model(name: str) -> catalog.Model:
    """The catalogued model called ``name``."""
    found = catalog.find_model(name)
    assert found is not None, name
    return found


def problems(name: str, **changes: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """The problems of the model's example parameters with ``changes`` applied."""
    m = model(name)
    params = v2.example_parameters(m)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return v2.check_parameters(m, params)


def ref(**extra: Any) -> dict[str, Any]:
    """One GENERATED image reference with ``extra`` fields."""
    return {"image": dict(GEN), **extra}


CASES: list[tuple[str, dict[str, Any], tuple[str | int, ...], str]] = [
    # unknown names, with did-you-mean
    ("nano-banana-pro", {"promt": "x"}, ("promt",), "did you mean 'prompt'?"),
    ("gpt-image-1.5", {"mode": "QUALITY"}, ("mode",), "no longer takes 'mode': use quality"),
    ("gpt-image-1.5", {"prompt_enhance": "OFF"}, ("prompt_enhance",), "has no parameter"),
    # types, enums and ranges
    ("phoenix-1.0-v2", {"contrast": "MID"}, ("contrast",), "LOW | MEDIUM | HIGH"),
    ("gpt-image-2", {"quality": "high"}, ("quality",), "did you mean 'HIGH'?"),
    ("flux-kontext-pro", {"seed": 2147483638}, ("seed",), "takes 0 to 2.14748e+09"),
    ("flux-2-pro", {"seed": "7"}, ("seed",), "must be an integer, not a string"),
    ("veo-3.1", {"motion_has_audio": "yes"}, ("motion_has_audio",), "true or false"),
    ("veo-3.1", {"negative_prompt": "n" * 1001}, ("negative_prompt",), "at most 1000"),
    ("remove-bg", {"format": "gif"}, ("format",), "png | jpg | webp"),
    ("remove-bg", {"shadow_opacity": 101}, ("shadow_opacity",), "0 to 100"),
    ("pro-upscaler-precise", {"upscale_factor": 7}, ("upscale_factor",), "2 | 3 | 4 | 5 | 6 | 8"),
    ("pro-upscaler-precise", {"upscale_factor": None}, ("upscale_factor",), "needs"),
    ("pro-upscaler-creative", {"creativity": "max"}, ("creativity",), "low | mid | high"),
    # prompt
    ("phoenix-1.0-v2", {"prompt": "p" * 2001}, ("prompt",), "at most 2000 characters"),
    ("nano-banana-2", {"prompt": None}, ("prompt",), "needs a prompt"),
    ("nano-banana-2", {"prompt": "  "}, ("prompt",), "empty"),
    ("remove-bg", {"prompt": "x"}, ("prompt",), "has no parameter 'prompt'"),
    # sizes: listed pairs, per-axis lists, unlisted pairs, ranges with multiples, GPT Image 2
    ("gpt-image-1.5", {"width": 1536, "height": 1536}, ("width",), "does not render 1536x1536"),
    ("nano-banana-2", {"width": 1000, "height": 1000}, ("width",), "width 1000 is not one of"),
    (
        "nano-banana-2",
        {"width": 1024, "height": 1376},
        ("width",),
        "nano-banana-2 renders 1024x1376 as a square silently, so leobatch refuses it;"
        " sizes it renders: 1024x1024, 848x1264,",
    ),
    ("nano-banana-pro", {"width": 2048, "height": 1024}, ("width",), "as a square silently"),
    ("recraft-v4", {"width": None}, ("width",), "needs width"),
    ("phoenix-1.0-v2", {"width": 1020}, ("width",), "not a multiple of 8"),
    ("lucid-origin-v2", {"height": 3624}, ("height",), "outside 16..3616"),
    ("gpt-image-2", {"width": 1000, "height": 1000}, ("width",), "multiples of 16"),
    ("gpt-image-2", {"width": 3840, "height": 1600}, ("width",), "under 3840"),
    ("gpt-image-2", {"width": 3200, "height": 1024}, ("width",), "at most 3x"),
    ("gpt-image-2", {"width": 512, "height": 512}, ("width",), "655,360 to 8,294,400"),
    ("gpt-image-1.5", {"width": 0, "height": 0}, ("width",), "no automatic size"),
    ("nano-banana-2", {"width": 0, "height": 1024}, ("width",), "only as 0x0"),
    ("motion-2.0-v2", {"height": None}, ("height",), "both width and height or neither"),
    ("kling-3.0", {"width": 1920, "height": 1080, "mode": "RESOLUTION_720"}, ("width",),
     "in mode RESOLUTION_720"),
    ("seedance-1.0-pro", {"width": 1920, "height": 1080}, ("width",), "does not render"),
    ("pro-upscaler-precise", {"width": 100}, ("width",), "at least 128 px a side"),
    ("phoenix-1.0-v2", {"width": 1024.0}, ("width",), "must be an integer, not a number"),
    # quantity and duration
    ("phoenix-1.0-v2", {"quantity": 9}, ("quantity",), "1 to 8 outputs per job"),
    ("recraft-v4", {"quantity": 7}, ("quantity",), "1 to 6"),
    ("kling-2.6", {"quantity": 2}, ("quantity",), "exactly 1 output per job"),
    ("remove-bg", {"quantity": 2}, ("quantity",), "exactly 1"),
    ("kling-2.6", {"duration": 8}, ("duration",), "5 or 10 seconds, not 8"),
    ("kling-3.0", {"duration": 16}, ("duration",), "3 to 15"),
    ("ltx-2.3-fast", {"duration": 7}, ("duration",), "6 to 20 in steps of 2"),
    ("nano-banana-2", {"duration": 5}, ("duration",), "has no parameter 'duration'"),
    # reference slots
    ("nano-banana-pro", {"guidances": {"image_reference": [ref()] * 7}},
     ("guidances", "image_reference"), "at most 6 image_reference"),
    ("nano-banana-pro", {"guidances": {"image_reference": [ref(strength="MAX")]}},
     ("guidances", "image_reference", 0, "strength"), "LOW | MID | HIGH"),
    ("gpt-image-2", {"guidances": {"image_reference": [ref(strength="MID")]}},
     ("guidances", "image_reference", 0, "strength"), "no image_reference field 'strength'"),
    ("nano-banana-pro", {"guidances": {"image_reference": [{"image": {**GEN, "type": "INIT"}}]}},
     ("guidances", "image_reference", 0, "image", "type"), "GENERATED | UPLOADED"),
    ("flux-kontext-pro", {"guidances": {"image_reference": [{"image": {"type": "GENERATED"}}]}},
     ("guidances", "image_reference", 0, "image", "id"), "needs a string 'id'"),
    ("remove-bg", {"guidances": {"image_reference": [{"image": {"type": "URL", "id": "x"}}]}},
     ("guidances", "image_reference", 0, "image", "url"), "needs a string 'url'"),
    ("veo-3.1", {"guidances": {"end_frame": [ref()]}}, ("guidances", "end_frame"),
     "end_frame needs a start_frame too"),
    ("kling-2.6", {"guidances": {"start_frame": [ref(), ref()]}}, ("guidances", "start_frame"),
     "at most 1 start_frame"),
    ("kling-2.6", {"guidances": {"end_frame": [ref()]}}, ("guidances", "end_frame"),
     "no reference slot 'end_frame'"),
    ("kling-3.0", {"guidances": {"start_frame": [ref()], "image_reference": [ref()]}},
     ("guidances",), "not both"),
    ("kling-o3", {"guidances": {"image_reference": [ref()] * 5,
                                "video_reference_base": [{"video": dict(GEN)}]}},
     ("guidances", "image_reference"), "at most 4 image_reference with video_reference_base"),
    ("kling-o3", {"duration": 12, "guidances": {"video_reference_base": [{"video": dict(GEN)}]}},
     ("duration",), "at most 10 seconds with video_reference_base"),
    ("phoenix-1.0-v2", {"guidances": {"style": [ref(strength="ULTRA")] * 5}},
     ("guidances", "style"), "at most 4 style"),
    ("phoenix-1.0-v2", {"guidances": {"content": [ref(strength="ULTRA")]}},
     ("guidances", "content", 0, "strength"), "LOW | MID | HIGH"),
    ("phoenix-1.0-v2", {"guidances": {"image_refernce": [ref()]}},
     ("guidances", "image_refernce"), "has no reference slot"),
    ("pro-upscaler-precise", {"guidances": None}, ("guidances",),
     "needs exactly 1 image_reference"),
    ("hailuo-2.3-fast", {"guidances": {"start_frame": []}}, ("guidances", "start_frame"),
     "needs exactly 1 start_frame"),
    ("flux-kontext-pro", {"guidances": {"image_reference": [ref(order=-1)]}},
     ("guidances", "image_reference", 0, "order"), "order must be an integer >= 0"),
    ("nano-banana-pro", {"guidances": [ref()]}, ("guidances",), "must be an object, not a list"),
    # styles
    ("phoenix-1.0-v2", {"style_ids": ["111dc692-d470-4eec-b791-3475abac4c46",
                                      "a5632c7c-ddbb-4e2f-ba34-8456ab3ac436"]},
     ("style_ids",), "at most 1 style id"),
    ("nano-banana-2-lite", {"style_ids": ["8e2bc543-6ee2-45f9-bcd9-594b6ce84dcd"]},
     ("style_ids", 0), "has no style id"),
    ("recraft-v4", {"style_ids": []}, ("style_ids",), "has no parameter 'style_ids'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "changes", "path", "text"), CASES)
def test_each_rule_refuses_its_violation_at_its_path(
    name: str, changes: dict[str, Any], path: tuple[str | int, ...], text: str
) -> None:
    """The example parameters are valid; one change makes exactly the expected problem."""
    found = problems(name, **changes)
    assert any(p == path and text in message for p, message in found), found
    slug = model(name).slug
    assert all(message.startswith(slug) for _, message in found)


VALID: list[tuple[str, dict[str, Any]]] = [
    ("nano-banana-2", {"width": 1584, "height": 672}),
    ("nano-banana-2", {"width": 0, "height": 0}),
    ("nano-banana-pro", {"width": 5504, "height": 3072}),
    ("gpt-image-2", {"width": 2048, "height": 1152}),
    ("gpt-image-2", {"width": 1376, "height": 768}),
    ("kling-3.0", {"width": 1280, "height": 720, "mode": "RESOLUTION_720", "duration": 15}),
    ("kling-3.0", {"width": None, "height": None, "guidances": {"start_frame": [ref()]}}),
    ("kling-o3", {"duration": 10, "guidances": {"image_reference": [ref()] * 4,
                                                 "video_reference_base": [{"video": dict(GEN)}]}}),
    ("veo-3.1", {"guidances": {"start_frame": [ref()], "end_frame": [ref()]}, "duration": 4}),
    ("remove-bg", {"guidances": {
        "image_reference": [{"image": {"type": "URL", "url": "https://x/y.png"}}],
        "background_image_reference": [{"image": {"type": "BASE64", "data": "aGk="}}]},
                   "format": "webp", "semitransparency": False}),
    ("phoenix-1.0-v2", {"guidances": {"style": [ref(strength="MAX")] * 4,
                                      "character": [ref(strength="LOW")]},
                        "style_ids": ["be8c6b58-739c-4d44-b9c1-b032ed308b61"], "contrast": "HIGH",
                        "tiling": True, "negative_prompt": "blur", "mode": "ULTRA"}),
    ("flux-kontext-pro", {"guidances": {"image_reference": [
        {"image": {"id": "a", "type": "VARIATION", "width": 512, "height": 512}, "order": 0}]}}),
    ("ltx-2.3-fast", {"duration": 20}),
    ("seedance-2.0", {"width": 1000, "height": 700, "duration": 13, "seed": -1}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "changes"), VALID)
def test_documented_shapes_pass(name: str, changes: dict[str, Any]) -> None:
    """Listed sizes, 0x0, custom GPT Image 2 sizes, full reference sets: no problem."""
    assert problems(name, **changes) == []


def test_not_an_object_and_v1_models() -> None:
    """Non-object parameters are one problem at the root; v1 models have no v2 rules."""
    m = model("nano-banana-2")
    assert v2.check_parameters(m, [1, 2]) == [  # type: ignore[arg-type]
        ((), "nano-banana-2: parameters must be an object, not a list")
    ]
    with pytest.raises(ValueError, match="v1 model"):
        v2.check_parameters(model("phoenix-1.0"), {"prompt": "x"})


def test_media_size_and_duration() -> None:
    """Sizes from the parameters or the model's default; upscalers multiply; 0x0 is unknown."""
    assert v2.media_size(model("nano-banana-2"), {}) == (1024, 1024)
    assert v2.media_size(model("nano-banana-2"), {"width": 1376, "height": 768}) == (1376, 768)
    assert v2.media_size(model("nano-banana-2"), {"width": 0, "height": 0}) is None
    up = model("pro-upscaler-precise")
    assert v2.media_size(up, {"width": 1264, "height": 848, "upscale_factor": 3}) == (3792, 2544)
    assert v2.media_size(model("remove-bg"), {}) is None
    assert v2.media_size(model("kling-3.0"), {}) is None  # follows the start frame
    assert v2.duration(model("veo-3.1"), {}) == 8
    assert v2.duration(model("kling-2.6"), {"duration": 10}) == 10
    assert v2.duration(model("motion-2.0-v2"), {}) == 5
    assert v2.duration(model("nano-banana-2"), {}) is None


def test_parameter_names() -> None:
    """The names did-you-mean draws on: common ones first, then the model's own."""
    assert v2.parameter_names(model("remove-bg"))[:2] == ("quantity", "guidances")
    names = v2.parameter_names(model("phoenix-1.0-v2"))
    assert names[:6] == ("prompt", "width", "height", "quantity", "guidances", "style_ids")
    assert {"mode", "contrast", "tiling", "negative_prompt", "seed", "prompt_enhance"} <= set(names)
    assert "duration" in v2.parameter_names(model("kling-2.6"))
    assert "prompt_enhance" not in v2.parameter_names(model("gpt-image-2"))


DOCUMENTED: list[tuple[str, dict[str, Any]]] = [
    # api-v2-facts 3.1, verbatim but for the id
    ("aurora-upscaler-precise", {"width": 1264, "height": 848, "upscale_factor": 2,
     "upscale_mode": "clean",
     "guidances": {"image_reference": [{"image": {"id": GEN["id"], "type": "GENERATED"}}]}}),
    # api-v2-facts 1.3: the reference object, with strength MID
    ("gemini-image-2", {"prompt": "a cat", "width": 1024, "height": 1024, "quantity": 1,
     "guidances": {"image_reference": [{"image": dict(GEN), "strength": "MID"}]},
     "style_ids": ["111dc692-d470-4eec-b791-3475abac4c46"], "prompt_enhance": "OFF"}),
    # Kling O1's sample also sends mode, prompt_enhance, seed and quantity
    ("kling-video-o-1", {"prompt": "a dolly shot", "width": 1920, "height": 1080, "duration": 5,
     "mode": "RESOLUTION_1080", "prompt_enhance": "OFF", "seed": 42, "quantity": 1,
     "guidances": {"video_reference_base": [{"video": dict(GEN)}]}}),
    # Kling 2.6 with a start frame (recipe "Generate with Kling 2.6 Using Start Frames")
    ("kling-2.6", {"prompt": "waves", "width": 1920, "height": 1080, "duration": 5,
     "guidances": {"start_frame": [{"image": {"id": GEN["id"], "type": "UPLOADED"}}]}}),
    # Hailuo 2.3's page puts start_frame flat
    ("hailuo-2_3", {"prompt": "rain", "width": 1920, "height": 1080, "duration": 6,
     "mode": "RESOLUTION_1080", "start_frame": {"id": GEN["id"], "type": "GENERATED"}}),
    # LTX 2.0: a flat top-level start_frame
    ("ltxv-2.0-pro", {"prompt": "city", "width": 1920, "height": 1080, "duration": 6,
     "mode": "RESOLUTION_1080", "start_frame": {"id": GEN["id"], "type": "GENERATED"}}),
    # remove-bg through the async surface: one image, the defaults written out
    ("remove-bg", {"size": "full", "format": "png", "quantity": 1,
     "guidances": {"image_reference": [{"image": dict(GEN)}]}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "parameters"), DOCUMENTED)
def test_documented_sample_bodies_are_accepted(name: str, parameters: dict[str, Any]) -> None:
    """The sample bodies of api-v2-facts pass as they are."""
    assert v2.check_parameters(model(name), parameters) == []
