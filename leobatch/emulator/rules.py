"""Business rules applied once a body has parsed: referenced ids must exist, values in range.

Every refusal here is a 400 with code ``unexpected`` (a Leonardo handler error, api-facts 2.1),
raised before anything is created or charged. Where api-facts gives the real message it is used
(``invalid dimensions``, ``invalid init image id``, ``couldn't access image``, the unsupported
model message); the others are UNCONFIRMED and worded by the emulator in the same style:

================================  ===========================================================
refusal                           message (UNCONFIRMED unless api-facts quotes it)
================================  ===========================================================
unknown ``modelId``               ``<id> is not supported within the Production API. ...``
unknown element ``akUUID``        ``element not found: <akUUID>``
``imagePrompts`` not an upload    ``invalid init image id`` (api-facts 4.1: init-image ids)
unknown ``styleUUID``             ``style not found: <id>``
unknown ``styleIds`` entry        ``style not found: <id>``
``canvasInitId``/``canvasMaskId`` ``canvas init image not found: <id>`` (the emulator serves no
                                  ``/canvas-init-image``, so none exists)
non-UUID path id                  ``invalid input syntax for type uuid: "<id>"``, code
                                  ``data-exception`` (Postgres via Hasura, api-facts 2.2 [INF])
================================  ===========================================================
"""

from __future__ import annotations

import re
from typing import Any

from leobatch import catalog
from leobatch.catalog import Model
from leobatch.emulator.refusal import Refusal, bad_request
from leobatch.emulator.state import EmulatorState

__all__ = [
    "CONTRASTS",
    "STYLE_UUIDS",
    "check_image_ids",
    "check_image_values",
    "check_path_id",
    "check_video",
    "image_ready",
    "source_size",
]

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: The contrast values ``/generations`` accepts (OpenAPI description; api-facts 4.1).
CONTRASTS = (1.0, 1.3, 1.8, 2.5, 3, 3.5, 4, 4.5)
#: The image style UUIDs Leonardo documents (api-v2-facts 2.1, sets A-D), for ``styleUUID``.
_STYLE_UUIDS_TEXT = """
093accc3-7633-4ffd-82da-d34000dfc0d6 09d2b5b5-d7c5-4c02-905d-9f84051640f4
0d34f8e1-46d4-428f-8ddd-4b11811fa7c9 0d914779-c822-430a-b976-30075033f1c4
111dc692-d470-4eec-b791-3475abac4c46 1db308ce-c7ad-4d10-96fd-592fa6b75cc4
1fbb6a68-9319-44d2-8d56-2957ca0ece6a 22a9a7d2-2166-4d86-80ff-22e2643adbcf
2e74ec31-f3a4-4825-b08b-2894f6d13941 30c1d34f-e3a9-479a-b56f-c018bbc9c02a
335e6010-a75c-45d9-afc5-032c65e9180e 33abbb99-03b9-4dd7-9761-ee98650b2c88
3cbb655a-7ca4-463f-b697-8a03ad67327c 4edb03c9-8a26-4041-9d01-f85b5d4abd71
556c1ee5-ec38-42e8-955a-1e82dad0ffa1 581ba6d6-5aac-4492-bebe-54c424a0d46e
594c4a08-a522-4e0e-b7ff-e4dac4b6b622 5bdc3f2a-1be6-4d1c-8e77-992a30824a2c
6105baa2-851b-446e-9db5-08a671a8c42f 621e1c9a-6319-4bee-a12d-ae40659162fa
62736842-6e4b-4028-b79a-4f1a1606e893 645e4195-f63d-4715-a3f2-3fb1e6eb8c70
6fedbf1f-4a17-45ec-84fb-92fe524a29ef 703d6fe5-7f1c-4a9e-8da0-5331f214d5cf
7c3f932b-a572-47cb-9b9b-f20211e63b5b 7d7c2bc5-4b12-4ac3-81a9-630057e9e89f
85da2dcc-c373-464c-9a7a-5624359be859 8e2bc543-6ee2-45f9-bcd9-594b6ce84dcd
97c20e5c-1af6-4d42-b227-54d03d8f0727 9fdc5e8c-4d13-49b4-9ce6-5a74cbb19177
a2f7ea66-959b-4bbe-b508-6133238b76b6 a5632c7c-ddbb-4e2f-ba34-8456ab3ac436
ab5a4220-7c42-41e5-a578-eddb9fed3d75 b504f83c-3326-4947-82e1-7fe9e839ec0f
be8c6b58-739c-4d44-b9c1-b032ed308b61 cadc8cd6-7838-4c99-b645-df76be8ba8d8
cc53f935-884c-40a0-b7eb-1f5c42821fb5 d574325d-1278-4fe2-974b-768525f253c3
debdf72a-91a4-467b-bf61-cc02bdeb69c6 dee282d3-891f-4f73-ba02-7f8131e5541b
"""
STYLE_UUIDS = frozenset(_STYLE_UUIDS_TEXT.split())
#: Video model -> allowed ``duration`` seconds. VEO3: api-facts 8.1; Kling: api-facts 8.2 gives
#: 5 or 10 for KLING2_5, and the emulator applies the same to KLING2_1 (UNCONFIRMED). Motion
#: 2.0 has no documented durations, so its ``duration`` is not checked.
DURATIONS = {"VEO3": (4, 6, 8), "VEO3FAST": (4, 6, 8), "KLING2_1": (5, 10), "KLING2_5": (5, 10)}
#: Motion 2.0's width x height pairs per resolution (api-facts 8.1, api-v2-facts 2.2); other
#: models take their resolution's frame either way round (UNCONFIRMED).
_MOTION2_SIZES = {
    "RESOLUTION_480": {(832, 480), (480, 832), (512, 768), (576, 720)},
    "RESOLUTION_720": {(1280, 720), (720, 1280)},
}
_FRAMES = {"RESOLUTION_480": (832, 480), "RESOLUTION_720": (1280, 720),
           "RESOLUTION_1080": (1920, 1080)}  # fmt: skip


def check_path_id(value: str) -> None:
    """A path id that is not a UUID fails in Postgres before any lookup (any version nibble
    passes: real ids are not all v4, api-facts 2.2)."""
    if not UUID.match(value):
        raise Refusal(400, f'invalid input syntax for type uuid: "{value}"', "data-exception")


def image_ready(state: EmulatorState, image_id: str) -> bool:
    """Whether ``image_id`` is a generated image whose generation has completed."""
    image = state.images.get(image_id)
    if image is None:
        return False
    parent = state.generations.get(image.generation_id)
    return parent is not None and parent.timing.status(state.now()) == "COMPLETE"


def source_size(state: EmulatorState, image_id: str, image_type: str) -> tuple[int, int]:
    """The size of an uploaded or generated input image, refused as the API refuses it."""
    if image_type == "UPLOADED":
        upload = state.uploads.get(image_id)
        if upload is None:
            raise bad_request("invalid init image id")
        return upload[1], upload[2]
    if not image_ready(state, image_id):
        raise bad_request("couldn't access image")
    image = state.images[image_id]
    return image.width, image.height


def _element_ids(body: dict[str, Any]) -> list[str]:
    return [entry["akUUID"] for entry in body.get("elements") or ()]


def check_image_ids(state: EmulatorState, body: dict[str, Any], model: Model | None) -> None:
    """Every id a ``/generations`` body references exists (and is of the right kind)."""
    model_id = body.get("modelId")
    custom = {m.casefold() for m in state.config.custom_models}
    known = model is not None and model.kind == "image" and model.surface == "v1"
    if model_id is not None and not known and model_id.casefold() not in custom:
        raise bad_request(
            f"{model_id} is not supported within the Production API. "
            "Please try again with a different model ID."
        )
    own = {e.casefold() for e in state.config.custom_elements}
    for ak_uuid in _element_ids(body):
        element = catalog.find_element(ak_uuid)
        found = element is not None and element.id.casefold() == ak_uuid.casefold()
        if not found and ak_uuid.casefold() not in own:
            raise bad_request(f"element not found: {ak_uuid}")
    for image_id in body.get("imagePrompts") or ():
        if image_id not in state.uploads:
            raise bad_request("invalid init image id")
    style = body.get("styleUUID")
    if style is not None and style.lower() not in STYLE_UUIDS:
        raise bad_request(f"style not found: {style}")
    for name in ("canvasInitId", "canvasMaskId"):
        if body.get(name) is not None:
            raise bad_request(f"canvas init image not found: {body[name]}")
    for net in body.get("controlnets") or ():
        source_size(state, net["initImageId"], net["initImageType"])
    for context in body.get("contextImages") or ():
        source_size(state, context["id"], context["type"])


def check_image_values(body: dict[str, Any], model: Model | None) -> None:
    """Ranges of ``/generations`` values (OpenAPI descriptions; api-facts 4.1)."""
    contrast = body.get("contrast")
    alchemy = body.get("alchemy") is not False  # the API's default is alchemy on
    if contrast is None and model is not None and model.contrast_required:
        raise bad_request(f"contrast is required for {model.name}")
    if contrast is not None and contrast not in CONTRASTS:
        raise bad_request(f"contrast must be one of {', '.join(map(str, CONTRASTS))}")
    minimum = model.alchemy_min_contrast if model is not None else None
    if contrast is not None and minimum is not None and alchemy and contrast < minimum:
        assert model is not None
        raise bad_request(f"contrast must be {minimum} or higher for {model.name} with alchemy")
    for name, low, high in (("guidance_scale", 1, 20), ("init_strength", 0.1, 0.9)):
        value = body.get(name)
        if value is not None and not low <= value <= high:
            raise bad_request(f"{name} must be between {low} and {high}")


def check_video(state: EmulatorState, body: dict[str, Any], model: str, resolution: str) -> None:
    """Per-model video rules: resolution, duration, size, elements, styles, end frame."""
    found = catalog.find_model(model)
    allowed = found.resolutions if found is not None else ()
    if resolution not in allowed:
        raise bad_request(f"{model} supports only {', '.join(allowed)}")
    duration = body.get("duration")
    durations = DURATIONS.get(model)
    if duration is not None and durations is not None and duration not in durations:
        raise bad_request(f"duration must be one of {', '.join(map(str, durations))} for {model}")
    width, height = body.get("width"), body.get("height")
    if width is not None or height is not None:
        frame = _FRAMES[resolution]
        sizes = _MOTION2_SIZES.get(resolution, set()) if model.startswith("MOTION2") else set()
        sizes = sizes or {frame, frame[::-1]}
        if (width, height) not in sizes:
            raise bad_request("invalid dimensions")
    ids = _element_ids(body)
    if ids and not model.startswith("MOTION2"):
        raise bad_request("elements are only supported for MOTION2 and MOTION2FAST")
    for ak_uuid in ids:
        # motion controls are elements on the wire (api-facts 11.2)
        known = catalog.find_motion_control(ak_uuid) or catalog.find_element(ak_uuid)
        if known is None or known.id.casefold() != ak_uuid.casefold():
            raise bad_request(f"element not found: {ak_uuid}")
    for style_id in body.get("styleIds") or ():
        style = catalog.find_video_style(style_id)
        if style is None or style.id.casefold() != style_id.casefold():
            raise bad_request(f"style not found: {style_id}")
    end = body.get("endFrameImage")
    if end is not None:
        if model != "KLING2_1":
            raise bad_request("endFrameImage is only supported for KLING2_1")
        source_size(state, end["id"], end["type"])
