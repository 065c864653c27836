"""Helpers for the emulator's tests: polling and a few request bodies."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
from PIL import Image

from tests.conftest import EmulatorHandle


def client(handle: EmulatorHandle, **kwargs: Any) -> httpx.Client:
    """An httpx client with the handle's bearer key."""
    return httpx.Client(base_url=handle.base_url, headers=handle.headers, **kwargs)


def wait_done(http: httpx.Client, path: str, key: str, timeout_s: float = 5.0) -> Any:
    """Poll ``path`` until the row under ``key`` leaves PENDING; return the row."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = http.get(path).json()[key]
        row = found[0] if isinstance(found, list) else found
        if row["status"] != "PENDING" or time.monotonic() > deadline:
            return row
        time.sleep(0.01)


def create_image(http: httpx.Client, **body: Any) -> str:
    """Create a small image generation and return its id."""
    body = {"prompt": "a ceramic mug", "width": 512, "height": 512, "num_images": 1, **body}
    response = http.post("/generations", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["sdGenerationJob"]["generationId"])


def completed_image_id(http: httpx.Client, **body: Any) -> str:
    """A generated image id whose generation has completed."""
    gen_id = create_image(http, **body)
    done = wait_done(http, f"/generations/{gen_id}", "generations_by_pk")
    assert done["status"] == "COMPLETE"
    return str(done["generated_images"][0]["id"])


def png(width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    """A small PNG file."""
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def root_client(handle: EmulatorHandle, **kwargs: Any) -> httpx.Client:
    """An httpx client on the API root (``.../api/rest``): paths ``/v2/...`` and ``/v1/...``."""
    root = handle.base_url.removesuffix("/v1")
    return httpx.Client(base_url=root, headers=handle.headers, **kwargs)


def create_v2(http: httpx.Client, model: str, parameters: dict[str, Any], **envelope: Any) -> str:
    """``POST /v2/generations`` (on a ``root_client``); the new generation's id."""
    body = {"model": model, "public": False, "parameters": parameters, **envelope}
    response = http.post("/v2/generations", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["generate"]["generationId"])


def v2_done(http: httpx.Client, generation_id: str, timeout_s: float = 10.0) -> Any:
    """A v2 job read through the v1 GET (on a ``root_client``) once it left PENDING."""
    return wait_done(http, f"/v1/generations/{generation_id}", "generations_by_pk", timeout_s)


def v2_errors(response: httpx.Response) -> list[str]:
    """The messages of a refused v2 create's GraphQL error array."""
    body = response.json()
    assert isinstance(body, list), body
    return [str(error["message"]) for error in body]
