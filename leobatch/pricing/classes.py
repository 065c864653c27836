"""Price classes: each job as the pricing-calculator request that prices it (pricing-facts §2).

Jobs whose requests are equal (same ``class_key``) cost the same, so a plan is priced with one
calculator call (or one rate-card look-up) per class, not per job.

The mapping from a wire body to calculator params lives here, and only here: the offline rate
card, the online calculator client and the emulator's charge on create all use it, so a plan
priced offline equals what the emulator charges.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leobatch import catalog
from leobatch.api.wire import ENDPOINT_BY_KIND
from leobatch.plan.jobs import Job
from leobatch.pricing.ratecard import FIXED_CREDITS, calculator_cost

__all__ = ["PriceRequest", "credits", "price_body", "price_request"]

#: endpoint path -> job kind, so the emulator can price a body by the path it arrived on
_KIND_BY_PATH = {endpoint.path: kind for kind, endpoint in ENDPOINT_BY_KIND.items()}


@dataclass(frozen=True, slots=True)
class PriceRequest:
    """How a job is priced: a calculator ``service`` and its params, or a fixed-price kind.

    ``class_key`` is the canonical JSON of the three others: equal keys, equal prices.
    """

    service: str | None
    params: Mapping[str, Any] | None
    fixed_kind: str | None
    class_key: str

    @classmethod
    def of(
        cls, service: str | None, params: Mapping[str, Any] | None, fixed_kind: str | None
    ) -> PriceRequest:
        """A request with its ``class_key`` computed (memoised: plans repeat a few classes)."""
        items = tuple(sorted(params.items())) if params is not None else None
        memo_key = (service, items, fixed_kind)
        try:
            return _MEMO[memo_key]
        except (KeyError, TypeError):  # TypeError: an unhashable param value; no memo
            pass
        key = json.dumps(
            {"service": service, "params": params, "fixed": fixed_kind},
            sort_keys=True,
            separators=(",", ":"),
        )
        made = cls(service, params, fixed_kind, key)
        with contextlib.suppress(TypeError):
            if len(_MEMO) < 10_000:
                _MEMO[memo_key] = made
        return made


_MEMO: dict[tuple[Any, ...], PriceRequest] = {}


def price_request(job: Job) -> PriceRequest | None:
    """The request that prices ``job``; ``None`` when there is no way to price it."""
    if job.endpoint == V2_PATH:
        return price_body(V2_PATH, job.body)
    return price_body(job.kind, job.body, input_size=job.input_size, size=job.size)


#: The v2 create endpoint (its jobs keep their v1 kind: image, text-to-video, ...)
V2_PATH = "/v2/generations"
#: v2 parameters that do not change what a job costs (v2-contract section 5)
_V2_FREE = frozenset({"prompt", "negative_prompt", "seed", "style_ids"})


def v2_class(body: Mapping[str, Any]) -> dict[str, Any]:
    """The price class of a v2 body: its model and every parameter except the prompts, the
    seed, the style ids and the ids of references (their slots, counts and types are kept:
    GPT Image charges more with a reference). Such a class has no calculator service; it is
    priced by a published rate or the price book (``leobatch.pricing.learned``)."""
    parameters = body.get("parameters")
    params = parameters if isinstance(parameters, Mapping) else {}
    kept: dict[str, Any] = {k: v for k, v in params.items() if k not in _V2_FREE}
    guidances = kept.pop("guidances", None)
    if isinstance(guidances, Mapping):
        kept["guidances"] = {
            slot: [_reference_shape(ref) for ref in refs]
            if isinstance(refs, (list, tuple))
            else _reference_shape(refs)
            for slot, refs in guidances.items()
        }
    return {"v2": body.get("model"), **kept}


def _reference_shape(ref: Any) -> Any:
    """A reference without its id (or url, or data): what kind of thing it is, and how used."""
    if not isinstance(ref, Mapping):
        return None
    shape: dict[str, Any] = {}
    for key, value in ref.items():
        if isinstance(value, Mapping):  # {"image": {"id", "type"}} / {"video": {...}}
            shape[key] = {"type": value.get("type")}
        elif key not in ("id", "url", "data"):
            shape[key] = value
    return shape


def price_body(
    kind: str,
    body: Mapping[str, Any],
    *,
    input_size: tuple[int, int] | None = None,
    size: tuple[int, int] | None = None,
) -> PriceRequest | None:
    """The price request of a wire ``body`` for a job ``kind`` (or its endpoint path).

    ``input_size`` is the consumed image's size (universal upscaler); ``size`` the output's,
    when known (else derived from ``input_size`` and ``upscaleMultiplier``).
    Fields that do not affect the price (run-time ids, prompts) are ignored.
    """
    if kind == V2_PATH:
        return PriceRequest.of(None, v2_class(body), None)
    kind = _KIND_BY_PATH.get(kind, kind)
    if kind in FIXED_CREDITS:
        return PriceRequest.of(None, None, kind)
    if kind == "image":
        return PriceRequest.of("IMAGE_GENERATION", _image(body), None)
    if kind in ("text-to-video", "image-to-video"):
        return _video(kind, body)
    if kind == "motion-svd":
        return PriceRequest.of("MOTION_SVD_GENERATION", {}, None)
    if kind == "universal-upscale":
        return _upscaler(body, input_size, size)
    return None


def credits(request: PriceRequest) -> int | None:
    """The rate card's credits for ``request`` (``None`` when it has no number)."""
    if request.fixed_kind is not None:
        return FIXED_CREDITS.get(request.fixed_kind)
    if request.service is None or request.params is None:
        return None
    return calculator_cost(request.service, request.params)


def _image(body: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "imageWidth": body.get("width", 1024),
        "imageHeight": body.get("height", 768),
        "numImages": body.get("num_images", 4),
        "inferenceSteps": body.get("num_inference_steps", 15),
        "alchemyMode": bool(body.get("alchemy", True)),
        "isUltra": bool(body.get("ultra", False)),
        "loraCount": len(body.get("elements") or ()) + len(body.get("userElements") or ()),
        "controlnetsCost": 0,
    }
    if body.get("highResolution"):
        params["highResolution"] = True
    if body.get("photoReal"):
        params["photoRealMode"] = True
        params["photoRealVersion"] = body.get("photoRealVersion", "v1")
        if "photoRealStrength" in body:
            params["photoRealStrength"] = body["photoRealStrength"]
    if body.get("promptMagic"):
        params["promptMagic"] = True
        for name in ("promptMagicVersion", "promptMagicStrength"):
            if name in body:
                params[name] = body[name]
    model_id = body.get("modelId")
    if isinstance(model_id, str):
        model = catalog.find_model(model_id)
        if model is None:
            params["isModelCustom"] = True
        elif model.calculator_flag is not None:
            params[model.calculator_flag] = True
    return params


def _video(kind: str, body: Mapping[str, Any]) -> PriceRequest:
    model = body.get("model", "MOTION2")
    if model in ("MOTION2", "MOTION2FAST"):
        resolution = body.get("resolution", "RESOLUTION_480")
        return PriceRequest.of("MOTION_VIDEO_GENERATION", {"resolution": resolution}, None)
    if model in ("VEO3", "VEO3FAST"):
        resolution = body.get("resolution", "RESOLUTION_720")
        return PriceRequest.of("VEO3_MOTION_VIDEO_GENERATION", {"resolution": resolution}, None)
    # Kling: no calculator representation (pricing-facts §2). A class without a service, so
    # the price book can learn it: the model, duration and resolution decide what it costs.
    params = {
        "kind": kind,
        "model": model,
        "duration": body.get("duration"),
        "resolution": body.get("resolution"),
    }
    return PriceRequest.of(None, params, None)


def _upscaler(
    body: Mapping[str, Any],
    input_size: tuple[int, int] | None,
    size: tuple[int, int] | None,
) -> PriceRequest | None:
    multiplier = body.get("upscaleMultiplier", 1.5)
    if "ultraUpscaleStyle" in body:
        if input_size is None:
            return None
        params = {
            "inputWidth": input_size[0],
            "inputHeight": input_size[1],
            "upscaleMultiplier": multiplier,
        }
        return PriceRequest.of("UNIVERSAL_UPSCALER_ULTRA", params, None)
    if size is None and input_size is not None:
        size = (round(input_size[0] * multiplier), round(input_size[1] * multiplier))
    if size is None:
        return None
    # the upscaler caps its output at 20 MP, and so does the price (as the emulator charges)
    megapixel = min(20, max(1, math.ceil(size[0] * size[1] / 1_000_000)))
    return PriceRequest.of("UNIVERSAL_UPSCALER", {"megapixel": megapixel}, None)
