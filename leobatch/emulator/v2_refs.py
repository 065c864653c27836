"""The ids a v2 ``parameters`` object references: they must exist, be of their declared type,
and be ready (api-v2-facts 1.3, 4).

``check_parameters`` (the catalogue's rules) has already checked each reference's *shape*: the
slot, the count, the ``type`` enum of the model. Here the emulator checks what only the account
knows, with the API's documented words (api-v2-facts 1.8):

====================  ===================================================  ========================
``type``              must be                                              else
====================  ===================================================  ========================
GENERATED, GENERATION a completed generated image of this account (in a    ``couldn't access
                      ``video`` slot: a generated video's item id)         image``
UPLOADED, INIT        an uploaded init image (``POST /init-image`` + S3)   ``invalid init image id``
VARIATION             a completed variation (upscale, unzoom, nobg, ...)   ``failed to find init
                                                                           variation``
URL                   an ``http(s)://`` URL in ``image.url`` (not          ``couldn't access image``
                      fetched: its size is ``image.width``/``height`` or
                      1024x1024)
BASE64                raw base64 image bytes in ``image.data`` (no         ``couldn't access image``
                      ``data:`` prefix) that decode as a picture
====================  ===================================================  ========================

``GENERATION`` and ``INIT`` (the older names on FLUX.1 Kontext, Veo 3.1 Lite, Seedance 2.0,
Kling 3.0 Turbo) are read as GENERATED and UPLOADED: their documentation does not say more.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage

from leobatch.emulator.refusal import GraphQLRefusal
from leobatch.emulator.rules import image_ready
from leobatch.emulator.state import EmulatorState

__all__ = ["Reference", "check_references"]

_URL_DEFAULT = (1024, 1024)
_TOP_LEVEL = ("start_frame", "end_frame")  # the flat form some pages show (LTX 2.0, Hailuo)


@dataclass(frozen=True, slots=True)
class Reference:
    """One resolved reference: its slot, its item kind (image/video/audio), its pixel size."""

    slot: str
    item: str
    width: int
    height: int


def _walk(parameters: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Mapping[str, Any]]]:
    """(slot, item, dotted path, reference object) for every reference in ``parameters``."""
    guidances = parameters.get("guidances")
    if isinstance(guidances, Mapping):
        for slot, entries in guidances.items():
            items = entries if isinstance(entries, list) else [entries]
            for i, entry in enumerate(items):
                if not isinstance(entry, Mapping):
                    continue
                at = f"parameters.guidances.{slot}" + (f".{i}" if isinstance(entries, list) else "")
                found = False
                for item in ("image", "video", "audio"):
                    ref = entry.get(item)
                    if isinstance(ref, Mapping):
                        found = True
                        yield slot, item, f"{at}.{item}", ref
                if not found and "type" in entry:  # the flat {id, type} form
                    yield slot, "image", at, entry
    for slot in _TOP_LEVEL:
        ref = parameters.get(slot)
        if isinstance(ref, Mapping) and "type" in ref:
            yield slot, "image", f"parameters.{slot}", ref


def _decoded_size(data: object) -> tuple[int, int] | None:
    if not isinstance(data, str) or data.startswith("data:"):
        return None
    try:
        raw = base64.b64decode(data, validate=True)
        with PILImage.open(io.BytesIO(raw)) as picture:
            picture.load()
            return int(picture.size[0]), int(picture.size[1])
    except (binascii.Error, ValueError, OSError, SyntaxError, PILImage.DecompressionBombError):
        return None


def _generated(state: EmulatorState, ref_id: object, item: str) -> tuple[int, int] | None:
    if not isinstance(ref_id, str) or not image_ready(state, ref_id):
        return None
    image = state.images[ref_id]
    if (image.mp4_path is not None) != (item == "video"):
        return None  # a still in a video slot, or a video where a picture is expected
    return image.width, image.height


def _resolve(state: EmulatorState, item: str, ref: Mapping[str, Any]) -> tuple[int, int] | str:
    """The referenced media's size, or the refusal's message."""
    kind, ref_id = ref.get("type"), ref.get("id")
    if kind in ("GENERATED", "GENERATION"):
        size = _generated(state, ref_id, item)
        return size if size is not None else f"couldn't access {item}"
    if kind in ("UPLOADED", "INIT"):
        upload = state.uploads.get(ref_id) if isinstance(ref_id, str) else None
        return (upload[1], upload[2]) if upload is not None else "invalid init image id"
    if kind == "VARIATION":
        variation = state.variations.get(ref_id) if isinstance(ref_id, str) else None
        if variation is None or variation.timing.status(state.now()) != "COMPLETE":
            return "failed to find init variation"
        return variation.width, variation.height
    if kind == "URL":
        url = ref.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return f"couldn't access {item}"
        width, height = ref.get("width"), ref.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            return width, height
        return _URL_DEFAULT
    if kind == "BASE64":
        size = _decoded_size(ref.get("data"))
        return size if size is not None else f"couldn't access {item}"
    return f"unknown reference type {kind!r}"


def check_references(state: EmulatorState, parameters: Mapping[str, Any]) -> list[Reference]:
    """Every reference, resolved in order; refuses all the unusable ones at once (400)."""
    found: list[Reference] = []
    problems: list[tuple[str, str]] = []
    for slot, item, path, ref in _walk(parameters):
        resolved = _resolve(state, item, ref)
        if isinstance(resolved, str):
            problems.append((path + ".id", resolved))
        else:
            found.append(Reference(slot, item, *resolved))
    if problems:
        raise GraphQLRefusal(400, problems)
    return found
