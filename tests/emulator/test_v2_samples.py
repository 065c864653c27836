"""The documented v2 request bodies (api-v2-facts 1.2, 1.3, 2.1, 2.2, 3.1, 3.2) are accepted
verbatim, and each documented refusal is refused, by the emulator over real HTTP.

Placeholders in the samples (``<uuid>``, ``<id>``) are replaced by real ids of this account;
``GENERATED`` ids are completed stills, ``UPLOADED`` ones real uploads, ``VARIATION`` a nobg.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import EmulatorHandle
from tests.emulator.support import (
    client,
    completed_image_id,
    png,
    root_client,
    v2_done,
    v2_errors,
    wait_done,
)

DYNAMIC = "111dc692-d470-4eec-b791-3475abac4c46"
STOCK_PHOTO = "5bdc3f2a-1be6-4d1c-8e77-992a30824a2c"
NONE_STYLE = "556c1ee5-ec38-42e8-955a-1e82dad0ffa1"
BOKEH = "9fdc5e8c-4d13-49b4-9ce6-5a74cbb19177"
CINEMATIC = "a5632c7c-ddbb-4e2f-ba34-8456ab3ac436"


def _ref(kind: str = "GENERATED", strength: str | None = "MID", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"image": {"id": f"<{kind}>", "type": kind}, **extra}
    if strength is not None:
        item["strength"] = strength
    return item


def _frame(kind: str = "GENERATED") -> list[dict[str, Any]]:
    return [{"image": {"id": f"<{kind}>", "type": kind}}]


#: (name, model, parameters): section 1.2's envelope, 1.3's guidances object, 3.1 and 3.2's
#: samples as printed, and one body per model table row built from its documented values.
SAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("1.2 envelope", "gemini-2.5-flash-image",
     {"prompt": "a lighthouse", "width": 1024, "height": 1024, "quantity": 1,
      "style_ids": [DYNAMIC], "prompt_enhance": "OFF"}),
    ("1.3 guidances", "gemini-image-2",
     {"prompt": "the same lighthouse at night",
      "guidances": {"image_reference": [
          {"image": {"id": "<GENERATED>", "type": "GENERATED"}, "strength": "MID"}]}}),
    ("3.1 pro upscaler precise", "aurora-upscaler-precise",
     {"width": 1264, "height": 848, "upscale_factor": 2, "upscale_mode": "clean",
      "guidances": {"image_reference": [{"image": {"id": "<GENERATED>", "type": "GENERATED"}}]}}),
    ("3.1 pro upscaler creative", "aurora-upscaler-creative",
     {"width": 1264, "height": 848, "upscale_factor": 4, "creativity": "mid",
      "guidances": {"image_reference": [{"image": {"id": "<VARIATION>", "type": "VARIATION"}}]}}),
    ("3.2 remove-bg", "remove-bg",
     {"size": "full", "type": "product", "format": "png", "channels": "rgba",
      "semitransparency": True, "shadow_type": "drop", "shadow_opacity": 40, "quantity": 1,
      "guidances": {"image_reference": [{"image": {"id": "<UPLOADED>", "type": "UPLOADED"}}]}}),
    ("nano banana pro", "gemini-image-2",
     {"prompt": "p", "width": 1376, "height": 768, "quantity": 2, "seed": 42,
      "prompt_enhance": "ON", "style_ids": [DYNAMIC],
      "guidances": {"image_reference": [_ref("GENERATED", "HIGH"), _ref("UPLOADED", "LOW")]}}),
    ("nano banana 2 21:9", "nano-banana-2",
     {"prompt": "p", "width": 1584, "height": 672, "quantity": 8, "style_ids": [DYNAMIC]}),
    ("nano banana 2 lite", "nano-banana-2-lite",
     {"prompt": "p", "width": 1024, "height": 1024, "prompt_enhance": "AUTO",
      "style_ids": [DYNAMIC]}),
    ("gpt image 1.5", "gpt-image-1.5",
     {"prompt": "p", "width": 1536, "height": 1024, "quantity": 8, "quality": "HIGH",
      "guidances": {"image_reference": [_ref("GENERATED", "LOW")] * 6}}),
    ("gpt image 2 custom", "gpt-image-2",
     {"prompt": "p", "width": 1920, "height": 1088, "quantity": 1, "quality": "MEDIUM",
      "guidances": {"image_reference": [_ref("UPLOADED", None)]}}),
    ("flux 2 pro", "flux-pro-2.0",
     {"prompt": "p", "width": 1440, "height": 810, "seed": 4294967295, "prompt_enhance": "ON",
      "guidances": {"image_reference": [_ref()] * 4}}),
    ("flux kontext pro", "flux-kontext-pro",
     {"prompt": "p", "width": 2048, "height": 32, "seed": 2147483637, "prompt_enhance": "AUTO",
      "style_ids": [DYNAMIC],
      "guidances": {"image_reference": [_ref("VARIATION", "MID", order=0), _ref("INIT")]}}),
    ("seedream 4.0", "seedream-4.0",
     {"prompt": "p", "width": 1024, "height": 1024, "quantity": 8, "seed": 1,
      "prompt_enhance": "OFF", "guidances": {"image_reference": [_ref()] * 6}}),
    ("seedream 4.5", "seedream-4.5",
     {"prompt": "p", "width": 1920, "height": 1080, "style_ids": [DYNAMIC]}),
    ("ideogram 3.0", "ideogram-v3.0",
     {"prompt": "p", "width": 1024, "height": 1024, "quality": "QUALITY", "seed": 3,
      "style_ids": [STOCK_PHOTO], "prompt_enhance": "OFF"}),
    ("recraft v4", "recraft-v4",
     {"prompt": "p", "width": 1216, "height": 896, "quantity": 6, "prompt_enhance": "OFF"}),
    ("recraft v4 pro", "recraft-v4-pro", {"prompt": "p", "width": 2432, "height": 1792}),
    ("lucid origin", "lucid-origin",
     {"prompt": "p", "width": 1200, "height": 1200, "quantity": 1, "mode": "ULTRA",
      "seed": 2147483647, "style_ids": [NONE_STYLE], "prompt_enhance": "OFF",
      "guidances": {"content": [_ref("UPLOADED", "HIGH")],
                    "style": [_ref("GENERATED", "MAX")]}}),
    ("lucid realism", "lucid-realism",
     {"prompt": "p", "width": 2496, "height": 1024, "quantity": 1, "style_ids": [BOKEH]}),
    ("phoenix 1.0", "phoenix-v1.0",
     {"prompt": "p", "width": 1024, "height": 1024, "quantity": 1, "mode": "QUALITY",
      "contrast": "HIGH", "negative_prompt": "blur", "style_ids": [CINEMATIC],
      "guidances": {"style": [_ref("GENERATED", "ULTRA")] * 4,
                    "character": [_ref("UPLOADED", "LOW")]}}),
    ("veo 3.1 start and end", "veo-3.1-generate-001",
     {"prompt": "p", "width": 1920, "height": 1080, "duration": 8, "negative_prompt": "rain",
      "seed": 4294967295, "motion_has_audio": False,
      "guidances": {"start_frame": _frame(), "end_frame": _frame("UPLOADED")}}),
    ("veo 3.1 lite", "veo-3.1-lite",
     {"prompt": "p", "width": 1280, "height": 720, "duration": 4, "mode": "RESOLUTION_720"}),
    ("kling 2.6", "kling-2.6",
     {"prompt": "p", "width": 1080, "height": 1920, "duration": 10,
      "guidances": {"start_frame": _frame()}}),
    ("kling 3.0 references", "kling-3.0",
     {"prompt": "p", "width": 960, "height": 960, "duration": 3, "mode": "RESOLUTION_720",
      "guidances": {"image_reference": [_ref()] * 7}}),
    ("kling 3.0 turbo auto size", "kling-3.0-turbo",
     {"prompt": "p", "width": 0, "height": 0, "duration": 15,
      "guidances": {"start_frame": _frame("VARIATION")}}),
    ("kling o1", "kling-video-o-1",
     {"prompt": "p", "width": 1440, "height": 1440, "duration": 10,
      "guidances": {"start_frame": _frame(), "end_frame": _frame()}}),
    ("seedance 1.0 pro 1080p", "seedance-1.0-pro",
     {"prompt": "p", "width": 1920, "height": 1088, "duration": 10, "mode": "RESOLUTION_1080"}),
    ("seedance 2.0", "seedance-2.0",
     {"prompt": "p", "width": 1280, "height": 720, "duration": 15, "mode": "RESOLUTION_720",
      "motion_has_audio": True, "guidances": {"image_reference": [_ref()] * 4}}),
    ("hailuo 2.3", "hailuo-2_3",
     {"prompt": "p", "width": 1920, "height": 1080, "duration": 6, "mode": "RESOLUTION_1080",
      "prompt_enhance": "OFF"}),
    ("hailuo 2.3 fast", "hailuo-2_3-fast",
     {"prompt": "p", "duration": 6, "guidances": {"start_frame": _frame()}}),
    ("ltx 2.3 pro", "ltxv-2.3-pro",
     {"prompt": "p", "width": 1920, "height": 1080, "duration": 10, "mode": "RESOLUTION_1080",
      "prompt_enhance": "OFF", "guidances": {"start_frame": _frame(), "end_frame": _frame()}}),
    ("ltx 2.3 fast 9:16", "ltxv-2.3-fast",
     {"prompt": "p", "width": 1080, "height": 1920, "duration": 20}),
    ("motion 2.0", "motion_2.0",
     {"prompt": "p", "width": 832, "height": 480, "frame_interpolation": True,
      "negative_prompt": "n", "seed": 4294967295, "prompt_enhance": "OFF",
      "guidances": {"start_frame": _frame("VARIATION")}}),
]  # fmt: skip


@dataclass(frozen=True)
class Ids:
    """Real ids of each kind in one emulator."""

    generated: str
    uploaded: str
    variation: str

    def fill(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``parameters`` with ``<KIND>`` placeholders replaced by real ids."""
        text = json.dumps(parameters)
        for kind, value in (("GENERATED", self.generated), ("GENERATION", self.generated),
                            ("UPLOADED", self.uploaded), ("INIT", self.uploaded),
                            ("VARIATION", self.variation)):  # fmt: skip
            text = text.replace(f'"<{kind}>"', json.dumps(value))
        filled: dict[str, Any] = json.loads(text)
        return filled


def _upload(v1: httpx.Client) -> str:
    step = v1.post("/init-image", json={"extension": "png"}).json()["uploadInitImage"]
    fields = json.loads(step["fields"])
    sent = httpx.post(step["url"], data=fields, files={"file": ("a.png", png(640, 480))})
    assert sent.status_code == 204
    return str(step["id"])


@pytest.fixture
def ids(emulator: EmulatorHandle) -> Iterator[Ids]:
    """A generated still (1024x1024), an upload (640x480) and a completed nobg variation."""
    with client(emulator) as v1:
        still = completed_image_id(v1, width=1024, height=1024)
        variation = v1.post("/variations/nobg", json={"id": still}).json()["sdNobgJob"]["id"]
        done = wait_done(v1, f"/variations/{variation}", "generated_image_variation_generic")
        assert done["status"] == "COMPLETE"
        yield Ids(still, _upload(v1), variation)


@pytest.mark.parametrize(("name", "model", "parameters"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_documented_sample_is_accepted(
    emulator: EmulatorHandle, ids: Ids, name: str, model: str, parameters: dict[str, Any]
) -> None:
    """Accepted verbatim (HTTP 200, a generationId) and renders to COMPLETE."""
    with root_client(emulator) as http:
        body = {"model": model, "public": False, "parameters": ids.fill(parameters)}
        created = http.post("/v2/generations", json=body)
        assert created.status_code == 200, created.text
        job = created.json()["generate"]
        assert job["cost"]["unit"] == "CREDITS" and int(job["cost"]["amount"]) > 0
        assert v2_done(http, job["generationId"])["status"] == "COMPLETE"


def _sample(name: str) -> tuple[str, dict[str, Any]]:
    found = next(s for s in SAMPLES if s[0] == name)
    return found[1], copy.deepcopy(found[2])


def _refusal(model: str, parameters: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(parameters)
    for key, value in change.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return {"model": model, "parameters": out}


_GEN = {"image": {"id": "<GENERATED>", "type": "GENERATED"}}
#: (name, body, the path and a word of the one problem expected)
REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("gpt image 1.5 mode", _refusal(*_sample("gpt image 1.5"), {"mode": "QUALITY"}),
     "parameters.mode", "2026-05-04"),
    ("ideogram 3.0 mode", _refusal(*_sample("ideogram 3.0"), {"mode": "QUALITY"}),
     "parameters.mode", "mode"),
    ("end frame without start frame",
     _refusal(*_sample("veo 3.1 start and end"),
              {"guidances": {"end_frame": [_GEN]}}), "parameters.guidances", "start_frame"),
    ("too many references",
     _refusal(*_sample("nano banana pro"),
              {"guidances": {"image_reference": [_GEN] * 7}}),
     "parameters.guidances.image_reference", "6"),
    ("wrong image type", _refusal(*_sample("gpt image 2 custom"), {"guidances": {
        "image_reference": [{"image": {"id": "<VARIATION>", "type": "VARIATION"}}]}}),
     "parameters.guidances.image_reference.0.image.type", "VARIATION"),
    ("unknown parameter", _refusal(*_sample("seedream 4.5"), {"num_images": 2}),
     "parameters.num_images", "num_images"),
    ("quantity above max", _refusal(*_sample("recraft v4"), {"quantity": 7}),
     "parameters.quantity", "7"),
    ("video quantity", _refusal(*_sample("kling 2.6"), {"quantity": 2}),
     "parameters.quantity", "2"),
    ("wrong duration kling 2.6", _refusal(*_sample("kling 2.6"), {"duration": 8}),
     "parameters.duration", "8"),
    ("wrong duration veo 3.1", _refusal(*_sample("veo 3.1 lite"), {"duration": 5}),
     "parameters.duration", "5"),
    ("unlisted recraft size", _refusal(*_sample("recraft v4"), {"width": 1000}),
     "parameters.width", "1000"),
    ("style of another set", _refusal(*_sample("ideogram 3.0"), {"style_ids": [BOKEH]}),
     "parameters.style_ids", BOKEH),
    ("prompt missing", _refusal(*_sample("seedream 4.5"), {"prompt": None}),
     "parameters.prompt", "prompt"),
    ("upscale factor 7", _refusal(*_sample("3.1 pro upscaler precise"), {"upscale_factor": 7}),
     "parameters.upscale_factor", "7"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "path", "word"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_documented_refusal(
    emulator: EmulatorHandle, ids: Ids, name: str, body: dict[str, Any], path: str, word: str
) -> None:
    """Refused with HTTP 400 and one GraphQL error at the documented spot; nothing created."""
    before = emulator.stats()["jobs_created"]
    with root_client(emulator) as http:
        body = {**body, "parameters": ids.fill(body["parameters"])}
        refused = http.post("/v2/generations", json=body)
    assert refused.status_code == 400, refused.text
    messages = v2_errors(refused)
    assert any(m.startswith(path) and word in m for m in messages), messages
    assert emulator.stats()["jobs_created"] == before


def test_envelope_and_id_refusals(emulator: EmulatorHandle, ids: Ids) -> None:
    """Unknown envelope fields, a non-boolean public, unknown models and ids that do not exist
    or are of the wrong kind: each refused where it is, all problems of a body at once."""
    before = emulator.stats()["jobs_created"]
    with root_client(emulator) as http:

        def errors(body: Any) -> list[str]:
            response = http.post("/v2/generations", json=body)
            assert response.status_code == 400, response.text
            return v2_errors(response)

        model, params = _sample("gpt image 2 custom")
        params = ids.fill(params)
        assert errors({"model": model, "parameters": params, "ephemeral": True,
                       "public": "no"}) == [
            "ephemeral: Unexpected variable ephemeral",
            "public: expected a boolean for type 'Boolean'",
        ]  # fmt: skip
        assert errors({"model": "nano-banana-pro", "parameters": params})[0].startswith(
            "model: nano-banana-pro is not supported"  # a leobatch alias is no wire string
        )
        refs = {"image_reference": [
            {"image": {"id": ids.uploaded, "type": "GENERATED"}},  # an upload called generated
            {"image": {"id": ids.generated, "type": "UPLOADED"}},  # a still called an upload
            {"image": {"id": "5b0e7f0a-0000-4000-8000-000000000000", "type": "GENERATED"}},
        ]}  # fmt: skip
        at = "parameters.guidances.image_reference"
        assert errors({"model": model, "parameters": {**params, "guidances": refs}}) == [
            f"{at}.0.image.id: couldn't access image",
            f"{at}.1.image.id: invalid init image id",
            f"{at}.2.image.id: couldn't access image",
        ]
        upscale_model, upscale = _sample("3.1 pro upscaler creative")
        upscale["guidances"]["image_reference"][0]["image"]["id"] = ids.generated
        assert errors({"model": upscale_model, "parameters": upscale}) == [
            f"{at}.0.image.id: failed to find init variation"
        ]
        moderated = http.post("/v2/generations", json={"model": model, "parameters": {
            **params, "prompt": "a nude statue"}})  # fmt: skip
        assert moderated.status_code == 403
        assert v2_errors(moderated) == ["content moderation filter: nude"]
    assert emulator.stats()["jobs_created"] == before


def test_nano_banana_2_unlisted_pair_is_squared(emulator: EmulatorHandle) -> None:
    """NB2 accepts a listed width with a listed height that are no listed pair, and renders
    square (api-v2-facts 1.8) -- leobatch refuses the same pair at plan time."""
    from leobatch.catalog import find_model, v2

    model = find_model("nano-banana-2")
    assert model is not None
    parameters = {"prompt": "p", "width": 1376, "height": 1200, "quantity": 1}
    assert v2.check_parameters(model, parameters)  # plan time: refused
    with root_client(emulator) as http:
        created = http.post("/v2/generations", json={"model": "nano-banana-2",
                                                      "parameters": parameters})  # fmt: skip
        assert created.status_code == 200, created.text
        done = v2_done(http, created.json()["generate"]["generationId"])
        assert (done["imageWidth"], done["imageHeight"]) == (1024, 1024)
        picture = Image.open(io.BytesIO(http.get(done["generated_images"][0]["url"]).content))
        assert picture.size == (1024, 1024)
        unlisted = {**parameters, "width": 1000}  # not a listed width at all: refused
        refused = http.post("/v2/generations", json={"model": "nano-banana-2",
                                                      "parameters": unlisted})  # fmt: skip
        assert refused.status_code == 400
