"""Price classes: job bodies mapped onto calculator requests per pricing-facts section 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leobatch.plan.jobs import Job
from leobatch.pricing.classes import PriceRequest, credits, price_body, price_request
from leobatch.request import BuiltRequest, build_request


def job(kind: str, fields: dict[str, Any], upstream: str | None = None,
        upstream_size: tuple[int, int] | None = None, key: str = "k") -> Job:  # fmt: skip
    """A job built by the real request builder."""
    built = build_request(
        kind, fields, upstream_kind=upstream, upstream_size=upstream_size, recipe_dir=Path()
    )
    assert isinstance(built, BuiltRequest), built
    return Job(
        key=key, stage="s", kind=kind,  # type: ignore[arg-type]
        endpoint=built.endpoint, body=built.body, inputs=built.inputs, outputs=built.outputs,
        size=built.size, input_size=built.input_size, model=built.model,
    )  # fmt: skip


def test_image_maps_to_image_generation() -> None:
    """Size, count, steps, alchemy, the model's flag and loraCount reach the calculator."""
    stage = {"model": "lightning-xl", "prompt": "p", "elements": ["Sparklecore", "Glasscore"],
             "params": {"width": 512, "height": 512, "num_inference_steps": 20}}  # fmt: skip
    request = price_request(job("image", stage))
    assert request is not None and request.service == "IMAGE_GENERATION"
    assert dict(request.params or {}) == {
        "imageWidth": 512, "imageHeight": 512, "numImages": 4, "inferenceSteps": 20,
        "alchemyMode": True, "isUltra": False, "loraCount": 2, "controlnetsCost": 0,
        "isSDXLLightning": True,
    }  # fmt: skip


def test_bare_request_is_a_four_image_alchemy_job() -> None:
    """Defaults 1024x768, 4 images, Alchemy, 15 steps; no model means no flag."""
    request = price_body("image", {"prompt": "p"})
    assert request is not None and request.params is not None
    assert (request.params["numImages"], request.params["alchemyMode"]) == (4, True)
    assert request.params["inferenceSteps"] == 15
    assert not any(k.startswith("is") and v for k, v in request.params.items())


@pytest.mark.parametrize(
    ("model_id", "flag"),
    [
        ("de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3", "isPhoenix"),
        ("b2614463-296c-462a-9586-aafdb8f00e36", "isFluxDev"),
        ("1dd50843-d653-4516-a8e3-f0238ee453ff", "isFluxSchnell"),
        ("28aeddf8-bd19-4803-80fc-79602d1a9989", "isFluxKontext"),
        ("1e60896f-3c26-4296-8ecc-53e2afecc132", "isSDXL"),
        ("7b592283-e8a7-4c5a-9ba6-d18c31f258b9", "isPhoenix"),
        ("11111111-2222-3333-4444-555555555555", "isModelCustom"),
    ],
)
def test_model_flags(model_id: str, flag: str) -> None:
    """Each model id sets its calculator flag; unknown UUIDs are custom models."""
    request = price_body("image", {"modelId": model_id, "prompt": "p"})
    assert request is not None and request.params is not None and request.params[flag] is True


def test_photoreal_ultra_prompt_magic() -> None:
    """PhotoReal, ultra and Prompt Magic flags are carried over."""
    body = {"photoReal": True, "photoRealStrength": 0.45, "promptMagic": True,
            "promptMagicVersion": "v3", "ultra": False, "highResolution": True}  # fmt: skip
    request = price_body("/generations", body)
    assert request is not None and request.params is not None
    assert request.params["photoRealMode"] is True and request.params["photoRealVersion"] == "v1"
    assert request.params["photoRealStrength"] == 0.45
    assert request.params["promptMagicVersion"] == "v3" and request.params["highResolution"]


def test_video_services() -> None:
    """Motion 2.0 (fast too) and Veo 3 map to their services; Kling has none."""
    for model, service in (("motion-2.0", "MOTION_VIDEO_GENERATION"),
                           ("motion-2.0-fast", "MOTION_VIDEO_GENERATION"),
                           ("veo3", "VEO3_MOTION_VIDEO_GENERATION"),
                           ("veo3-fast", "VEO3_MOTION_VIDEO_GENERATION")):  # fmt: skip
        request = price_request(job("text-to-video", {"model": model, "prompt": "p"}))
        assert request is not None and request.service == service
        assert request.params == {
            "resolution": "RESOLUTION_720" if "veo" in model else "RESOLUTION_480"
        }
    kling = price_request(job("text-to-video", {"model": "kling-2.5", "prompt": "p"}))
    assert kling is not None and (kling.service, credits(kling)) == (None, None)  # unknown
    assert price_request(job("video-upscale", {}, "text-to-video", (832, 480))) is None
    svd = price_request(job("motion-svd", {}, "image", (1024, 768)))
    assert svd is not None and (svd.service, svd.params) == ("MOTION_SVD_GENERATION", {})


def test_universal_upscaler_uses_output_megapixels_or_input_size() -> None:
    """Legacy: megapixels of the output; ultra: the input size and the multiplier."""
    legacy = price_request(
        job("universal-upscale", {"params": {"upscaleMultiplier": 2}}, "image", (1536, 1536))
    )
    assert legacy is not None and legacy.service == "UNIVERSAL_UPSCALER"
    assert legacy.params == {"megapixel": 10}  # 3072 x 3072 = 9.44 MP, rounded up
    assert credits(legacy) == 160
    ultra = price_request(
        job("universal-upscale", {"params": {"ultraUpscaleStyle": "ARTISTIC"}}, "nobg", (1024, 768))
    )
    assert ultra is not None and ultra.service == "UNIVERSAL_UPSCALER_ULTRA"
    assert ultra.params == {"inputWidth": 1024, "inputHeight": 768, "upscaleMultiplier": 1.5}
    assert price_body("universal-upscale", {"upscalerStyle": "GENERAL"}) is None


def test_fixed_kinds() -> None:
    """Upscale, unzoom, nobg and improve-prompt are fixed prices."""
    for kind, price in (("upscale", 15), ("unzoom", 15), ("nobg", 5)):
        request = price_request(job(kind, {}, "image", (1024, 768)))
        assert request is not None and request.fixed_kind == kind and request.service is None
        assert credits(request) == price
    improve = price_request(job("improve-prompt", {"prompt": "mug"}))
    assert improve is not None and credits(improve) == 4


def test_class_key_equal_for_equal_requests_only() -> None:
    """Prompts and seeds do not change the class; sizes do."""
    a = price_request(
        job("image", {"model": "flux-dev", "prompt": "a", "params": {"contrast": 3, "seed": 1}})
    )
    b = price_request(
        job("image", {"model": "flux-dev", "prompt": "b", "params": {"contrast": 3, "seed": 2}})
    )
    c = price_request(
        job("image", {"model": "flux-dev", "prompt": "b", "params": {"contrast": 3, "width": 512}})
    )
    assert a is not None and b is not None and c is not None
    assert a.class_key == b.class_key != c.class_key
    assert PriceRequest.of(a.service, a.params, None).class_key == a.class_key
