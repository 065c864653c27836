"""The portable stage keys on v1 models: the same body as the params spelling, errors at the key."""

# ruff: noqa: E501  (exact user-facing messages read best on one line)

from __future__ import annotations

from collections.abc import Callable

from leobatch.request import BuiltRequest, FieldProblem

Build = Callable[..., BuiltRequest | list[FieldProblem]]


def ok(result: BuiltRequest | list[FieldProblem]) -> BuiltRequest:
    """The request, failing the test with the problems when there are any."""
    assert isinstance(result, BuiltRequest), result
    return result


def problems(result: BuiltRequest | list[FieldProblem]) -> dict[tuple[str | int, ...], str]:
    """The problems by path."""
    assert isinstance(result, list), result
    return {p.path: p.message for p in result}


def test_stage_keys_build_the_same_v1_body_as_params(build: Build) -> None:
    """width/height/num_images/seed at stage level == in params: same body, so same job key."""
    base = {"model": "phoenix-1.0", "prompt": "a mug"}
    portable = ok(build("image", {**base, "width": 1024, "height": 1024, "num_images": 2, "seed": 5,
                                  "params": {"contrast": 3.5}}))  # fmt: skip
    raw = ok(build("image", {**base, "params": {"contrast": 3.5, "width": 1024, "height": 1024,
                                                "num_images": 2, "seed": 5}}))  # fmt: skip
    assert portable.body == raw.body
    assert portable.endpoint == "/generations" and portable.outputs == 2


def test_v1_rules_are_located_at_the_stage_key(build: Build) -> None:
    """A v1 size or count problem on a portable key points at that key, not at params."""
    got = problems(build("image", {"model": "phoenix-1.0", "prompt": "a", "width": 1020, "num_images": 9,
                                   "seed": 99999999999, "params": {"contrast": 3.5}}))  # fmt: skip
    assert got == {
        ("width",): "width must be a multiple of 8 in 32..1536, not 1020",
        ("num_images",): "num_images must be in 1..8, not 9",
        ("seed",): "seed must be in 0..9999999998, not 99999999999",
    }
    got = problems(build("image", {"prompt": "a", "width": "wide"}))
    assert got == {("width",): "width must be an integer, not 'wide'"}
    got = problems(build("image", {"prompt": "a", "width": 512, "params": {"width": 512}}))
    assert got == {("params", "width"): "width is also set by the stage key 'width'; keep one"}


def test_styles_on_v1_image_is_the_preset_style(build: Build) -> None:
    """One style name on a v1 image model is its presetStyle (any spelling)."""
    built = ok(build("image", {"model": "phoenix-1.0", "prompt": "a", "styles": ["Stock Photo"],
                               "params": {"contrast": 3.5}}))  # fmt: skip
    assert built.body["presetStyle"] == "STOCK_PHOTO"
    got = problems(build("image", {"prompt": "a", "styles": ["Cinematc"]}))
    assert got == {
        (
            "styles",
            0,
        ): "unknown style 'Cinematc' for a v1 image model (a presetStyle); did you mean 'CINEMATIC'?"
    }


def test_v1_video_takes_width_height_and_seed(build: Build) -> None:
    """Portable width/height/seed are the v1 video body fields of those names."""
    built = ok(
        build(
            "text-to-video",
            {"model": "motion-2.0", "prompt": "a", "width": 832, "height": 480, "seed": 3},
        )
    )
    assert (built.body["width"], built.body["height"], built.body["seed"]) == (832, 480, 3)
    assert built.size == (832, 480)
    got = problems(build("text-to-video", {"prompt": "a", "num_images": 2}))
    assert got == {("num_images",): "'num_images' does not apply to text-to-video stages"}


def test_v1_guidance_needs_a_type(build: Build) -> None:
    """v2 guidance entries may leave out the type; on v1 it picks the preprocessor."""
    got = problems(build("image", {"model": "phoenix-1.0", "prompt": "a", "params": {"contrast": 3.5},
                                   "guidance": [{"image": "ref.png"}]}))  # fmt: skip
    assert got == {
        (
            "guidance",
            0,
            "type",
        ): "a guidance entry on a v1 model needs a type (one of style-reference, character-reference, content-reference)"
    }
