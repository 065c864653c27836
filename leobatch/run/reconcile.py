"""Finding a job the server created although the client was told it failed.

The API has no idempotency key. After an ambiguous create (timeout, reset, 5xx) or at start-up for
a job journaled *submitting*, leobatch looks for the job before it dares to resubmit (DESIGN §6):
generations in ``GET /generations/user/{userId}`` (newest first), variations under their parent
generation's images. A candidate must match the request and must not already belong to another
job of this run (``taken``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from leobatch.api.client import Generation, LeonardoClient
from leobatch.plan.jobs import Job

__all__ = ["find_generation", "find_variation", "generation_matches"]

#: How far the server's createdAt may precede our clock's idea of when we sent the request.
CLOCK_SKEW_S = 30.0
#: How many listing pages (of 50) to read before declaring the job absent.
MAX_PAGES = 6

TRANSFORMS: Mapping[str, frozenset[str]] = {
    "nobg": frozenset({"NOBG"}),
    "upscale": frozenset({"UPSCALE"}),
    "unzoom": frozenset({"UNZOOM"}),
    "universal-upscale": frozenset({"UNIVERSAL_UPSCALER", "UNIVERSAL_UPSCALE", "UPSCALE"}),
}


def _epoch_s(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def generation_matches(gen: Generation, job: Job, body: Mapping[str, Any]) -> bool:
    """Whether ``gen`` is what ``body`` would have created (prompt, model, seed, size)."""
    prompt = body.get("prompt")
    if isinstance(prompt, str) and (gen.prompt or "") != prompt:
        return False
    if job.kind == "image":
        raw = gen.raw
        for wire, shown in (
            ("presetStyle", "presetStyle"),
            ("negative_prompt", "negativePrompt"),
            ("guidance_scale", "guidanceScale"),
            ("num_inference_steps", "inferenceSteps"),
        ):
            if wire in body and raw.get(shown) is not None and raw.get(shown) != body[wire]:
                return False
        if "modelId" in body and gen.model_id is not None and gen.model_id != body["modelId"]:
            return False
        if "seed" in body and gen.seed is not None and int(gen.seed) != int(body["seed"]):
            return False
        for field, value in (("width", gen.width), ("height", gen.height)):
            if field in body and value is not None and int(value) != int(body[field]):
                return False
    return True


async def find_generation(
    client: LeonardoClient,
    user_id: str,
    job: Job,
    body: Mapping[str, Any],
    sent_at_s: float,
    taken: Collection[str],
) -> Generation | None:
    """The generation the server made for ``body`` sent at ``sent_at_s`` (epoch), if any.

    Reads the user's generations newest first and stops at the first one older than the request.
    """
    oldest_allowed = sent_at_s - CLOCK_SKEW_S
    limit = 50
    for page_no in range(MAX_PAGES):
        page = await client.list_generations(user_id, offset=page_no * limit, limit=limit)
        for gen in page:
            created = _epoch_s(gen.created_at)
            if created is not None and created < oldest_allowed:
                return None
            if gen.id not in taken and generation_matches(gen, job, body):
                return gen
        if len(page) < limit:
            return None
    return None


async def find_variation(
    client: LeonardoClient,
    parent_generation_id: str,
    job: Job,
    body: Mapping[str, Any],
    taken: Collection[str],
) -> str | None:
    """The id of a variation of the parent generation that ``body`` would have created, if any."""
    gen = await client.get_generation(parent_generation_id)
    if gen is None:
        return None
    source = body.get("id") or body.get("generatedImageId") or body.get("variationId")
    transforms = TRANSFORMS.get(job.kind, frozenset())
    for image in gen.images:
        related = image.id == source or any(v.id == source for v in image.variations)
        if not related:
            continue
        for var in image.variations:
            if var.id in taken or var.id == source:
                continue
            if var.transform_type is None or var.transform_type.upper() in transforms:
                return var.id
    return None
