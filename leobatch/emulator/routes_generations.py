"""``/generations`` and the video creates that are polled there (api-facts sections 4 and 8)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from leobatch.catalog import find_model
from leobatch.emulator import pricing
from leobatch.emulator.http import ok, origin_of, read_body, state_of
from leobatch.emulator.jobs import admit, after_create, file_stem, new_id
from leobatch.emulator.records import Generation, Image
from leobatch.emulator.refusal import Refusal, bad_request
from leobatch.emulator.rules import (
    check_image_ids,
    check_image_values,
    check_path_id,
    check_video,
    image_ready,
    source_size,
)
from leobatch.emulator.state import EmulatorState, iso_now
from leobatch.emulator.views import generation_view
from leobatch.pricing.ratecard import calculator_problem

__all__ = ["BLOCKED_WORDS", "ROUTES", "check_prompt", "check_seed", "moderate"]

_VIDEO_SIZES = {"RESOLUTION_480": (832, 480), "RESOLUTION_720": (1280, 720),
                "RESOLUTION_1080": (1920, 1080)}  # fmt: skip
_MAX_PROMPT = 1500
#: The video models' largest seeds (api-facts 8.1); others take the API's general maximum.
_VIDEO_SEED_MAX = {"MOTION2": 2_147_483_637, "MOTION2FAST": 2_147_483_637,
                   "VEO3": 4_294_967_293, "VEO3FAST": 4_294_967_293}  # fmt: skip
#: Words the emulated moderation filter refuses (api-facts 2.2: 403 ``content moderation filter``,
#: whose sample word is ``naked``). Leonardo does not publish its list; this one covers the usual
#: nudity, sexual and gore vocabulary (and plural forms), matched as whole words in any case.
BLOCKED_WORDS = (
    "naked", "nude", "nudes", "nudity", "topless", "nsfw", "porn", "porno", "pornographic",
    "sex", "sexual", "sexy", "erotic", "explicit", "genitals", "hentai", "fetish", "gore",
    "gory", "dismembered", "decapitated", "mutilated",
)  # fmt: skip
_BLOCKED = re.compile(r"\b(" + "|".join(BLOCKED_WORDS) + r")\b", re.IGNORECASE)


def check_prompt(prompt: str, limit: int = _MAX_PROMPT) -> None:
    """Prompt length, then moderation: ``content moderation filter: <word>`` with 403."""
    if len(prompt) > limit:
        raise bad_request("Invalid prompt, maximum length of 1500 characters exceeded.")
    moderate(prompt)


def moderate(prompt: str) -> None:
    """The moderation filter: ``content moderation filter: <word>`` with 403 (v1 and v2)."""
    found = _BLOCKED.search(prompt)
    if found:
        raise Refusal(403, f"content moderation filter: {found.group(1).lower()}")


def check_seed(body: dict[str, Any], high: int) -> None:
    """A seed past the model's maximum (api-facts 4 and 8.1) is refused; the real message is
    not documented, the 400 envelope is the API's."""
    seed = body.get("seed")
    if isinstance(seed, int) and not 0 <= seed <= high:
        raise bad_request(f"seed must be between 0 and {high}")


def _check_image_body(state: EmulatorState, body: dict[str, Any]) -> None:
    check_prompt(body["prompt"])
    model = pricing.model_for(body.get("modelId"))
    flux = model is not None and model.family.startswith("flux")
    check_seed(body, 2_147_483_637 if flux else 9_999_999_998)
    width, height = body.get("width") or 1024, body.get("height") or 768
    for side in (width, height):
        if not (32 <= side <= 1536 and side % 8 == 0):
            raise bad_request("invalid dimensions")
    count = body.get("num_images") or 4
    if not 1 <= count <= (4 if max(width, height) > 768 else 8):
        raise bad_request("Too many images")
    check_image_ids(state, body, model)
    check_image_values(body, model)
    init_id = body.get("init_image_id")
    if init_id is not None and init_id not in state.uploads:
        raise bad_request("invalid init image id")
    generated = body.get("init_generation_image_id")
    if generated is not None and not image_ready(state, generated):
        raise bad_request("couldn't access image")
    # What the calculator would refuse (steps 10..60, photoReal without alchemy, ...) is
    # refused here too, so every accepted job has a calculator price: price == charge.
    problem = calculator_problem("IMAGE_GENERATION", pricing.image_calculator_params(body))
    if problem is not None:
        raise bad_request(problem)


def _seed(state: EmulatorState, body: dict[str, Any], job_id: str) -> int:
    seed = body.get("seed")
    return seed if isinstance(seed, int) else int(job_id[:8], 16) % 2_000_000_000


def _register(state: EmulatorState, generation: Generation) -> None:
    state.generations[generation.id] = generation
    state.listing.append(generation.id)


async def create_generation(request: Request) -> Response:
    """POST /generations: an image job of ``num_images`` pictures."""
    state, path = state_of(request), "/generations"
    body = await read_body(request, path)
    _check_image_body(state, body)
    now = state.now()
    credits = pricing.price(path, body)
    admission = admit(state, "image", credits, now)
    gen_id = new_id()
    model = pricing.model_for(body.get("modelId"))
    model_name = model.name if model else ("Custom model" if body.get("modelId") else "SD 1.5")
    sd_version = model.sd_version if model else body.get("sd_version", "v1_5")
    width, height = body.get("width") or 1024, body.get("height") or 768
    seed = _seed(state, body, gen_id)
    stem = file_stem(model_name, body["prompt"][:30])
    lines = (body["prompt"], f"model: {model_name}", f"seed: {seed}", f"{width}x{height}")
    ids = []
    for i in range(body.get("num_images") or 4):
        image_id = new_id()
        rel = f"users/{state.config.user_id}/generations/{gen_id}/{stem}_{i}.jpg"
        state.images[image_id] = Image(image_id, gen_id, i, "/cdn/" + rel, width, height)
        state.assets[rel] = admission.asset("jpeg", width, height, lines, f"{gen_id}:{i}")
        ids.append(image_id)
    _register(state, Generation(
        gen_id, "image", path, iso_now(), admission.timing, body, body.get("modelId"),
        model_name, sd_version, width, height, seed, tuple(ids), admission.amount,
    ))  # fmt: skip
    after_create(state, path, body, gen_id, admission, True)
    return ok({"sdGenerationJob": {"generationId": gen_id, **state.money.cost(admission.amount)}})


def _video_source(state: EmulatorState, body: dict[str, Any]) -> tuple[int, int] | None:
    image_id, image_type = body.get("imageId"), body.get("imageType")
    return None if image_id is None else source_size(state, image_id, image_type or "GENERATED")


async def _create_video(request: Request, path: str) -> Response:
    state = state_of(request)
    body = await read_body(request, path)
    check_prompt(body["prompt"])
    source = _video_source(state, body)
    model = body.get("model") or "MOTION2"
    # the default is the model's first resolution (the catalogue's order: MOTION2 480p, others 720p)
    found = find_model(model)
    resolution = body.get("resolution") or (found.resolutions[0] if found else "RESOLUTION_480")
    check_video(state, body, model, resolution)
    check_seed(body, _VIDEO_SEED_MAX.get(model, 9_999_999_998))
    width, height = _VIDEO_SIZES[resolution]
    if body.get("width") and body.get("height"):
        width, height = body["width"], body["height"]
    elif source is not None and source[0] < source[1]:
        width, height = height, width
    return _video_job(state, path, body, "video", model, width, height, "motionVideoGenerationJob")


def _video_job(
    state: EmulatorState, path: str, body: dict[str, Any], kind: Any, model: str,
    width: int, height: int, key: str, source: tuple[int, int] | None = None,
) -> Response:  # fmt: skip
    now = state.now()
    credits = pricing.price(path, body, source)
    admission = admit(state, kind, credits, now)
    gen_id, image_id = new_id(), new_id()
    seed = _seed(state, body, gen_id)
    stem = file_stem(model, str(body.get("prompt", "motion"))[:30])
    base = f"users/{state.config.user_id}/generations/{gen_id}/{stem}"
    lines = (str(body.get("prompt", "")), f"model: {model}", f"seed: {seed}")
    state.assets[base + ".jpg"] = admission.asset("jpeg", width, height, lines, gen_id)
    state.assets[base + "-0.mp4"] = admission.asset("mp4", width, height, (), gen_id)
    state.images[image_id] = Image(
        image_id, gen_id, 0, f"/cdn/{base}.jpg", width, height, f"/cdn/{base}-0.mp4"
    )
    _register(state, Generation(
        gen_id, kind, path, iso_now(), admission.timing, body, None, model, None,
        width, height, seed, (image_id,), admission.amount,
    ))  # fmt: skip
    after_create(state, path, body, gen_id, admission, True)
    return ok({key: {"generationId": gen_id, **state.money.cost(admission.amount)}})


async def create_text_to_video(request: Request) -> Response:
    """POST /generations-text-to-video."""
    return await _create_video(request, "/generations-text-to-video")


async def create_image_to_video(request: Request) -> Response:
    """POST /generations-image-to-video: a generated or uploaded start image."""
    return await _create_video(request, "/generations-image-to-video")


async def create_motion_svd(request: Request) -> Response:
    """POST /generations-motion-svd: an image id (generated, variation, init), not a generation."""
    state, path = state_of(request), "/generations-motion-svd"
    body = await read_body(request, path)
    image_id = body["imageId"]
    size: tuple[int, int] | None = None
    if image_id in state.generations:
        raise bad_request("Service Error")
    if body.get("isInitImage"):
        upload = state.uploads.get(image_id)
        if upload is None:
            raise bad_request("invalid init image id")
        size = upload[1], upload[2]
    elif body.get("isVariation"):
        variation = state.variations.get(image_id)
        if variation is None or variation.timing.status(state.now()) != "COMPLETE":
            raise bad_request("failed to find init variation")
        size = variation.width, variation.height
    elif image_ready(state, image_id):
        size = state.images[image_id].width, state.images[image_id].height
    else:
        raise bad_request("couldn't access image")
    width, height = size
    return _video_job(state, path, body, "motion-svd", "SVD", width, height,
                      "motionSvdGenerationJob", size)  # fmt: skip


async def get_generation(request: Request) -> Response:
    """GET /generations/{id}: ``generations_by_pk``, null for an unknown id."""
    state = state_of(request)
    check_path_id(request.path_params["id"])
    generation = state.generations.get(request.path_params["id"])
    if generation is None:
        return ok({"generations_by_pk": None})
    view = generation_view(state, generation, state.now(), origin_of(request))
    return ok({"generations_by_pk": view})


async def delete_generation(request: Request) -> Response:
    """DELETE /generations/{id}: gone from reads and listings (a running job still runs).

    The variations of its images (and video upscales of it) go with it: the API has no delete
    for a variation, and a generation's images own them (Hasura's cascade; inferred, the
    docs say nothing). Counted in the stats, so a test sees an id deleted twice.
    """
    state = state_of(request)
    gen_id = request.path_params["id"]
    check_path_id(gen_id)
    generation = state.generations.pop(gen_id, None)
    state.count_delete(gen_id, found=generation is not None)
    if generation is None:
        return ok({"delete_generations_by_pk": None})
    state.listing.remove(gen_id)
    for image_id in generation.image_ids:
        for variation_id in state.variations_by_image.pop(image_id, ()):
            state.variations.pop(variation_id, None)
    for motion_id, motion in list(state.motion_variations.items()):
        if motion.source_generation_id == gen_id:
            del state.motion_variations[motion_id]
    return ok({"delete_generations_by_pk": {"id": gen_id}})


async def list_generations(request: Request) -> Response:
    """GET /generations/user/{userId}?offset&limit: newest first, no page info."""
    state = state_of(request)
    check_path_id(request.path_params["userId"])
    try:
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 10))
    except ValueError as e:
        raise Refusal(400, "offset and limit must be integers", "validation-failed") from e
    if request.path_params["userId"] != state.config.user_id or offset < 0 or limit <= 0:
        return ok({"generations": []})
    listing, now, origin = state.listing, state.now(), origin_of(request)
    top = len(listing) - 1 - offset
    ids = [listing[i] for i in range(top, max(-1, top - limit), -1)]
    views = [generation_view(state, state.generations[g], now, origin) for g in ids]
    return ok({"generations": views})


ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("/generations", "POST", create_generation, "/generations"),
    ("/generations/user/{userId}", "GET", list_generations, None),
    ("/generations/{id}", "GET", get_generation, None),
    ("/generations/{id}", "DELETE", delete_generation, None),
    ("/generations-text-to-video", "POST", create_text_to_video, "/generations-text-to-video"),
    ("/generations-image-to-video", "POST", create_image_to_video, "/generations-image-to-video"),
    ("/generations-motion-svd", "POST", create_motion_svd, "/generations-motion-svd"),
]
