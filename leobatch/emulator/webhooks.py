"""The webhook sender: ``image_generation.complete`` per completed generation (api-facts 5)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx

from leobatch.emulator.state import EmulatorState, iso_now
from leobatch.emulator.views import request_fields

__all__ = ["payload", "send_webhooks"]


def payload(state: EmulatorState, generation_id: str, origin: str) -> dict[str, Any] | None:
    """The documented envelope: the raw generation row, with camelCase ``images``.

    v2 jobs get the same v1 envelope (no v2 payload is documented, api-v2-facts 1.7), with
    ``modelId`` null and their ``parameters`` read as the body.
    """
    g = state.generations.get(generation_id)
    if g is None:
        return None
    user_id = state.config.user_id
    images = []
    for image_id in g.image_ids:
        image = state.images[image_id]
        images.append({
            "id": image.id, "createdAt": g.created_at, "updatedAt": iso_now(), "userId": user_id,
            "url": origin + image.path, "generationId": g.id, "nobgId": None, "nsfw": False,
            "likeCount": 0, "trendingScore": 0, "public": False,
            "motionMP4URL": origin + image.mp4_path if image.mp4_path else None,
            "image_width": image.width, "image_height": image.height,
        })  # fmt: skip
    body = request_fields(g)
    sd = g.v2_model is None  # the SD-only columns are null on a v2 job, as on its v1 GET
    row = {
        "id": g.id, "createdAt": g.created_at, "updatedAt": iso_now(), "userId": user_id,
        "public": False, "flagged": False, "nsfw": False, "status": "COMPLETE",
        "coreModel": "SD" if sd else None,
        "guidanceScale": body.get("guidance_scale", 7) if sd else None,
        "imageHeight": g.height, "imageWidth": g.width,
        "inferenceSteps": body.get("num_inference_steps", 15) if sd else None,
        "modelId": g.model_id,
        "negativePrompt": body.get("negative_prompt", ""), "prompt": body.get("prompt", ""),
        "quantity": len(g.image_ids), "sdVersion": g.sd_version,
        "seed": body.get("seed") if g.v2_model else g.seed,
        "scheduler": body.get("scheduler", "EULER_DISCRETE") if sd else None,
        "presetStyle": body.get("presetStyle"),
        "alchemy": body.get("alchemy"), "photoReal": bool(body.get("photoReal")),
        "apiDollarCost": state.money.number(g.credits), "api": True, "generation_notes": [],
        "imageToVideo": g.endpoint == "/generations-image-to-video",
        "textToVideo": g.endpoint == "/generations-text-to-video",
        "images": images,
    }  # fmt: skip
    return {
        "type": "image_generation.complete",
        "object": "generation",
        "timestamp": int(time.time() * 1000),
        "api_version": "v1",
        "data": {"object": row},
    }


async def send_webhooks(state: EmulatorState, client: httpx.AsyncClient) -> None:
    """Forever: apply due completions and POST one webhook per completed generation."""
    config = state.config
    assert config.webhook_url is not None
    headers = {"accept": "application/json, text/plain, */*", "user-agent": "axios/1.4.0"}
    if config.webhook_key:
        headers["authorization"] = f"Bearer {config.webhook_key}"
    while True:
        now = state.now()
        state.advance(now)
        while state.webhook_queue:
            body = payload(state, state.webhook_queue.popleft(), state.origin or "")
            if body is None:
                continue
            try:
                await client.post(config.webhook_url, json=body, headers=headers)
                state.requests["webhooks sent"] += 1
            except httpx.HTTPError:
                state.requests["webhooks failed"] += 1  # no retries: upstream policy unknown
        due = state.next_due()
        await anyio.sleep(0.05 if due is None else min(0.05, max(0.001, due - now)))
