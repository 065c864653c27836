"""The JSON shapes of api-facts sections 4-9, built from the emulator's records."""

from __future__ import annotations

from typing import Any

from leobatch.api.wire import SD_VERSIONS
from leobatch.catalog import find_element
from leobatch.emulator.records import Generation, MotionVariation, Variation
from leobatch.emulator.state import EmulatorState

__all__ = ["generation_view", "motion_variation_view", "number", "request_fields", "variation_view"]


def number(value: float) -> int:
    """An element weight as the wire types it: SDK 7.0.0 declares the weight columns ``int``.

    The catalogue keeps fractional defaults (0.7, 0.8) for planning; on the wire they are
    rounded, because the official SDK refuses a fractional value there.
    """
    return round(value)


def variation_view(v: Variation, now: float, origin: str, created: bool = True) -> dict[str, Any]:
    """One ``generated_image_variation_generic`` row."""
    status = v.timing.status(now)
    row: dict[str, Any] = {"id": v.id, "status": status, "transformType": v.transform}
    if created:
        row["createdAt"] = v.created_at
    row["url"] = origin + v.path if status == "COMPLETE" else None
    return row


def motion_variation_view(m: MotionVariation, now: float, origin: str) -> dict[str, Any]:
    """One ``generated_image_variation_motion`` row (video upscale)."""
    status = m.timing.status(now)
    return {
        "id": m.id,
        "createdAt": m.created_at,
        "status": status,
        "motionTransformType": "UPSCALE",
        "resolution": "RESOLUTION_720",
        "url": origin + m.path if status == "COMPLETE" else None,
    }


def _elements(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for i, given in enumerate(body.get("elements") or (), start=1):
        ak = given.get("akUUID")
        element = find_element(ak) if isinstance(ak, str) else None
        lora: dict[str, Any] = {"akUUID": ak, "name": None, "description": None, "urlImage": None}
        if element is not None:
            lora.update(name=element.name, description=f"{element.name} element")
            if element.base_model in SD_VERSIONS:
                lora["baseModel"] = element.base_model
            lora.update(
                weightDefault=number(element.weight_default),
                weightMin=number(element.weight_min),
                weightMax=number(element.weight_max),
            )
        weight = given.get("weight")
        rows.append({"id": i, "weightApplied": 1.0 if weight is None else weight, "lora": lora})
    return rows


def request_fields(g: Generation) -> dict[str, Any]:
    """The request's fields as one flat mapping: a v1 body as sent; a v2 envelope's
    ``parameters`` with the envelope's ``public``."""
    if g.v2_model is None:
        return g.body
    parameters = g.body.get("parameters")
    flat = dict(parameters) if isinstance(parameters, dict) else {}
    flat["public"] = bool(g.body.get("public", False))
    return flat


def generation_view(state: EmulatorState, g: Generation, now: float, origin: str) -> dict[str, Any]:
    """One ``generations_by_pk`` object; ``generated_images`` stays empty until COMPLETE.

    A v2 job reads like a v1 one (api-v2-facts 1.5, 4) with what its row can carry:
    ``modelId`` null and the v2 model string nowhere (not in ``motionModel`` either), the
    prompt, ``seed`` only when the request gave one, the size, ``createdAt`` and status; the
    SD-only fields (steps, guidance scale, scheduler, sdVersion) are null.
    """
    status = g.timing.status(now)
    body = request_fields(g)
    v2 = g.v2_model is not None
    images = []
    if status == "COMPLETE":
        for image_id in g.image_ids:
            image = state.images[image_id]
            video = image.mp4_path is not None
            variations = state.variations_by_image.get(image_id, ())
            images.append(
                {
                    "id": image.id,
                    "url": origin + image.path,
                    "nsfw": False,
                    "likeCount": 0,
                    "fantasyAvatar": None,
                    "motion": video or None,
                    "motionModel": g.model_name if video and not v2 else None,
                    "motionStrength": body.get("motionStrength") if video else None,
                    "imageToVideo": _image_to_video(g, body) if video else None,
                    "motionMP4URL": origin + image.mp4_path if image.mp4_path else None,
                    "generated_image_variation_generics": [
                        variation_view(state.variations[v], now, origin, created=False)
                        for v in variations
                    ],
                }
            )
    image_kind = g.kind == "image" and not v2
    return {
        "id": g.id,
        "createdAt": g.created_at,
        "status": status,
        "prompt": body.get("prompt", ""),
        "negativePrompt": body.get("negative_prompt", body.get("negativePrompt")),
        "modelId": g.model_id,
        "imageWidth": g.width,
        "imageHeight": g.height,
        "inferenceSteps": body.get("num_inference_steps", 15) if image_kind else None,
        "guidanceScale": body.get("guidance_scale", 7) if image_kind else None,
        "seed": body.get("seed") if v2 else g.seed,
        "scheduler": body.get("scheduler", "EULER_DISCRETE") if image_kind else None,
        "sdVersion": g.sd_version if g.sd_version in SD_VERSIONS else None,
        "presetStyle": body.get("presetStyle"),
        "initStrength": body.get("init_strength"),
        "public": bool(body.get("public", body.get("isPublic", False))),
        "photoReal": bool(body.get("photoReal", False)),
        "photoRealStrength": body.get("photoRealStrength"),
        "promptMagic": bool(body.get("promptMagic", False)),
        "promptMagicStrength": body.get("promptMagicStrength"),
        "promptMagicVersion": body.get("promptMagicVersion"),
        "ultra": bool(body.get("ultra", False)),
        "generated_images": images,
        "generation_elements": _elements(body) if image_kind else [],
    }


def _image_to_video(g: Generation, body: dict[str, Any]) -> bool:
    if g.v2_model is None:
        return g.endpoint == "/generations-image-to-video"
    guidances = body.get("guidances")
    return isinstance(guidances, dict) and bool(guidances.get("start_frame"))
