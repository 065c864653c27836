"""``image`` stages -> ``POST /generations``, with the catalogue's rules (DESIGN section 4).

An upstream image (``from``) becomes the init image (``init_generation_image_id``), unless a
guidance entry takes it (``image: upstream``) or FLUX.1 Kontext takes it as a context image;
then it is used there only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leobatch import catalog
from leobatch.catalog import Model, suggest
from leobatch.request import Shape
from leobatch.request._context import (
    IMAGE_KINDS,
    PORTABLE_INTS,
    UUID,
    VARIATION_KINDS,
    Ctx,
    Path_,
    Spec,
    describe,
)
from leobatch.request._elements import elements
from leobatch.request._seeds import check_seed

__all__ = ["KINDS"]

CONTRASTS = (1.0, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5)
STRENGTHS = ("Low", "Mid", "High", "Ultra", "Max")
_INIT = "the stage key 'init_image' (a local file) or 'from' (an upstream image)"

SPEC = Spec(
    endpoint="/generations",
    keys=frozenset(
        {"model", "prompt", "negative_prompt", "init_image", "elements", "guidance"}
        | {"context_images", "styles", "width", "height", "num_images", "seed"}
    ),
    aliases={
        "modelId": "model",
        "prompt": "prompt",
        "negative_prompt": "negative_prompt",
        **{name: name for name in PORTABLE_INTS},
    },
    runtime={
        "init_image_id": _INIT,
        "init_generation_image_id": _INIT,
        "canvasInitId": "nothing: canvas requests are not supported",
        "canvasMaskId": "nothing: canvas requests are not supported",
        "imagePrompts": "nothing: image prompts are not supported; use 'guidance'",
    },
    managed={"controlnets": "guidance", "contextImages": "context_images", "elements": "elements"},
)


def _model(ctx: Ctx) -> tuple[Model | None, bool]:
    """The catalogue model (or ``None``) and whether a model was given at all."""
    found = ctx.get("model")
    if found is None:
        return None, False
    value, path = found
    if not isinstance(value, str):
        ctx.problem(path, f"model must be a name or UUID, not {describe(value)}")
        return None, True
    model = catalog.find_model(value)
    if model is not None and model.kind == "image":
        ctx.body["modelId"] = model.id
        return model, True
    if model is None and UUID.match(value.strip()):
        ctx.body["modelId"] = value.strip()  # a custom model (the account's own fine-tune)
        return None, True
    if model is not None:
        ctx.problem(path, f"model {value!r} is a video model; image stages need an image model")
        return None, True
    choices = [m.slug for m in catalog.models() if m.kind == "image"]
    hint = suggest(value, choices) or suggest(
        value, [m.name for m in catalog.models() if m.kind == "image"]
    )
    more = f"; did you mean {hint!r}?" if hint else ""
    ctx.problem(path, f"unknown model {value!r}{more}")
    return None, True


def _sizes(ctx: Ctx) -> tuple[int, int, int]:
    body = ctx.body
    for name, default in (("width", 1024), ("height", 768), ("num_images", 4)):
        body.setdefault(name, default)
    width, height, count = body["width"], body["height"], body["num_images"]
    for name in ("width", "height"):
        value = body[name]
        if not (32 <= value <= 1536 and value % 8 == 0):
            ctx.problem(ctx.where(name), f"{name} must be a multiple of 8 in 32..1536, not {value}")
    if not 1 <= count <= 8:
        ctx.problem(ctx.where("num_images"), f"num_images must be in 1..8, not {count}")
    elif count > 4 and max(width, height) > 768:
        ctx.problem(
            ctx.where("num_images"),
            f"num_images must be 1..4 when width or height is above 768, not {count}",
        )
    return width, height, count


def _pipelines(ctx: Ctx, model: Model | None, has_model: bool) -> None:
    body = ctx.body
    body.setdefault("alchemy", not body.get("ultra", False))
    alchemy = body["alchemy"]
    if body.get("ultra") and alchemy:
        ctx.problem(("params", "ultra"), "ultra cannot be combined with alchemy: true")
    if body.get("photoReal"):
        if not alchemy:
            ctx.problem(("params", "photoReal"), "photoReal needs alchemy: true")
        if body.get("photoRealVersion", "v1") == "v1" and has_model:
            ctx.problem(
                ("model",) if "model" in ctx.fields else ("params", "modelId"),
                "PhotoReal v1 takes no model; remove it or set photoRealVersion: v2",
            )
    if "photoRealVersion" in body and body["photoRealVersion"] not in ("v1", "v2"):
        ctx.problem(("params", "photoRealVersion"), "photoRealVersion must be 'v1' or 'v2'")
    style = body.get("presetStyle")
    preset = catalog.find_preset_style(style) if style else None
    if preset is not None and preset.needs_alchemy and not alchemy:
        ctx.problem(ctx.where("presetStyle"), f"presetStyle {preset.name} needs alchemy: true")
    contrast = body.get("contrast")
    if model is not None and model.contrast_required and contrast is None:
        ctx.problem(
            ("model",) if "model" in ctx.fields else ("params", "modelId"),
            f"model {model.slug!r} needs params.contrast (one of {', '.join(map(str, CONTRASTS))})",
        )
    minimum = model.alchemy_min_contrast if model is not None else None
    if contrast is not None and contrast not in CONTRASTS:
        ctx.problem(
            ("params", "contrast"),
            f"contrast must be one of {', '.join(map(str, CONTRASTS))}, not {contrast}",
        )
    elif (
        model is not None
        and minimum is not None
        and alchemy
        and contrast is not None
        and (contrast < minimum)
    ):
        ctx.problem(
            ("params", "contrast"),
            f"contrast must be >= {minimum} for {model.name} with Alchemy, not {contrast}",
        )
    ctx.check_range("init_strength", 0.1, 0.9)
    ctx.check_range("guidance_scale", 1, 20)
    ctx.check_range("num_inference_steps", 10, 60)
    ctx.check_range("promptMagicStrength", 0.1, 1.0)
    ctx.check_range("contrastRatio", 0, 1)
    ctx.check_range("imagePromptWeight", 0, 2)
    check_seed(ctx, model)


def _image_source(ctx: Ctx, model: Model | None) -> None:
    """init_image (local), ``from`` (upstream), guidance and context images."""
    guidance_uses_upstream = _guidance(ctx, model)
    _context_images(ctx, model)
    init = ctx.get("init_image")
    uses_upstream = ctx.upstream_kind in IMAGE_KINDS and not guidance_uses_upstream
    if model is not None and model.family == "flux-kontext" and "context_images" in ctx.fields:
        uses_upstream = False
    if init is not None and uses_upstream:
        ctx.problem(init[1], "init_image and 'from' both give an init image; keep one")
    elif init is not None:
        ctx.file_input("init_image_id", init[1], init[0])
    elif uses_upstream:
        if ctx.upstream_kind in VARIATION_KINDS:
            ctx.problem(
                (),
                f"an image stage takes a generated image as init image, not a variation "
                f"({ctx.upstream_kind!r} yields one)",
            )
        else:
            ctx.upstream_input("init_generation_image_id")
    elif ctx.upstream_kind is not None and ctx.upstream_kind not in IMAGE_KINDS | {
        "improve-prompt"
    }:
        ctx.problem((), f"an image stage cannot take a {ctx.upstream_kind!r} output")


def _reference(ctx: Ctx, path: Path_, image: object, id_field: str) -> str | None:
    """``initImageType`` of a guidance or context image, its id becoming an Input."""
    if image == "upstream":
        if ctx.upstream_kind != "image":
            ctx.problem(path, "'upstream' needs 'from' naming an image stage")
            return None
        ctx.upstream_input(id_field)
        return "GENERATED"
    return "UPLOADED" if ctx.file_input(id_field, path, image) is not None else None


def _guidance(ctx: Ctx, model: Model | None) -> bool:
    entries = ctx.names("guidance")
    controlnets: list[dict[str, Any]] = []
    uses_upstream = False
    for entry, path in entries:
        if not isinstance(entry, Mapping):
            ctx.problem(path, f"a guidance entry must be a mapping, not {describe(entry)}")
            continue
        for key in entry:
            if key not in ("type", "image", "strength", "weight"):
                hint = suggest(str(key), ["type", "image", "strength", "weight"])
                more = f"; did you mean {hint!r}?" if hint else ""
                ctx.problem((*path, key), f"unknown guidance key {key!r}{more}")
        kind = entry.get("type")
        types = ("style-reference", "character-reference", "content-reference")
        preprocessor = None
        if kind is None:
            ctx.problem(
                (*path, "type"),
                f"a guidance entry on a v1 model needs a type (one of {', '.join(types)})",
            )
        elif kind not in types:
            hint = suggest(kind, types) if isinstance(kind, str) else None
            more = f"; did you mean {hint!r}?" if hint else f" (one of {', '.join(types)})"
            ctx.problem((*path, "type"), f"unknown guidance type {describe(kind)}{more}")
        elif model is None:
            ctx.problem(
                (*path, "type"), "guidance needs a catalogue model to pick its preprocessor"
            )
        elif kind not in model.guidance:
            if model.family == "flux-kontext":
                other = "use context_images"
            elif model.guidance:
                other = f"it has {' and '.join(sorted(model.guidance))}"
            else:
                other = "it takes no image guidance"
            ctx.problem((*path, "type"), f"model {model.slug!r} has no {kind} guidance; {other}")
        else:
            preprocessor = model.guidance[kind]
        strength = entry.get("strength", "Mid")
        allowed = STRENGTHS if kind == "style-reference" else STRENGTHS[:3]
        if strength not in allowed:
            ctx.problem(
                (*path, "strength"),
                f"strength must be one of {', '.join(allowed)} for {kind}, "
                f"not {describe(strength)}",
            )
        weight = entry.get("weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 2
        ):
            ctx.problem(
                (*path, "weight"), f"weight must be a number in 0..2, not {describe(weight)}"
            )
        if "image" not in entry:
            ctx.problem(path, "a guidance entry needs an image: a path or 'upstream'")
            continue
        uses_upstream = uses_upstream or entry["image"] == "upstream"
        id_field = f"controlnets.{len(controlnets)}.initImageId"
        image_type = _reference(ctx, (*path, "image"), entry["image"], id_field)
        net: dict[str, Any] = {"initImageType": image_type, "preprocessorId": preprocessor}
        net["strengthType"] = strength
        if weight is not None:
            net["weight"] = weight
        controlnets.append(net)
    if entries and "guidance" in ctx.fields:
        ctx.body["controlnets"] = controlnets
    return uses_upstream


def _context_images(ctx: Ctx, model: Model | None) -> None:
    entries = ctx.names("context_images")
    if not entries:
        return
    if model is None or model.family != "flux-kontext":
        ctx.problem(("context_images",), "context_images need the model 'flux-kontext'")
        return
    images: list[dict[str, Any]] = []
    for entry, path in entries:
        image = entry.get("image") if isinstance(entry, Mapping) else entry
        image_path = (*path, "image") if isinstance(entry, Mapping) else path
        image_type = _reference(ctx, image_path, image, f"contextImages.{len(images)}.id")
        images.append({"type": image_type})
    ctx.body["contextImages"] = images


def _simple(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _preset_style(ctx: Ctx) -> None:
    """The portable ``styles`` on v1: one name, the model's ``presetStyle`` of that name."""
    entries = ctx.names("styles")
    if not entries:
        return
    if len(entries) > 1:
        ctx.problem(("styles",), "v1 image models take one style (their presetStyle)")
        return
    name, path = entries[0]
    if "presetStyle" in ctx.params:
        ctx.problem(path, "styles is also set by params.presetStyle; keep one")
        return
    by_simple = {_simple(p.name): p.name for p in catalog.preset_styles()}
    found = by_simple.get(_simple(name)) if isinstance(name, str) else None
    if found is None:
        hint = (
            suggest(name, [p.name for p in catalog.preset_styles()])
            if isinstance(name, str)
            else None
        )
        more = f"; did you mean {hint!r}?" if hint else ""
        ctx.problem(
            path, f"unknown style {describe(name)} for a v1 image model (a presetStyle){more}"
        )
        return
    ctx.body["presetStyle"] = found
    ctx.origin["presetStyle"] = path


def build_image(ctx: Ctx) -> Shape:
    """Fill ``ctx.body`` for ``POST /generations``."""
    model, has_model = _model(ctx)
    prompt = ctx.text("prompt", limit=1500)
    if prompt is None and ctx.get("prompt") is None:
        ctx.problem((), "an image stage needs a prompt")
    elif prompt is not None:
        ctx.body["prompt"] = prompt
    negative = ctx.text("negative_prompt", limit=1500)
    if negative is not None:
        ctx.body["negative_prompt"] = negative
    ctx.portable_ints()
    _preset_style(ctx)
    width, height, count = _sizes(ctx)
    _pipelines(ctx, model, has_model)
    elements(ctx, model, "elements", custom="modelId" in ctx.body and model is None)
    _image_source(ctx, model)
    return Shape(count, (width, height), model.slug if model else None, "jpg")


KINDS = {"image": (SPEC, build_image)}
