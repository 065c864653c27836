"""Post-processing variations and video upscale (api-facts sections 7 and 8.5)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from leobatch.emulator import pricing
from leobatch.emulator.http import ok, origin_of, read_body, state_of
from leobatch.emulator.jobs import admit, after_create, new_id, scaled_size
from leobatch.emulator.records import MotionVariation, Variation
from leobatch.emulator.refusal import bad_request
from leobatch.emulator.rules import check_path_id
from leobatch.emulator.state import EmulatorState, iso_now
from leobatch.emulator.views import motion_variation_view, variation_view

__all__ = ["ROUTES"]

_CANNOT = "couldn't access image"
_NO_VARIATION = "failed to find init variation"


def _complete(state: EmulatorState, timing: Any) -> bool:
    return bool(timing.status(state.now()) == "COMPLETE")


def _generated(state: EmulatorState, image_id: str) -> tuple[str, int, int] | None:
    """(root image id, width, height) of a completed generated image."""
    image = state.images.get(image_id)
    parent = state.generations.get(image.generation_id) if image else None
    if image is None or parent is None or not _complete(state, parent.timing):
        return None
    return image.id, image.width, image.height


def _variation(state: EmulatorState, variation_id: str) -> tuple[str | None, int, int] | None:
    variation = state.variations.get(variation_id)
    if variation is None or not _complete(state, variation.timing):
        return None
    return variation.root_image_id, variation.width, variation.height


def _source(state: EmulatorState, image_id: str | None, is_variation: bool) -> tuple[Any, int, int]:
    """Resolve a variation source the way the real API refuses wrong kinds of ids."""
    if image_id is None or image_id in state.init_images:
        raise bad_request(_CANNOT)
    if is_variation:
        found = _variation(state, image_id)
        if found is None:
            raise bad_request(_NO_VARIATION)
        return found
    generated = _generated(state, image_id)
    if generated is None:
        raise bad_request(_NO_VARIATION if image_id in state.variations else _CANNOT)
    return generated


def _variation_job(
    state: EmulatorState, path: str, body: dict[str, Any], transform: Any, family: str,
    source: tuple[Any, int, int], size: tuple[int, int], png: bool, key: str,
) -> Response:  # fmt: skip
    now = state.now()
    root, src_w, src_h = source
    credits = pricing.price(path, body, (src_w, src_h))
    admission = admit(state, family, credits, now)
    var_id = new_id()
    ext = "png" if png else "jpg"
    rel = f"users/{state.config.user_id}/variations/{var_id}/{transform.lower()}_{var_id}.{ext}"
    lines = (f"{transform} of {root or 'upload'}", f"{size[0]}x{size[1]}")
    state.assets[rel] = admission.asset("png" if png else "jpeg", *size, lines, var_id)
    state.variations[var_id] = Variation(
        var_id,
        transform,
        path,
        iso_now(),
        admission.timing,
        root,
        "/cdn/" + rel,
        *size,
        admission.amount,
        dict(body),
    )
    if root is not None:
        state.variations_by_image.setdefault(root, []).append(var_id)
    after_create(state, path, body, var_id, admission, False)
    return ok({key: {"id": var_id, **state.money.cost(admission.amount)}})


async def create_upscale(request: Request) -> Response:
    """POST /variations/upscale: a generated image, twice the size."""
    state, path = state_of(request), "/variations/upscale"
    body = await read_body(request, path)
    source = _source(state, body["id"], False)
    size = scaled_size(source[1], source[2], 2.0)
    return _variation_job(state, path, body, "UPSCALE", "variation", source, size, False,
                          "sdUpscaleJob")  # fmt: skip


async def create_unzoom(request: Request) -> Response:
    """POST /variations/unzoom: a generated image or variation, 1.5 times the canvas."""
    state, path = state_of(request), "/variations/unzoom"
    body = await read_body(request, path)
    source = _source(state, body.get("id"), bool(body.get("isVariation")))
    size = scaled_size(source[1], source[2], 1.5)
    return _variation_job(state, path, body, "UNZOOM", "variation", source, size, False,
                          "sdUnzoomJob")  # fmt: skip


async def create_nobg(request: Request) -> Response:
    """POST /variations/nobg: the same size, as a PNG with alpha."""
    state, path = state_of(request), "/variations/nobg"
    body = await read_body(request, path)
    source = _source(state, body["id"], bool(body.get("isVariation")))
    return _variation_job(state, path, body, "NOBG", "variation", source, source[1:], True,
                          "sdNobgJob")  # fmt: skip


async def create_universal_upscale(request: Request) -> Response:
    """POST /variations/universal-upscaler: exactly one source; uploads are allowed here."""
    state, path = state_of(request), "/variations/universal-upscaler"
    body = await read_body(request, path)
    given = [k for k in ("generatedImageId", "initImageId", "variationId") if body.get(k)]
    if len(given) != 1:
        raise bad_request("exactly one of generatedImageId, initImageId, variationId is required")
    # ultraUpscaleStyle wins over upscalerStyle: the SDK always sends upscalerStyle's default.
    multiplier = body.get("upscaleMultiplier") or 1.5
    if not 1.0 <= multiplier <= 2.0:
        raise bad_request("upscaleMultiplier must be between 1.0 and 2.0")
    source: tuple[Any, int, int] | None
    if given[0] == "initImageId":
        upload = state.uploads.get(body["initImageId"])
        source = None if upload is None else (None, upload[1], upload[2])
    elif given[0] == "variationId":
        source = _variation(state, body["variationId"])
    else:
        source = _generated(state, body["generatedImageId"])
    if source is None:
        raise bad_request(_CANNOT)
    size = scaled_size(source[1], source[2], multiplier)
    return _variation_job(state, path, body, "UPSCALE", "universal-upscale", source, size, False,
                          "universalUpscaler")  # fmt: skip


async def create_video_upscale(request: Request) -> Response:
    """POST /generations-video-upscale: a completed video, polled as a motion variation."""
    state, path = state_of(request), "/generations-video-upscale"
    body = await read_body(request, path)
    source_id = body["sourceGenerationId"]
    source = state.generations.get(source_id)
    if source is None or source.kind == "image" or not _complete(state, source.timing):
        raise bad_request("couldn't access generation")
    now = state.now()
    credits = pricing.price(path, body)
    admission = admit(state, "video-upscale", credits, now)
    var_id = new_id()
    rel = f"users/{state.config.user_id}/generations/{source_id}/upscale_{var_id}.mp4"
    state.assets[rel] = admission.asset("mp4", 1280, 720, (), var_id)
    state.motion_variations[var_id] = MotionVariation(
        var_id, source_id, iso_now(), admission.timing, "/cdn/" + rel, admission.amount
    )
    after_create(state, path, body, var_id, admission, False)
    job = {"generationId": source_id, "variationId": var_id, **state.money.cost(admission.amount)}
    return ok({"motionVideoGenerationJob": job})


async def get_variation(request: Request) -> Response:
    """GET /variations/{id}: an array under a singular key; empty for an unknown id."""
    state = state_of(request)
    check_path_id(request.path_params["id"])
    variation = state.variations.get(request.path_params["id"])
    rows = [] if variation is None else [variation_view(variation, state.now(), origin_of(request))]
    return ok({"generated_image_variation_generic": rows})


async def get_motion_variation(request: Request) -> Response:
    """GET /motion-variations/{id}: the video upscale's state."""
    state = state_of(request)
    check_path_id(request.path_params["id"])
    found = state.motion_variations.get(request.path_params["id"])
    rows = [] if found is None else [motion_variation_view(found, state.now(), origin_of(request))]
    return ok({"generated_image_variation_motion": rows})


ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("/variations/upscale", "POST", create_upscale, "/variations/upscale"),
    ("/variations/unzoom", "POST", create_unzoom, "/variations/unzoom"),
    ("/variations/nobg", "POST", create_nobg, "/variations/nobg"),
    ("/variations/universal-upscaler", "POST", create_universal_upscale,
     "/variations/universal-upscaler"),
    ("/variations/{id}", "GET", get_variation, None),
    ("/motion-variations/{id}", "GET", get_motion_variation, None),
    ("/generations-video-upscale", "POST", create_video_upscale, "/generations-video-upscale"),
]  # fmt: skip
