"""Video stages: text-to-video, image-to-video, motion-svd and video-upscale."""

from __future__ import annotations

from leobatch import catalog
from leobatch.catalog import Model, suggest
from leobatch.request import Shape
from leobatch.request._context import (
    IMAGE_KINDS,
    VARIATION_KINDS,
    VIDEO_KINDS,
    Ctx,
    Spec,
    describe,
)
from leobatch.request._elements import motion
from leobatch.request._seeds import check_seed

__all__ = ["KINDS"]

#: resolution -> (width, height) of the video when the request gives no width and height
FRAME = {
    "RESOLUTION_480": (832, 480),
    "RESOLUTION_720": (1280, 720),
    "RESOLUTION_1080": (1920, 1080),
}
#: model family -> allowed durations in seconds (api-facts section 8)
DURATIONS = {"veo3": (4, 6, 8), "kling-2.5": (5, 10)}
_UPSTREAM = "'from' (an upstream image) or the stage key 'image' (a local file)"

#: the portable stage keys v1 video bodies have (no ``num_images``: one video per job)
_PORTABLE = ("width", "height", "seed")

_T2V = Spec(
    endpoint="/generations-text-to-video",
    keys=frozenset({"model", "prompt", "negative_prompt", "styles", "motion", *_PORTABLE}),
    aliases={
        "model": "model",
        "prompt": "prompt",
        "negativePrompt": "negative_prompt",
        **{name: name for name in _PORTABLE},
    },
    managed={"elements": "motion"},
)
_I2V = Spec(
    endpoint="/generations-image-to-video",
    keys=_T2V.keys | {"image"},
    aliases=_T2V.aliases,
    runtime={"imageId": _UPSTREAM, "endFrameImage": "nothing: end frames are not supported"},
    managed=_T2V.managed,
)
_SVD = Spec(
    endpoint="/generations-motion-svd",
    keys=frozenset({"image"}),
    runtime={"imageId": _UPSTREAM},
)
_UPSCALE = Spec(
    endpoint="/generations-video-upscale",
    keys=frozenset(),
    runtime={"sourceGenerationId": "'from' (an upstream video stage)"},
)


def _model(ctx: Ctx) -> Model | None:
    found = ctx.get("model")
    if found is None:
        model = catalog.find_model("MOTION2")
        assert model is not None
    else:
        value, path = found
        model = catalog.find_model(value) if isinstance(value, str) else None
        if model is None or model.kind != "video":
            videos = [m for m in catalog.models() if m.kind == "video"]
            hint = None
            if isinstance(value, str):
                hint = suggest(value, [m.slug for m in videos]) or suggest(
                    value, [m.id for m in videos]
                )
            more = f"; did you mean {hint!r}?" if hint else ""
            ctx.problem(path, f"unknown video model {describe(value)}{more}")
            return None
    ctx.body["model"] = model.id
    return model


def _styles(ctx: Ctx) -> None:
    entries = ctx.names("styles")
    if not entries:
        return
    ids: list[str] = []
    seen: dict[str, str] = {}
    for name, path in entries:
        style = catalog.find_video_style(name) if isinstance(name, str) else None
        if style is None:
            choices = [s.name for s in catalog.video_styles()]
            hint = suggest(name, choices) if isinstance(name, str) else None
            if isinstance(name, str) and catalog.find_motion_control(name):
                more = "; it is a motion control: use the stage key 'motion'"
            else:
                more = f"; did you mean {hint!r}?" if hint else ""
            ctx.problem(path, f"unknown video style {describe(name)}{more}")
            continue
        if style.category in seen:
            ctx.problem(
                path,
                f"at most one {style.category} style; {seen[style.category]!r} is already given",
            )
        seen[style.category] = style.name
        ids.append(style.id)
    ctx.body["styleIds"] = ids


def _video(ctx: Ctx, image: bool) -> Shape:
    model = _model(ctx)
    prompt = ctx.text("prompt", limit=1500)
    if prompt is None and ctx.get("prompt") is None:
        ctx.problem((), f"a {ctx.kind} stage needs a prompt")
    elif prompt is not None:
        ctx.body["prompt"] = prompt
    negative = ctx.text("negative_prompt", limit=1500)
    if negative is not None:
        ctx.body["negativePrompt"] = negative
    ctx.portable_ints(_PORTABLE)
    _styles(ctx)
    motion(ctx, model)
    if image:
        _image_input(ctx)
    check_seed(ctx, model)
    if model is None:
        return Shape(1, None, None, "mp4")
    resolution = ctx.body.setdefault("resolution", model.resolutions[0])
    if resolution not in model.resolutions:
        ctx.problem(
            ("params", "resolution"),
            f"model {model.slug!r} supports resolution {' or '.join(model.resolutions)} only,"
            f" not {resolution}",
        )
    durations = DURATIONS.get(model.family if model.family == "veo3" else model.slug)
    duration = ctx.body.get("duration")
    if duration is not None and durations is not None and duration not in durations:
        ctx.problem(
            ("params", "duration"),
            f"duration of {model.slug!r} must be one of {', '.join(map(str, durations))}",
        )
    width, height = ctx.body.get("width"), ctx.body.get("height")
    size = (width, height) if width and height else FRAME.get(resolution)
    return Shape(1, size, model.slug, "mp4")


def _image_input(ctx: Ctx) -> None:
    local = ctx.get("image")
    if local is not None and ctx.upstream_kind is not None:
        ctx.problem(local[1], "'image' and 'from' both give the input image; keep one")
    elif local is not None:
        found = ctx.file_input("imageId", local[1], local[0])
        ctx.body["imageType"] = "UPLOADED"
        ctx.input_size = found.size if found is not None else None
    elif ctx.upstream_kind in VARIATION_KINDS:
        # imageType is GENERATED or UPLOADED: a variation's id is neither, and the API answers
        # "couldn't access image" only once the job is sent.
        ctx.problem(
            ("from",),
            f"{ctx.kind} takes a generated image or a local file, not a variation "
            f"({ctx.upstream_kind!r} yields one): take 'from' an image stage",
        )
    elif ctx.upstream_kind in IMAGE_KINDS:
        ctx.upstream_input("imageId")
        ctx.body["imageType"] = "GENERATED"
    elif ctx.upstream_kind is not None:
        ctx.problem((), f"{ctx.kind} needs an image, and {ctx.upstream_kind!r} yields none")
    else:
        ctx.problem((), f"{ctx.kind} needs an input image: {_UPSTREAM}")


def build_text_to_video(ctx: Ctx) -> Shape:
    """Fill ``ctx.body`` for ``POST /generations-text-to-video``."""
    return _video(ctx, image=False)


def build_image_to_video(ctx: Ctx) -> Shape:
    """Fill ``ctx.body`` for ``POST /generations-image-to-video``."""
    return _video(ctx, image=True)


def build_motion_svd(ctx: Ctx) -> Shape:
    """Fill ``ctx.body`` for ``POST /generations-motion-svd``."""
    local = ctx.get("image")
    if local is not None and ctx.upstream_kind is not None:
        ctx.problem(local[1], "'image' and 'from' both give the input image; keep one")
    elif local is not None:
        found = ctx.file_input("imageId", local[1], local[0])
        ctx.body["isInitImage"] = True
        ctx.input_size = found.size if found is not None else None
    elif ctx.upstream_kind in IMAGE_KINDS:
        ctx.upstream_input("imageId")
        if ctx.upstream_kind in VARIATION_KINDS:
            ctx.body["isVariation"] = True
    elif ctx.upstream_kind is not None:
        ctx.problem((), f"motion-svd needs an image, and {ctx.upstream_kind!r} yields none")
    else:
        ctx.problem((), f"motion-svd needs an input image: {_UPSTREAM}")
    return Shape(1, ctx.input_size, None, "mp4")


def build_video_upscale(ctx: Ctx) -> Shape:
    """Fill ``ctx.body`` for ``POST /generations-video-upscale``."""
    if ctx.upstream_kind in VIDEO_KINDS:
        ctx.upstream_input("sourceGenerationId")
    else:
        what = f"{ctx.upstream_kind!r} yields none" if ctx.upstream_kind else "none is given"
        ctx.problem((), f"video-upscale needs 'from' naming a video stage; {what}")
    ctx.body.setdefault("resolution", "RESOLUTION_720")
    return Shape(1, FRAME["RESOLUTION_720"], None, "mp4")


KINDS = {
    "text-to-video": (_T2V, build_text_to_video),
    "image-to-video": (_I2V, build_image_to_video),
    "motion-svd": (_SVD, build_motion_svd),
    "video-upscale": (_UPSCALE, build_video_upscale),
}
