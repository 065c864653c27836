"""Every job kind in one recipe, chained as users chain them, rendered on the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leobatch.api.client import LeonardoClient
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
name: every-kind
stages:
  idea:
    kind: improve-prompt
    prompt: a mug on a table
  hero:
    kind: image
    from: idea
    model: phoenix-1.0
    prompt: "{{ upstream.text }}, studio light"
    params: {width: 512, height: 512, num_images: 2, contrast: 3.5}
  bigger:
    kind: upscale
    from: hero
  wider:
    kind: unzoom
    from: hero
  clean:
    kind: nobg
    from: wider
  motion:
    kind: image-to-video
    from: hero
    model: motion-2.0
    prompt: the mug turns slowly
    params: {resolution: RESOLUTION_480}
  motion_hd:
    kind: video-upscale
    from: motion
  teaser:
    kind: text-to-video
    model: motion-2.0
    prompt: steam rising from a mug
    motion: Dolly In
    styles: [Golden Hour]
    params: {resolution: RESOLUTION_480}
  sketch:
    kind: image
    model: lightning-xl
    prompt: a ceramic mug
    init_image: images/sketch.png
    guidance: [{type: style-reference, image: images/sketch.png, strength: Mid}]
    params: {width: 512, height: 512, num_images: 1, init_strength: 0.5}
  from_file:
    kind: universal-upscale
    image: images/sketch.png
    params: {upscaleMultiplier: 1.5}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_every_kind_renders(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """improve-prompt -> image -> upscale/unzoom -> nobg; i2v -> video upscale; t2v; local
    init image, guidance and upscaler source (uploaded once): all complete, verified.
    (motion-svd is retired: the plan refuses it, tests/plan/test_v2_plan.py.)"""
    (tmp_path / "images").mkdir()
    shutil.copy(SKETCH, tmp_path / "images" / "sketch.png")
    (tmp_path / "all.yaml").write_text(RECIPE)
    plan = expand_plan(load_recipe(tmp_path / "all.yaml"))
    assert len(plan.jobs) == 15
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        assert priced.unknown_jobs == 2  # video upscale has no calculator service
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
            states = {s.key: s for s in journal.jobs()}
            outputs = journal.all_outputs()
    assert (result.complete, result.failed, result.missing_downloads) == (15, 0, 0)
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["requests"]["POST /init-image"] == 1  # one file, uploaded once
    by_stage = {job.stage: job for job in plan.jobs}
    hero = states[by_stage["hero"].key]
    assert hero.request is not None
    assert hero.request["prompt"].startswith("a mug on a table, ")  # the improved text
    assert hero.request["prompt"].endswith(", studio light")
    for job in plan.jobs:
        for out in outputs.get(job.key, ()):
            data = (plan.output_dir / out.path).read_bytes()
            if out.path.endswith(".mp4"):
                assert data[4:8] == b"ftyp", out.path
            assert out.sha256 is not None and out.bytes == len(data)
