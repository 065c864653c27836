"""Every catalogued v2 model on the emulator: current ones render, retired ones are refused."""

from __future__ import annotations

import datetime
import io
import uuid
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from leobatch import catalog
from leobatch.catalog import Model, v2
from tests.conftest import EmulatorHandle
from tests.emulator.support import (
    client,
    completed_image_id,
    create_v2,
    root_client,
    v2_done,
    v2_errors,
)

TODAY = datetime.date(2026, 12, 1)
CURRENT = [m for m in catalog.v2_models() if catalog.lifecycle(m, TODAY).state != "retired"]
RETIRED = [m for m in catalog.v2_models() if catalog.lifecycle(m, TODAY).state == "retired"]


def _with_real_ids(parameters: dict[str, Any], image_id: str) -> dict[str, Any]:
    """The example parameters with every placeholder reference pointing at ``image_id``."""
    guidances = parameters.get("guidances")
    if isinstance(guidances, dict):
        parameters["guidances"] = {
            slot: [{"image": {"id": image_id, "type": "GENERATED"}} for _ in entries]
            for slot, entries in guidances.items()
        }
    return parameters


def _download(http: httpx.Client, url: str) -> bytes:
    response = http.get(url)
    assert response.status_code == 200, url
    return response.content


def _mp4_seconds(data: bytes) -> tuple[float, tuple[int, int]]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames / float(stream.average_rate or 12), (stream.width, stream.height)


def test_catalogue_split() -> None:
    """The test covers the catalogue: current and retired models, retired ones named by facts."""
    assert len(CURRENT) > 60
    assert {"veo-3.0-generate-001", "sora-2", "seedance-1.0-lite"} <= {m.id for m in RETIRED}


@pytest.mark.parametrize("model", CURRENT, ids=lambda m: m.id)
def test_current_model_renders(emulator: EmulatorHandle, model: Model) -> None:
    """Its example parameters are accepted; the job reads through v1 GET with files of the
    requested kind, count, size and (videos) length."""
    with root_client(emulator) as http, client(emulator) as v1:
        source = completed_image_id(v1, width=512, height=512)
        parameters = _with_real_ids(v2.example_parameters(model), source)
        done = v2_done(http, create_v2(http, model.id, parameters))
        assert done["status"] == "COMPLETE" and done["modelId"] is None
        images = done["generated_images"]
        assert len(images) == (parameters.get("quantity") or 1)
        size = v2.media_size(model, parameters)
        if size is None:  # the reference's size, or (no reference) a listed pair
            refs = "guidances" in parameters
            assert model.rules is not None
            size = (512, 512) if refs else (done["imageWidth"], done["imageHeight"])
            assert refs or size in model.rules.sizes.pairs
        assert (done["imageWidth"], done["imageHeight"]) == size
        if model.kind == "video":
            seconds, _ = _mp4_seconds(_download(http, images[0]["motionMP4URL"]))
            assert seconds == v2.duration(model, parameters)
            return
        assert all(image["motionMP4URL"] is None for image in images)
        picture = Image.open(io.BytesIO(_download(http, images[-1]["url"])))
        assert (picture.format, picture.size) == ("PNG", size)
        assert picture.mode == ("RGBA" if model.kind == "remove-bg" else "RGB")


@pytest.mark.parametrize("model", RETIRED, ids=lambda m: m.id)
def test_retired_model_is_refused(emulator: EmulatorHandle, model: Model) -> None:
    """Refused with the GraphQL array naming the model, its date and its replacement."""
    life = catalog.lifecycle(model, TODAY)
    with root_client(emulator) as http:
        body = {"model": model.id, "parameters": v2.example_parameters(model)}
        refused = http.post("/v2/generations", json=body)
    assert refused.status_code == 400
    (message,) = v2_errors(refused)
    assert message.startswith(f"model: {model.id} was retired on {life.date}")
    replacement = catalog.find_model(life.replacement) if life.replacement else None
    if replacement is not None:
        assert message.endswith(f"Please use {replacement.id} instead.")
    assert emulator.stats()["jobs_created"] == 0


def test_models_listing(emulator: EmulatorHandle) -> None:
    """GET /v2/models lists every current model once (UUID, display name, a parameter schema
    that the model's example parameters fit), and no retired one."""
    with root_client(emulator) as http:
        rows = http.get("/v2/models").json()["productionApiAvailableModels"]
    by_name = {row["name"]: row for row in rows}
    assert sorted(by_name) == sorted(m.name for m in CURRENT) and len(rows) == len(CURRENT)
    assert len({row["id"] for row in rows}) == len(rows)
    assert all(str(uuid.UUID(row["id"])) == row["id"] for row in rows)
    assert not {m.name for m in RETIRED} & set(by_name)
    for model in CURRENT:
        schema = by_name[model.name]["parameters"]
        example = v2.example_parameters(model)
        assert set(example) <= set(schema["properties"]), model.id
        assert set(schema["required"]) <= set(example), model.id
        if model.kind in ("image", "video"):
            assert schema["properties"]["prompt"]["type"] == "string"
