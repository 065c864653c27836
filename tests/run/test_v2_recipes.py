"""Recipes mixing both surfaces, planned and rendered on the emulator: the requests the
builder makes are the ones the API takes, and outputs chain across surfaces at run time."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from PIL import Image

from leobatch import catalog
from leobatch.api.client import LeonardoClient
from leobatch.catalog import Model
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio

SKETCH = Path(__file__).resolve().parents[2] / "recipes" / "images" / "sketch.png"
RECIPE = """\
version: 1
name: both-surfaces
matrix:
  model: [phoenix-1.0, nano-banana-pro, gpt-image-1.5, seedream-4.5]
defaults:
  image: {contrast: 3.5}
stages:
  grid:
    kind: image
    model: "{{ model }}"
    prompt: a ceramic mug on a marble table
    width: 1024
    height: 1024
    num_images: 1
    when: "{{ model in ('phoenix-1.0', 'nano-banana-pro') }}"
  clip:
    kind: image-to-video
    from: grid
    model: kling-2.6
    prompt: the mug turns slowly
    params: {duration: 5}
  clean_v1:
    kind: nobg
    from: grid
  big:
    kind: upscale
    from: clean_v1
    model: pro-upscaler-precise
  cutout:
    kind: nobg
    image: images/sketch.png
    model: remove-bg
    when: "{{ model == 'gpt-image-1.5' }}"
  styled:
    kind: image
    model: nano-banana-2
    prompt: a ceramic mug, watercolour
    width: 1264
    height: 848
    styles: [Watercolor]
    guidance: [{image: images/sketch.png, strength: HIGH}]
    when: "{{ model == 'seedream-4.5' }}"
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_mixed_recipe_renders_on_the_emulator(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """v1 still -> v2 video, v2 still -> v1 nobg -> v2 upscaler, v2 remove-bg and references from
    a local file: every job completes, no duplicate create, each file of its planned size."""
    (tmp_path / "images").mkdir()
    shutil.copy(SKETCH, tmp_path / "images" / "sketch.png")
    (tmp_path / "r.yaml").write_text(RECIPE)
    plan = expand_plan(load_recipe(tmp_path / "r.yaml"))
    counts = {s: sum(1 for j in plan.jobs if j.stage == s) for s in plan.stages}
    assert counts == {"grid": 2, "clip": 2, "clean_v1": 2, "big": 2, "cutout": 1, "styled": 1}
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced,
                client,
                journal,
                options=RunOptions(time_scale=TEST_TIME_SCALE),
            )
            outputs = journal.all_outputs()
    assert (result.complete, result.failed, result.missing_downloads) == (10, 0, 0)
    assert emulator.stats()["duplicate_creates"] == 0
    for job in plan.jobs:
        (out,) = outputs[job.key]
        path = plan.output_dir / out.path
        if job.kind == "image-to-video":
            assert path.read_bytes()[4:8] == b"ftyp", out.path
        elif job.size is not None:
            with Image.open(path) as image:
                assert image.size == job.size, (job.stage, out.path)


TODAY = datetime.date(2026, 12, 1)
CURRENT = [m for m in catalog.v2_models() if catalog.lifecycle(m, TODAY).state != "retired"]


def _stage(model: Model) -> str:
    """The smallest stage that takes ``model`` (a local image where the model needs one)."""
    if model.kind == "image":
        return f"{{kind: image, model: {model.slug!r}, prompt: a ceramic mug}}"
    if model.kind == "video":
        return (
            f"{{kind: image-to-video, model: {model.slug!r}, prompt: the mug turns, "
            "image: images/sketch.png}"
        )
    kind = "nobg" if model.kind == "remove-bg" else "upscale"
    return f"{{kind: {kind}, model: {model.slug!r}, image: images/sketch.png}}"


async def test_every_current_v2_model_renders_from_a_recipe(
    tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One stage per current catalogued v2 model, planned and run: each job completes once and
    its file is what the plan says (an MP4 for videos, an image of the planned size)."""
    monkeypatch.setenv("LEOBATCH_TODAY", TODAY.isoformat())
    (tmp_path / "images").mkdir()
    shutil.copy(SKETCH, tmp_path / "images" / "sketch.png")
    stages = "".join(f"  m{i}: {_stage(m)}\n" for i, m in enumerate(CURRENT))
    (tmp_path / "all.yaml").write_text(f"version: 1\nname: every-v2\nstages:\n{stages}")
    plan = expand_plan(load_recipe(tmp_path / "all.yaml"))
    assert len(plan.jobs) == len(CURRENT) > 60
    assert {j.model for j in plan.jobs} == {m.slug for m in CURRENT}
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
            outputs = journal.all_outputs()
    assert (result.complete, result.failed, result.missing_downloads) == (len(CURRENT), 0, 0)
    assert emulator.stats()["duplicate_creates"] == 0
    for job in plan.jobs:
        (out,) = outputs[job.key]
        data = (plan.output_dir / out.path).read_bytes()
        if out.path.endswith(".mp4"):
            assert data[4:8] == b"ftyp", job.model
        elif job.size is not None:
            with Image.open(plan.output_dir / out.path) as image:
                assert image.size == job.size, job.model
