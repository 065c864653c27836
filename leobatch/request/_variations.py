"""Variation stages (upscale, unzoom, nobg, universal-upscale) and improve-prompt."""

from __future__ import annotations

from leobatch.request import UNZOOM_FACTOR, Shape
from leobatch.request._context import IMAGE_KINDS, VARIATION_KINDS, Ctx, Spec

__all__ = ["KINDS"]

_FROM = "'from' (an upstream image stage)"

_UPSCALE = Spec("/variations/upscale", frozenset(), runtime={"id": _FROM})
_UNZOOM = Spec("/variations/unzoom", frozenset(), runtime={"id": _FROM})
_NOBG = Spec("/variations/nobg", frozenset(), runtime={"id": _FROM})
_SOURCES = "'from' (an upstream image or variation) or the stage key 'image' (a local file)"
_UNIVERSAL = Spec(
    "/variations/universal-upscaler",
    frozenset({"image", "prompt"}),
    aliases={"prompt": "prompt"},
    runtime={"generatedImageId": _SOURCES, "variationId": _SOURCES, "initImageId": _SOURCES},
)
_IMPROVE = Spec(
    "/prompt/improve",
    frozenset({"prompt", "instructions"}),
    aliases={"prompt": "prompt", "promptInstructions": "instructions"},
)


def _scaled(size: tuple[int, int] | None, factor: float) -> tuple[int, int] | None:
    return None if size is None else (round(size[0] * factor), round(size[1] * factor))


def _variation_source(ctx: Ctx, *, generated_only: bool) -> None:
    """The upstream image as ``id`` (``isVariation`` when it is a variation)."""
    if ctx.upstream_kind is None:
        ctx.problem((), f"{ctx.kind} needs 'from' naming an image stage")
    elif ctx.upstream_kind not in IMAGE_KINDS:
        ctx.problem((), f"{ctx.kind} needs an image, and {ctx.upstream_kind!r} yields none")
    elif generated_only and ctx.upstream_kind in VARIATION_KINDS:
        ctx.problem(
            (),
            f"upscale takes generated images only, and {ctx.upstream_kind!r} yields a "
            "variation; use universal-upscale",
        )
    else:
        ctx.upstream_input("id")
        if not generated_only:
            ctx.body["isVariation"] = ctx.upstream_kind in VARIATION_KINDS


def build_upscale(ctx: Ctx) -> Shape:
    """``POST /variations/upscale``: a generated image, twice the size."""
    _variation_source(ctx, generated_only=True)
    return Shape(1, _scaled(ctx.input_size, 2), None, "jpg")


def build_unzoom(ctx: Ctx) -> Shape:
    """``POST /variations/unzoom``: the canvas widened by ``UNZOOM_FACTOR``."""
    _variation_source(ctx, generated_only=False)
    return Shape(1, _scaled(ctx.input_size, UNZOOM_FACTOR), None, "jpg")


def build_nobg(ctx: Ctx) -> Shape:
    """``POST /variations/nobg``: the same size, as a transparent PNG."""
    _variation_source(ctx, generated_only=False)
    return Shape(1, ctx.input_size, None, "png")


def build_universal_upscale(ctx: Ctx) -> Shape:
    """``POST /variations/universal-upscaler``: exactly one source, multiplier 1.0..2.0."""
    local = ctx.get("image")
    if local is not None and ctx.upstream_kind is not None:
        ctx.problem(
            local[1], "universal-upscale takes exactly one source: 'image' or 'from', not both"
        )
    elif local is not None:
        found = ctx.file_input("initImageId", local[1], local[0])
        ctx.input_size = found.size if found is not None else None
    elif ctx.upstream_kind in VARIATION_KINDS:
        ctx.upstream_input("variationId")
    elif ctx.upstream_kind in IMAGE_KINDS:
        ctx.upstream_input("generatedImageId")
    elif ctx.upstream_kind is not None:
        ctx.problem((), f"universal-upscale needs an image, and {ctx.upstream_kind!r} yields none")
    else:
        ctx.problem((), f"universal-upscale needs exactly one source: {_SOURCES}")
    prompt = ctx.text("prompt", limit=1500)
    if prompt is not None:
        ctx.body["prompt"] = prompt
    body = ctx.body
    if "upscalerStyle" in body and "ultraUpscaleStyle" in body:
        ctx.problem(
            ("params", "ultraUpscaleStyle"),
            "give upscalerStyle (legacy mode) or ultraUpscaleStyle (ultra mode), not both",
        )
    elif "ultraUpscaleStyle" not in body:
        body.setdefault("upscalerStyle", "GENERAL")
        for name in ("detailContrast", "similarity"):
            if name in body:
                ctx.problem(("params", name), f"{name} needs ultra mode (ultraUpscaleStyle)")
    multiplier = body.setdefault("upscaleMultiplier", 1.5)
    ctx.check_range("upscaleMultiplier", 1.0, 2.0)
    for name in ("creativityStrength", "detailContrast", "similarity"):
        ctx.check_range(name, 1, 10)
    return Shape(1, _scaled(ctx.input_size, multiplier), None, "jpg")


def build_improve_prompt(ctx: Ctx) -> Shape:
    """``POST /prompt/improve``: a prompt of at most 200 characters, optional instructions."""
    prompt = ctx.text("prompt", limit=200)
    if prompt is None and ctx.get("prompt") is None:
        ctx.problem((), "an improve-prompt stage needs a prompt")
    elif prompt is not None:
        ctx.body["prompt"] = prompt
    instructions = ctx.text("instructions", limit=1500)
    if instructions is not None:
        ctx.body["promptInstructions"] = instructions
    return Shape(0, None, None, "")


KINDS = {
    "upscale": (_UPSCALE, build_upscale),
    "unzoom": (_UNZOOM, build_unzoom),
    "nobg": (_NOBG, build_nobg),
    "universal-upscale": (_UNIVERSAL, build_universal_upscale),
    "improve-prompt": (_IMPROVE, build_improve_prompt),
}
