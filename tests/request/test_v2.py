"""Stages with a v2 model -> POST /v2/generations: portable keys, references, defaults, rules."""

# ruff: noqa: E501  (exact user-facing messages read best on one line)

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leobatch.plan.jobs import UPSTREAM_TEXT, Input
from leobatch.request import BuiltRequest, FieldProblem, build_request

Build = Callable[..., BuiltRequest | list[FieldProblem]]
DYNAMIC = "111dc692-d470-4eec-b791-3475abac4c46"
REF_ID = "parameters.guidances.image_reference.0.image.id"


def ok(result: BuiltRequest | list[FieldProblem]) -> BuiltRequest:
    """The request, failing the test with the problems when there are any."""
    assert isinstance(result, BuiltRequest), result
    return result


def problems(result: BuiltRequest | list[FieldProblem]) -> dict[tuple[str | int, ...], str]:
    """The problems by path."""
    assert isinstance(result, list), result
    return {p.path: p.message for p in result}


def test_portable_keys_map_onto_v2_parameters(build: Build) -> None:
    """width/height/seed/num_images/styles -> parameters; the envelope and defaults explicit."""
    built = ok(build("image", {"model": "nano-banana-pro", "prompt": "a mug", "width": 1024, "height": 1024,
                               "num_images": 2, "seed": 7, "styles": ["dynamic"]}))  # fmt: skip
    assert built.endpoint == "/v2/generations"
    assert dict(built.body) == {
        "model": "gemini-image-2",
        "public": False,
        "parameters": {"prompt": "a mug", "width": 1024, "height": 1024, "seed": 7, "quantity": 2,
                       "style_ids": [DYNAMIC], "prompt_enhance": "OFF"},
    }  # fmt: skip
    assert (built.outputs, built.size, built.model, built.ext) == (
        2,
        (1024, 1024),
        "gemini-image-2",
        "png",
    )
    assert built.inputs == ()


def test_defaults_written_unless_the_recipe_says_otherwise(build: Build) -> None:
    """public false, quantity 1, prompt_enhance OFF by default; params override each."""
    plain = ok(build("image", {"model": "gpt-image-1.5", "prompt": "a mug"}))
    assert plain.body["public"] is False
    assert plain.body["parameters"]["quantity"] == 1 and plain.outputs == 1
    assert "prompt_enhance" not in plain.body["parameters"]  # GPT Image 1.5 has no such parameter
    given = ok(build("image", {"model": "seedream-4.5", "prompt": "a mug", "num_images": 3,
                               "params": {"prompt_enhance": "ON", "public": True}}))  # fmt: skip
    assert given.body["public"] is True
    assert given.body["parameters"]["prompt_enhance"] == "ON"
    assert given.body["parameters"]["quantity"] == 3 and given.outputs == 3
    assert "public" not in given.body["parameters"]
    defaulted = ok(build("image", {"model": "seedream-4.5", "prompt": "a mug"}))
    assert defaulted.body["parameters"]["prompt_enhance"] == "OFF"


def test_model_parameters_pass_through_params(build: Build) -> None:
    """A model's own fields (quality) go into parameters as written."""
    built = ok(
        build("image", {"model": "gpt-image-1.5", "prompt": "a mug", "params": {"quality": "HIGH"}})
    )
    assert built.body["parameters"]["quality"] == "HIGH"


def test_every_rule_is_located_at_its_key_all_at_once(build: Build) -> None:
    """Bad size at width, unknown param at its name with did-you-mean, bad style at its entry."""
    got = problems(build("image", {"model": "nano-banana-2", "prompt": "a mug", "width": 1024, "height": 768,
                                   "styles": ["Dynamc"], "params": {"qualty": "HIGH"}}))  # fmt: skip
    assert got[("width",)].startswith(
        "nano-banana-2 renders 1024x768 as a square silently, so leobatch refuses it"
    )
    assert got[("params", "qualty")].startswith("nano-banana-2 has no parameter 'qualty'")
    assert got[("styles", 0)] == "nano-banana-2 has no style 'Dynamc'; did you mean 'Dynamic'?"


def test_a_listed_nano_banana_2_pair_is_accepted(build: Build) -> None:
    """1264x848 is one of Nano Banana 2's pairs."""
    built = ok(
        build("image", {"model": "nano-banana-2", "prompt": "a", "width": 1264, "height": 848})
    )
    assert built.size == (1264, 848)


def test_too_many_references_located_at_guidance(build: Build) -> None:
    """Seven reference images for a model that takes six: one problem at `guidance`."""
    got = problems(
        build(
            "image",
            {"model": "nano-banana-pro", "prompt": "a", "guidance": [{"image": "ref.png"}] * 7},
        )
    )
    assert got == {("guidance",): "gemini-image-2 takes at most 6 image_reference, not 7"}


def test_guidance_local_files_are_uploaded_references(build: Build) -> None:
    """A local file becomes an UPLOADED reference, its id an init-image input; strength in v2 case."""
    built = ok(build("image", {"model": "flux-2-pro", "prompt": "a",
                               "guidance": [{"image": "ref.png", "strength": "High"}]}))  # fmt: skip
    refs = built.body["parameters"]["guidances"]["image_reference"]
    assert refs == [{"image": {"type": "UPLOADED"}, "strength": "HIGH"}]
    (item,) = built.inputs
    assert (item.field, item.source, item.id_kind, item.path) == (
        REF_ID,
        "file",
        "init-image",
        "ref.png",
    )


def test_guidance_types_name_the_model_slots(build: Build) -> None:
    """v1 guidance type names map to v2 slots (style-reference -> style); a slot the model lacks is refused."""
    built = ok(build("image", {"model": "phoenix-1.0-v2", "prompt": "a",
                               "guidance": [{"type": "style-reference", "image": "ref.png"}]}))  # fmt: skip
    assert list(built.body["parameters"]["guidances"]) == ["style"]
    got = problems(build("image", {"model": "lucid-origin-v2", "prompt": "a",
                                   "guidance": [{"type": "character-reference", "image": "ref.png"}]}))  # fmt: skip
    assert got == {
        (
            "guidance",
            0,
            "type",
        ): "lucid-origin-v2 has no character-reference reference slot (it has content, style)"
    }


def test_from_makes_each_upstream_output_a_generated_reference(build: Build) -> None:
    """`from` an image stage: one image_reference of type GENERATED, its id the upstream output."""
    built = ok(build("image", {"model": "seedream-4.5", "prompt": "a"}, "image", (1024, 768)))
    assert built.body["parameters"]["guidances"] == {
        "image_reference": [{"image": {"type": "GENERATED"}}]
    }
    assert built.inputs == (Input(REF_ID, "upstream", "generated-image"),)


def test_variation_upstream_where_the_model_takes_it(build: Build) -> None:
    """A v1 variation (upscale) is a VARIATION reference for Kontext; Seedream refuses it at plan time."""
    built = ok(
        build("image", {"model": "flux-kontext-pro", "prompt": "a"}, "upscale", (2048, 1536))
    )
    assert built.body["parameters"]["guidances"]["image_reference"] == [
        {"image": {"type": "VARIATION"}}
    ]
    assert built.inputs == (Input(REF_ID, "upstream", "variation"),)
    got = problems(
        build("image", {"model": "seedream-4.5", "prompt": "a"}, "upscale", (2048, 1536))
    )
    assert got == {
        (
            "from",
        ): "seedream-4.5 takes no variation as image_reference ('upscale' yields one; it takes GENERATED or UPLOADED): take 'from' an image stage"
    }


def test_image_to_video_takes_the_upstream_as_start_frame(build: Build) -> None:
    """A Phoenix (v1) still into Kling 2.6: the start frame, GENERATED; one mp4."""
    built = ok(
        build(
            "image-to-video",
            {"model": "kling-2.6", "prompt": "turning", "params": {"duration": 10}},
            "image",
            (1024, 768),
        )
    )
    params = built.body["parameters"]
    assert params["guidances"] == {"start_frame": [{"image": {"type": "GENERATED"}}]}
    assert params["duration"] == 10 and params["quantity"] == 1
    assert built.inputs == (
        Input("parameters.guidances.start_frame.0.image.id", "upstream", "generated-image"),
    )
    assert (built.outputs, built.ext, built.model) == (1, "mp4", "kling-2.6")
    got = problems(
        build(
            "image-to-video",
            {"model": "kling-2.6", "prompt": "t", "params": {"duration": 7}},
            "image",
            (1024, 768),
        )
    )
    assert got == {("params", "duration"): "kling-2.6 renders 5 or 10 seconds, not 7"}


def test_image_to_video_with_a_local_start_frame(build: Build) -> None:
    """`image:` on a v2 image-to-video stage: an UPLOADED start frame."""
    built = ok(build("image-to-video", {"model": "veo-3.1", "prompt": "t", "image": "ref.png"}))
    assert built.body["parameters"]["guidances"] == {
        "start_frame": [{"image": {"type": "UPLOADED"}}]
    }
    assert built.inputs[0].source == "file"
    got = problems(build("image-to-video", {"model": "veo-3.1", "prompt": "t"}))
    assert got == {(): "image-to-video needs an input image: 'from' (an upstream image) or 'image'"}


def test_text_to_video_v2(build: Build) -> None:
    """Veo 3.1 text-to-video: one mp4, the model's default frame."""
    built = ok(
        build(
            "text-to-video", {"model": "veo-3.1", "prompt": "a mug", "width": 1920, "height": 1080}
        )
    )
    assert built.body["model"] == "veo-3.1-generate-001"
    assert (built.outputs, built.size, built.ext) == (1, (1920, 1080), "mp4")


def test_remove_bg_and_format(build: Build) -> None:
    """nobg with model remove-bg: a v2 request of the input's size; format picks the extension."""
    built = ok(build("nobg", {"model": "remove-bg"}, "image", (1024, 768)))
    assert built.body == {"model": "remove-bg", "public": False, "parameters": {
        "guidances": {"image_reference": [{"image": {"type": "GENERATED"}}]}, "quantity": 1}}  # fmt: skip
    assert (built.outputs, built.size, built.ext) == (1, (1024, 768), "png")
    webp = ok(
        build("nobg", {"model": "remove-bg", "params": {"format": "webp"}}, "upscale", (2048, 1536))
    )
    assert webp.ext == "webp"
    assert (
        webp.body["parameters"]["guidances"]["image_reference"][0]["image"]["type"] == "VARIATION"
    )


def test_pro_upscaler_size_is_the_input_times_the_factor(build: Build) -> None:
    """width/height = the input's size (upstream or local file); output = input x upscale_factor."""
    built = ok(
        build(
            "upscale",
            {"model": "pro-upscaler-creative", "params": {"upscale_factor": 4}},
            "image",
            (1024, 768),
        )
    )
    params = built.body["parameters"]
    assert (params["width"], params["height"], params["upscale_factor"]) == (1024, 768, 4)
    assert built.size == (4096, 3072) and built.model == "aurora-upscaler-creative"
    local = ok(build("upscale", {"model": "aurora-upscaler-precise", "image": "ref.png"}))
    assert local.size == (1280, 960) and local.body["parameters"]["upscale_factor"] == 2
    got = problems(
        build(
            "upscale",
            {"model": "aurora-upscaler-precise", "params": {"width": 10}},
            "image",
            (1024, 768),
        )
    )
    assert got == {
        (
            "params",
            "width",
        ): "an upscaler's width is the input image's; leobatch sets it from the input"
    }
    unknown = problems(build("upscale", {"model": "aurora-upscaler-precise"}, "image", None))
    assert unknown == {
        ("from",): "the input image's size is not known at plan time; an upscaler needs it"
    }


def test_v2_outputs_feed_v1_variations_as_generated_images(build_v2_upstream: Build) -> None:
    """A v2 remove-bg output is a generated image: v1 nobg takes it with isVariation false."""
    built = ok(build_v2_upstream("nobg", {}, "nobg", (1024, 768)))
    assert built.endpoint == "/variations/nobg" and built.body == {"isVariation": False}
    assert built.inputs == (Input("id", "upstream", "generated-image"),)
    upscaled = ok(
        build_v2_upstream("upscale", {}, "upscale", (2048, 1536))
    )  # v1 upscale: generated only
    assert upscaled.endpoint == "/variations/upscale"


def test_wrong_model_for_the_kind(build: Build) -> None:
    """A video model on an image stage, an image model on nobg: refused at model."""
    got = problems(build("image", {"model": "kling-2.6", "prompt": "a"}))
    assert got == {
        ("model",): "model 'kling-2.6' is a video model; image stages need an image model"
    }
    got = problems(build("nobg", {"model": "phoenix-1.0"}, "image", (1024, 768)))
    assert list(got) == [("model",)]
    assert got[("model",)].startswith("nobg stages take a remove-bg model here, not 'phoenix-1.0'")


def test_portable_key_given_twice(build: Build) -> None:
    """num_images and params.quantity both: keep one."""
    got = problems(
        build(
            "image",
            {"model": "seedream-4.5", "prompt": "a", "num_images": 2, "params": {"quantity": 3}},
        )
    )
    assert got == {
        ("params", "quantity"): "quantity is also set by the stage key 'num_images'; keep one"
    }


def test_upstream_text_prompt_is_an_input_inside_parameters(build: Build) -> None:
    """An improve-prompt upstream's text fills parameters.prompt at run time."""
    built = ok(
        build(
            "image",
            {"model": "seedream-4.5", "prompt": f"{UPSTREAM_TEXT}, watercolor"},
            "improve-prompt",
        )
    )
    assert Input("parameters.prompt", "upstream-text", None) in built.inputs
    assert "guidances" not in built.body["parameters"]


def test_defaults_a_v2_model_lacks_are_left_out(build: Build, recipe_dir: Path) -> None:
    """A `defaults.image` v1 field (alchemy) is ignored by a v2 model; a stage's own is refused."""
    fields: dict[str, Any] = {"model": "seedream-4.5", "prompt": "a", "params": {"alchemy": True}}
    built = build_request("image", fields, upstream_kind=None, upstream_size=None,
                          recipe_dir=recipe_dir, from_defaults=frozenset({"alchemy"}))  # fmt: skip
    assert "alchemy" not in ok(built).body["parameters"]
    got = problems(build("image", fields))
    assert list(got) == [("params", "alchemy")]


@pytest.fixture
def build_v2_upstream(recipe_dir: Path) -> Build:
    """``build_request`` whose upstream job is a v2 request."""

    def _build(kind: str, fields: dict[str, Any], upstream_kind: str | None = None,
               upstream_size: tuple[int, int] | None = None) -> BuiltRequest | list[FieldProblem]:  # fmt: skip
        return build_request(kind, fields, upstream_kind=upstream_kind, upstream_size=upstream_size,
                             recipe_dir=recipe_dir, upstream_endpoint="/v2/generations")  # fmt: skip

    return _build
