"""Video, variation and improve-prompt stages: mapping, inputs, sizes and rules."""

# ruff: noqa: E501  (exact user-facing messages read best on one line)

from __future__ import annotations

from collections.abc import Callable

import pytest

from leobatch.plan.jobs import Input
from leobatch.request import UNZOOM_FACTOR, BuiltRequest, FieldProblem

Build = Callable[..., BuiltRequest | list[FieldProblem]]


def ok(result: BuiltRequest | list[FieldProblem]) -> BuiltRequest:
    """The request, failing the test with the problems when there are any."""
    assert isinstance(result, BuiltRequest), result
    return result


def problems(result: BuiltRequest | list[FieldProblem]) -> dict[tuple[str | int, ...], str]:
    """The problems by path."""
    assert isinstance(result, list), result
    return {p.path: p.message for p in result}


def test_text_to_video_styles_and_motion(build: Build) -> None:
    """Styles become styleIds; the motion control becomes an element, not a styleId."""
    stage = {"model": "motion-2.0", "prompt": "a dog", "negative_prompt": "blur",
             "styles": ["golden hour", "Clay"], "motion": "Dolly In"}  # fmt: skip
    built = ok(build("text-to-video", stage))
    assert dict(built.body) == {
        "model": "MOTION2", "prompt": "a dog", "negativePrompt": "blur",
        "styleIds": ["3f705252-1197-4f59-b6ed-21625dce6a65", "964d8a8f-865b-48c5-b79e-e75ae8727648"],
        "elements": [{"akUUID": "ece8c6a9-3deb-430e-8c93-4d5061b6adbf", "weight": 1.2}],
        "resolution": "RESOLUTION_480",
    }  # fmt: skip
    assert (built.outputs, built.size, built.model, built.ext) == (
        1,
        (832, 480),
        "motion-2.0",
        "mp4",
    )


def test_video_defaults_and_sizes(build: Build) -> None:
    """No model means MOTION2 written out; VEO3 defaults to 720; width and height win."""
    assert ok(build("text-to-video", {"prompt": "p"})).body["model"] == "MOTION2"
    veo = ok(build("text-to-video", {"model": "VEO3", "prompt": "p"}))
    assert (veo.body["resolution"], veo.size) == ("RESOLUTION_720", (1280, 720))
    sized = ok(build("text-to-video", {"prompt": "p", "params": {"width": 480, "height": 832}}))
    assert sized.size == (480, 832)


def test_video_rules(build: Build) -> None:
    """VEO3 only at 720, motion controls only for Motion 2.0, one style per category."""
    stage = {"model": "veo3", "prompt": "p", "motion": "Dolly In", "styles": ["Clay", "Logo", "Dolly Out"],
             "params": {"resolution": "RESOLUTION_480", "duration": 5}}  # fmt: skip
    got = problems(build("text-to-video", stage))
    assert got[("params", "resolution")] == (
        "model 'veo3' supports resolution RESOLUTION_720 only, not RESOLUTION_480"
    )
    assert got[("motion",)] == "motion controls need Motion 2.0, not model 'veo3'"
    assert got[("styles", 1)] == "at most one Vibe style; 'Clay' is already given"
    assert got[("styles", 2)] == (
        "unknown video style 'Dolly Out'; it is a motion control: use the stage key 'motion'"
    )
    assert got[("params", "duration")] == "duration of 'veo3' must be one of 4, 6, 8"


def test_video_name_suggestions(build: Build) -> None:
    """Near-miss video models, styles and motion controls get suggestions."""
    stage = {"model": "motion-2", "prompt": "p", "styles": "Golden Hours", "motion": "Doly In"}
    got = problems(build("text-to-video", stage))
    assert got[("model",)] == "unknown video model 'motion-2'; did you mean 'motion-2.0'?"
    assert got[("styles",)] == "unknown video style 'Golden Hours'; did you mean 'Golden Hour'?"
    assert got[("motion",)] == "unknown motion control 'Doly In'; did you mean 'Dolly In'?"
    got = problems(build("text-to-video", {"prompt": "p", "params": {"elements": []}}))
    assert (
        got[("params", "elements")] == "elements is built by leobatch; use the stage key 'motion'"
    )


def test_image_to_video_sources(build: Build) -> None:
    """The image comes from upstream (GENERATED) or a local file (UPLOADED), never both."""
    built = ok(build("image-to-video", {"prompt": "p"}, "image", (1024, 768)))
    assert built.body["imageType"] == "GENERATED"
    assert built.inputs == (Input("imageId", "upstream", "generated-image"),)
    built = ok(build("image-to-video", {"prompt": "p", "image": "ref.png"}))
    assert built.body["imageType"] == "UPLOADED" and built.input_size == (640, 480)
    assert [(i.field, i.source, i.path) for i in built.inputs] == [("imageId", "file", "ref.png")]
    assert problems(build("image-to-video", {"prompt": "p"})) == {
        (): "image-to-video needs an input image: 'from' (an upstream image) or the stage key "
        "'image' (a local file)"
    }
    got = problems(
        build("image-to-video", {"prompt": "p", "params": {"imageType": "UPLOADED"}}, "image")
    )
    assert got[("params", "imageType")].startswith("imageType is never written by hand")


def test_motion_svd(build: Build) -> None:
    """SVD: isVariation for a variation upstream, isInitImage for a local file."""
    built = ok(build("motion-svd", {"params": {"motionStrength": 3}}, "upscale", (2048, 1536)))
    assert dict(built.body) == {"motionStrength": 3, "isVariation": True}
    assert built.inputs == (Input("imageId", "upstream", "variation"),)
    built = ok(build("motion-svd", {"image": "refs/face.jpg"}))
    assert dict(built.body) == {"isInitImage": True} and built.size == (512, 768)
    got = problems(build("motion-svd", {"params": {"isVariation": True}}, "image"))
    assert got[("params", "isVariation")] == (
        "isVariation is never written by hand: leobatch sets it from where the input image comes from"
    )


@pytest.mark.parametrize("kind", ["unzoom", "nobg"])
def test_unzoom_and_nobg_set_is_variation(build: Build, kind: str) -> None:
    """isVariation follows the upstream kind."""
    generated = ok(build(kind, {}, "image", (1024, 768)))
    assert dict(generated.body) == {"isVariation": False}
    assert generated.inputs == (Input("id", "upstream", "generated-image"),)
    variation = ok(build(kind, {}, "upscale", (2048, 1536)))
    assert dict(variation.body) == {"isVariation": True}
    assert variation.inputs == (Input("id", "upstream", "variation"),)


def test_variation_sizes_and_extensions(build: Build) -> None:
    """upscale doubles, unzoom widens by UNZOOM_FACTOR, nobg keeps the size as PNG."""
    up = ok(build("upscale", {}, "image", (1024, 768)))
    assert (up.size, up.ext, dict(up.body)) == ((2048, 1536), "jpg", {})
    unzoom = ok(build("unzoom", {}, "image", (1024, 768)))
    assert unzoom.size == (round(1024 * UNZOOM_FACTOR), round(768 * UNZOOM_FACTOR))
    nobg = ok(build("nobg", {}, "image", (1024, 768)))
    assert (nobg.size, nobg.ext, nobg.outputs) == ((1024, 768), "png", 1)


def test_upscale_refuses_variations_and_files(build: Build) -> None:
    """Upscale takes generated images only; variations cannot take uploads or ids by hand."""
    assert problems(build("upscale", {}, "nobg", (1024, 768))) == {
        (): "upscale takes generated images only, and 'nobg' yields a variation; use universal-upscale"
    }
    got = problems(build("nobg", {"image": "ref.png"}))
    assert got[("image",)] == "'image' does not apply to nobg stages"
    assert got[()] == "nobg needs 'from' naming an image stage"
    got = problems(build("upscale", {"params": {"id": "x"}}, "image"))
    assert got[("params", "id")].startswith("id is an id known only at run time")


def test_universal_upscale_sources_and_modes(build: Build) -> None:
    """Exactly one source; legacy style written out; sizes scale by the multiplier."""
    legacy = ok(build("universal-upscale", {}, "image", (1024, 768)))
    assert dict(legacy.body) == {"upscalerStyle": "GENERAL", "upscaleMultiplier": 1.5}
    assert legacy.inputs == (Input("generatedImageId", "upstream", "generated-image"),)
    assert legacy.size == (1536, 1152)
    ultra = ok(
        build(
            "universal-upscale",
            {"params": {"ultraUpscaleStyle": "REALISTIC", "upscaleMultiplier": 2}},
            "nobg",
            (1024, 768),
        )
    )
    assert ultra.inputs == (Input("variationId", "upstream", "variation"),)
    assert ultra.size == (2048, 1536) and "upscalerStyle" not in ultra.body
    local = ok(build("universal-upscale", {"image": "ref.png", "prompt": "crisp"}))
    assert local.inputs[0].field == "initImageId" and local.input_size == (640, 480)
    assert local.size == (960, 720) and local.body["prompt"] == "crisp"


def test_universal_upscale_rules(build: Build) -> None:
    """Multiplier 1.0..2.0, one style mode, one source, ultra-only fields."""
    stage = {
        "image": "ref.png",
        "params": {
            "upscaleMultiplier": 2.5,
            "upscalerStyle": "CINEMATIC",
            "ultraUpscaleStyle": "ARTISTIC",
        },
    }
    got = problems(build("universal-upscale", stage, "image", (1024, 768)))
    assert (
        got[("image",)] == "universal-upscale takes exactly one source: 'image' or 'from', not both"
    )
    assert got[("params", "upscaleMultiplier")] == "upscaleMultiplier must be in 1.0..2.0, not 2.5"
    assert got[("params", "ultraUpscaleStyle")] == (
        "give upscalerStyle (legacy mode) or ultraUpscaleStyle (ultra mode), not both"
    )
    got = problems(build("universal-upscale", {"params": {"similarity": 3}}))
    assert got[()].startswith("universal-upscale needs exactly one source")
    assert got[("params", "similarity")] == "similarity needs ultra mode (ultraUpscaleStyle)"


def test_video_upscale(build: Build) -> None:
    """Video upscale takes an upstream video generation, at RESOLUTION_720."""
    built = ok(build("video-upscale", {}, "text-to-video", (832, 480)))
    assert dict(built.body) == {"resolution": "RESOLUTION_720"}
    assert built.inputs == (Input("sourceGenerationId", "upstream", "generation"),)
    assert problems(build("video-upscale", {}, "image")) == {
        (): "video-upscale needs 'from' naming a video stage; 'image' yields none"
    }


def test_improve_prompt(build: Build) -> None:
    """improve-prompt: at most 200 characters, instructions become promptInstructions."""
    built = ok(build("improve-prompt", {"prompt": "a mug", "instructions": "space theme"}))
    assert dict(built.body) == {"prompt": "a mug", "promptInstructions": "space theme"}
    assert (built.outputs, built.size, built.ext) == (0, None, "")
    assert problems(build("improve-prompt", {"prompt": "x" * 201})) == {
        ("prompt",): "prompt is 201 characters; at most 200 are allowed"
    }


def test_unknown_kind(build: Build) -> None:
    """An unknown kind suggests the closest."""
    assert problems(build("nobgg", {})) == {("kind",): "unknown kind 'nobgg'; did you mean 'nobg'?"}
