"""Image stages -> POST /generations: mapping, defaults and every semantic rule."""

# ruff: noqa: E501  (exact user-facing messages read best on one line)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from leobatch.plan.jobs import UPSTREAM_TEXT, Input
from leobatch.request import BuiltRequest, FieldProblem

PHOENIX = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"

Build = Callable[..., BuiltRequest | list[FieldProblem]]


def ok(result: BuiltRequest | list[FieldProblem]) -> BuiltRequest:
    """The request, failing the test with the problems when there are any."""
    assert isinstance(result, BuiltRequest), result
    return result


def problems(result: BuiltRequest | list[FieldProblem]) -> dict[tuple[str | int, ...], str]:
    """The problems by path."""
    assert isinstance(result, list), result
    return {p.path: p.message for p in result}


def phoenix(**params: Any) -> dict[str, Any]:
    """A Phoenix stage with these params (contrast 3.5 unless given)."""
    return {"model": "phoenix-1.0", "prompt": "a mug", "params": {"contrast": 3.5, **params}}


def test_defaults_are_written_into_the_body(build: Build) -> None:
    """width 1024, height 768, num_images 4, alchemy true: prices never rest on server defaults."""
    built = ok(build("image", phoenix()))
    assert built.endpoint == "/generations"
    assert dict(built.body) == {
        "modelId": PHOENIX, "prompt": "a mug", "contrast": 3.5, "width": 1024, "height": 768,
        "num_images": 4, "alchemy": True,
    }  # fmt: skip
    assert (built.outputs, built.size, built.model, built.ext) == (
        4,
        (1024, 768),
        "phoenix-1.0",
        "jpg",
    )
    assert built.inputs == ()


@pytest.mark.parametrize(
    "name", ["phoenix-1.0", "Leonardo Phoenix 1.0", "LEONARDO PHOENIX 1.0", PHOENIX]
)
def test_model_by_slug_display_name_or_uuid(build: Build, name: str) -> None:
    """Any name of the model gives the same modelId."""
    assert ok(build("image", {**phoenix(), "model": name})).body["modelId"] == PHOENIX


def test_unknown_model_suggests(build: Build) -> None:
    """A near-miss model name gets a suggestion."""
    got = problems(build("image", {**phoenix(), "model": "phoenix-1.1"}))
    assert got == {("model",): "unknown model 'phoenix-1.1'; did you mean 'phoenix-1.0'?"}


def test_custom_model_uuid_is_accepted(build: Build) -> None:
    """A UUID the catalogue does not know is the account's own model."""
    uuid = "11111111-2222-3333-4444-555555555555"
    built = ok(build("image", {"model": uuid, "prompt": "p"}))
    assert built.body["modelId"] == uuid and built.model is None


def test_video_model_refused(build: Build) -> None:
    """An image stage cannot use a video model."""
    got = problems(build("image", {"model": "veo3", "prompt": "p"}))
    assert got[("model",)] == "model 'veo3' is a video model; image stages need an image model"


def test_negative_prompt_camel_case_suggests_stage_key(build: Build) -> None:
    """negativePrompt in an image stage's params is refused with the right name."""
    got = problems(build("image", phoenix(negativePrompt="blurry")))
    message = got[("params", "negativePrompt")]
    assert "unknown request field 'negativePrompt'" in message
    assert "did you mean 'negative_prompt'" in message


def test_negative_prompt_and_plain_fields_in_params(build: Build) -> None:
    """Fields leobatch fills from stage keys may be written in params instead."""
    built = ok(build("image", {"params": {"prompt": "p", "negative_prompt": "n", "seed": 7}}))
    assert (built.body["prompt"], built.body["negative_prompt"], built.body["seed"]) == (
        "p",
        "n",
        7,
    )
    got = problems(build("image", {"prompt": "p", "params": {"prompt": "q"}}))
    assert got == {("params", "prompt"): "prompt is also set by the stage key 'prompt'; keep one"}


@pytest.mark.parametrize(
    ("field", "stage_key"),
    [("init_image_id", "init_image"), ("init_generation_image_id", "'from'")],
)
def test_run_time_ids_refused_in_params(build: Build, field: str, stage_key: str) -> None:
    """Run-time id fields say which stage key to use."""
    message = problems(build("image", {"prompt": "p", "params": {field: "x"}}))[("params", field)]
    assert message.startswith(f"{field} is an id known only at run time; leobatch sets it from")
    assert stage_key in message


def test_built_fields_refused_in_params(build: Build) -> None:
    """controlnets, contextImages and elements are built from stage keys."""
    got = problems(build("image", {"prompt": "p", "params": {"controlnets": [], "elements": []}}))
    assert (
        got[("params", "controlnets")]
        == "controlnets is built by leobatch; use the stage key 'guidance'"
    )
    assert (
        got[("params", "elements")] == "elements is built by leobatch; use the stage key 'elements'"
    )


def test_types_are_checked_not_raised(build: Build) -> None:
    """A string where an int belongs is a problem; all problems come at once."""
    got = problems(
        build("image", {"prompt": 5, "params": {"width": "1024", "alchemy": "yes", "seed": 1.5}})
    )
    assert got == {
        ("prompt",): "prompt must be a string, not 5",
        ("params", "width"): "width must be an integer, not '1024'",
        ("params", "alchemy"): "alchemy must be true or false, not 'yes'",
        ("params", "seed"): "seed must be an integer, not 1.5",
    }


def test_prompt_required_and_limited(build: Build) -> None:
    """A prompt is required and at most 1500 characters, unless it awaits upstream text."""
    assert problems(build("image", {"params": {}})) == {(): "an image stage needs a prompt"}
    got = problems(build("image", {"prompt": "x" * 1501}))
    assert got == {("prompt",): "prompt is 1501 characters; at most 1500 are allowed"}
    built = ok(build("image", {"prompt": "x" * 1490 + UPSTREAM_TEXT}, "improve-prompt"))
    assert built.inputs == (Input("prompt", "upstream-text", None),)


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"width": 1004}, "width", "width must be a multiple of 8 in 32..1536, not 1004"),
        ({"height": 1544}, "height", "height must be a multiple of 8 in 32..1536, not 1544"),
        ({"width": 24}, "width", "width must be a multiple of 8 in 32..1536, not 24"),
        (
            {"num_images": 9, "width": 512, "height": 512},
            "num_images",
            "num_images must be in 1..8, not 9",
        ),
        ({"num_images": 0}, "num_images", "num_images must be in 1..8, not 0"),
        (
            {"num_images": 5},
            "num_images",
            "num_images must be 1..4 when width or height is above 768, not 5",
        ),
        (
            {"contrast": 1.8},
            "contrast",
            "contrast must be >= 2.5 for Leonardo Phoenix 1.0 with Alchemy, not 1.8",
        ),
        (
            {"contrast": 2.2},
            "contrast",
            "contrast must be one of 1.0, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5, not 2.2",
        ),
        ({"init_strength": 0.95}, "init_strength", "init_strength must be in 0.1..0.9, not 0.95"),
        ({"guidance_scale": 21}, "guidance_scale", "guidance_scale must be in 1..20, not 21"),
        (
            {"num_inference_steps": 9},
            "num_inference_steps",
            "num_inference_steps must be in 10..60, not 9",
        ),
        (
            {"presetStyle": "CINEMATC"},
            "presetStyle",
            "presetStyle must be one of the allowed values, not 'CINEMATC'; did you mean 'CINEMATIC'?",
        ),
        (
            {"scheduler": "EULER_DISCRET"},
            "scheduler",
            "scheduler must be one of the allowed values, not 'EULER_DISCRET'; did you mean 'EULER_DISCRETE'?",
        ),
        ({"ultra": True, "alchemy": True}, "ultra", "ultra cannot be combined with alchemy: true"),
        ({"photoReal": True, "alchemy": False}, "photoReal", "photoReal needs alchemy: true"),
        (
            {"presetStyle": "CINEMATIC", "alchemy": False},
            "presetStyle",
            "presetStyle CINEMATIC needs alchemy: true",
        ),
    ],
)
def test_rules(build: Build, params: dict[str, Any], path: str, message: str) -> None:
    """Each rule of DESIGN section 4, at the offending key, with its exact message."""
    assert problems(build("image", phoenix(**params)))[("params", path)] == message


def test_contrast_required_for_phoenix_flux_lucid_origin(build: Build) -> None:
    """Phoenix, Flux and Lucid Origin need contrast; Lightning XL does not."""
    for slug in ("phoenix-1.0", "flux-dev", "flux-schnell", "lucid-origin"):
        got = problems(build("image", {"model": slug, "prompt": "p"}))
        assert got[("model",)] == (
            f"model '{slug}' needs params.contrast (one of 1.0, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5)"
        )
    ok(build("image", {"model": "lightning-xl", "prompt": "p"}))
    ok(build("image", phoenix(contrast=1.8, alchemy=False)))


def test_photoreal_v1_takes_no_model(build: Build) -> None:
    """PhotoReal v1 needs Alchemy and no model; without a model it builds."""
    got = problems(
        build("image", {"model": "lightning-xl", "prompt": "p", "params": {"photoReal": True}})
    )
    assert got[("model",)] == "PhotoReal v1 takes no model; remove it or set photoRealVersion: v2"
    built = ok(
        build("image", {"prompt": "p", "params": {"photoReal": True, "photoRealStrength": 0.5}})
    )
    assert "modelId" not in built.body and built.body["alchemy"] is True


def test_preset_style_any_case_and_no_alchemy_styles(build: Build) -> None:
    """Preset styles match in any case; LEONARDO and NONE work without Alchemy."""
    assert (
        ok(build("image", phoenix(presetStyle="stock_photo"))).body["presetStyle"] == "STOCK_PHOTO"
    )
    ok(build("image", phoenix(presetStyle="LEONARDO", alchemy=False)))


def test_ultra_defaults_alchemy_off(build: Build) -> None:
    """ultra: true alone is valid (alchemy defaults to false with it)."""
    assert ok(build("image", phoenix(ultra=True))).body["alchemy"] is False


def test_elements_resolve_and_fit(build: Build) -> None:
    """Elements by name or akUUID, default weight from the catalogue, base model must fit."""
    stage = {"model": "lightning-xl", "prompt": "p", "elements": [
        {"name": "sparklecore", "weight": 0.8}, {"akUUID": "f663d120-0692-4e0a-9917-36f92b034aef"}, "Glasscore",
    ]}  # fmt: skip
    built = ok(build("image", stage))
    assert built.body["elements"] == [
        {"akUUID": "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a", "weight": 0.8},
        {"akUUID": "f663d120-0692-4e0a-9917-36f92b034aef", "weight": 0.7},
        {"akUUID": "a699f5da-f7f5-4afe-8473-c426b245c145", "weight": 1.0},
    ]


def test_element_problems(build: Build) -> None:
    """Unknown names suggest; wrong base model and out-of-range weight are refused."""
    stage = {"model": "lightning-xl", "prompt": "p", "elements": [
        {"name": "Sparklecor"}, {"name": "Cute Handdrawn"}, {"name": "Cybertech", "weight": 3.5}, {"nam": "x"},
    ]}  # fmt: skip
    got = problems(build("image", stage))
    assert (
        got[("elements", 0, "name")] == "unknown element 'Sparklecor'; did you mean 'Sparklecore'?"
    )
    assert got[("elements", 1, "name")] == (
        "element 'Cute Handdrawn' (base model FLUX_DEV) does not fit model 'lightning-xl' (SDXL_LIGHTNING)"
    )
    assert got[("elements", 2, "weight")] == "weight of 'Cybertech' must be in -2..3, not 3.5"
    assert got[("elements", 3, "nam")] == "unknown key 'nam'; did you mean 'name'?"


def test_guidance_maps_to_controlnets(build: Build) -> None:
    """Guidance types use the model's preprocessor id; local files become init-image inputs."""
    stage = {**phoenix(), "guidance": [
        {"type": "style-reference", "image": "ref.png", "strength": "High", "weight": 1.2},
        {"type": "character-reference", "image": "refs/face.jpg"},
    ]}  # fmt: skip
    built = ok(build("image", stage))
    assert built.body["controlnets"] == [
        {"initImageType": "UPLOADED", "preprocessorId": 166, "strengthType": "High", "weight": 1.2},
        {"initImageType": "UPLOADED", "preprocessorId": 397, "strengthType": "Mid"},
    ]
    assert [(i.field, i.source, i.id_kind, i.path) for i in built.inputs] == [
        ("controlnets.0.initImageId", "file", "init-image", "ref.png"),
        ("controlnets.1.initImageId", "file", "init-image", "refs/face.jpg"),
    ]
    assert all(i.sha256 and len(i.sha256) == 64 for i in built.inputs)


def test_guidance_from_upstream(build: Build) -> None:
    """'upstream' guidance uses the upstream generated image instead of an init image."""
    stage = {**phoenix(), "guidance": [{"type": "content-reference", "image": "upstream"}]}
    built = ok(build("image", stage, "image", (1024, 768)))
    assert built.body["controlnets"][0]["initImageType"] == "GENERATED"
    assert built.inputs == (Input("controlnets.0.initImageId", "upstream", "generated-image"),)


def test_guidance_problems(build: Build) -> None:
    """Unknown types suggest; a model without that guidance and bad strengths are refused."""
    stage = {"model": "flux-dev", "prompt": "p", "params": {"contrast": 3}, "guidance": [
        {"type": "style-referense", "image": "ref.png"},
        {"type": "character-reference", "image": "ref.png"},
        {"type": "content-reference", "image": "ref.png", "strength": "Max"},
        {"type": "style-reference"},
    ]}  # fmt: skip
    got = problems(build("image", stage))
    assert (
        got[("guidance", 0, "type")]
        == "unknown guidance type 'style-referense'; did you mean 'style-reference'?"
    )
    assert (
        got[("guidance", 1, "type")]
        == "model 'flux-dev' has no character-reference guidance; it has content-reference and style-reference"
    )
    assert (
        got[("guidance", 2, "strength")]
        == "strength must be one of Low, Mid, High for content-reference, not 'Max'"
    )
    assert got[("guidance", 3)] == "a guidance entry needs an image: a path or 'upstream'"


def test_init_image_local_and_upstream(build: Build) -> None:
    """A local init image and an upstream generated image become their id inputs."""
    built = ok(build("image", {**phoenix(), "init_image": "ref.png"}))
    assert [(i.field, i.source, i.path) for i in built.inputs] == [
        ("init_image_id", "file", "ref.png")
    ]
    built = ok(build("image", phoenix(init_strength=0.4), "image", (1024, 768)))
    assert built.inputs == (Input("init_generation_image_id", "upstream", "generated-image"),)
    got = problems(build("image", phoenix(), "nobg", (1024, 768)))
    assert (
        got[()]
        == "an image stage takes a generated image as init image, not a variation ('nobg' yields one)"
    )
    got = problems(build("image", {**phoenix(), "init_image": "ref.png"}, "image", (1024, 768)))
    assert got[("init_image",)] == "init_image and 'from' both give an init image; keep one"


def test_context_images_for_kontext_only(build: Build) -> None:
    """context_images build contextImages for FLUX.1 Kontext and are refused elsewhere."""
    stage = {"model": "flux-kontext", "prompt": "p", "context_images": ["ref.png", "upstream"]}
    built = ok(build("image", stage, "image", (1024, 768)))
    assert built.body["contextImages"] == [{"type": "UPLOADED"}, {"type": "GENERATED"}]
    assert [i.field for i in built.inputs] == ["contextImages.0.id", "contextImages.1.id"]
    got = problems(build("image", {**phoenix(), "context_images": ["ref.png"]}))
    assert got[("context_images",)] == "context_images need the model 'flux-kontext'"


def test_stage_keys_of_other_kinds_refused(build: Build) -> None:
    """A key meant for another kind, or no key at all, is a problem."""
    got = problems(
        build("image", {**phoenix(), "motion": "Dolly In", "promt": "x", "kind": "image"})
    )
    assert got[("motion",)] == "'motion' does not apply to image stages"
    assert got[("promt",)] == "unknown stage key 'promt'; did you mean 'prompt'?"


def test_stage_key_written_in_params(build: Build) -> None:
    """A stage key put inside params is pointed out as such."""
    got = problems(build("image", {"prompt": "p", "params": {"model": "phoenix-1.0"}}))
    assert got == {
        ("params", "model"): "model is a stage key, not a request field; move it out of params"
    }


def test_upstream_guidance_needs_an_image_upstream(build: Build) -> None:
    """'upstream' as a guidance image needs 'from' naming an image stage."""
    stage = {**phoenix(), "guidance": [{"type": "style-reference", "image": "upstream"}]}
    got = problems(build("image", stage))
    assert got == {("guidance", 0, "image"): "'upstream' needs 'from' naming an image stage"}
