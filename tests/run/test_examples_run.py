"""Every example recipe renders on the emulator, and costs exactly what its plan said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.classes import V2_PATH
from leobatch.pricing.learned import complete_prices
from leobatch.pricing.money import CREDITS
from leobatch.pricing.offline import price_offline
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
EXAMPLES = sorted(p.name for p in RECIPES.glob("*.yaml"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_there_are_examples() -> None:
    """The parametrised test below covers every recipe in recipes/."""
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("name", EXAMPLES)
async def test_example_renders_and_charges_its_plan(
    name: str, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Every job whose price was known before the run (calculator or published rate) is charged
    exactly that; the journal's total == the emulator's net charge. Recipes of v1 models only
    are priced in full, and the rate card agrees with the calculator offline."""
    work = tmp_path / "recipes"
    shutil.copytree(RECIPES, work, ignore=shutil.ignore_patterns("out"))
    plan = expand_plan(load_recipe(work / name))
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        priced = complete_prices(priced, None, account=None, unit=CREDITS)  # published rates
        if not any(job.endpoint == V2_PATH for job in plan.jobs):
            assert priced.unknown_jobs == 0
            assert priced.total == price_offline(plan).total  # the rate card agrees offline
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
            charged = journal.summary().credits_charged
    assert (result.complete, result.failed, result.missing_downloads) == (len(plan.jobs), 0, 0)
    stats = emulator.stats()
    assert charged == stats["credits_charged"] - stats["credits_refunded"]
    if priced.unknown_jobs == 0:
        assert priced.total == charged
    assert stats["duplicate_creates"] == 0
    manifest = json.loads((plan.output_dir / "manifest.json").read_text())
    known = {key: credits for key, credits in priced.credits.items() if credits is not None}
    assert known  # every example has jobs priced before the run
    for job in manifest["jobs"]:
        if job["key"] in known:
            assert job["credits_charged"] == known[job["key"]], job["stage"]
    files = [out for job in manifest["jobs"] for out in job["outputs"]]
    assert len(files) == plan.outputs
    assert all(out["sha256"] and (plan.output_dir / out["path"]).is_file() for out in files)


def test_the_comparison_example_mixes_both_surfaces_in_one_axis() -> None:
    """model-comparison: 5 models (1 on v1, 4 on v2) x 2 subjects = 10 jobs, 10 outputs, one
    stage; still-to-video: a v1 still into two v2 video models (start frame from upstream)."""
    plan = expand_plan(load_recipe(RECIPES / "model-comparison.yaml"))
    assert (len(plan.jobs), plan.outputs, plan.stages) == (10, 10, ("compare",))
    assert sorted(job.endpoint for job in plan.jobs).count(V2_PATH) == 8
    video = expand_plan(load_recipe(RECIPES / "still-to-video.yaml"))
    assert (len(video.jobs), video.outputs) == (3, 3)
    clips = [job for job in video.jobs if job.stage == "clip"]
    assert {job.body["model"] for job in clips} == {"kling-2.6", "veo-3.1-generate-001"}
    assert all(
        i.field.startswith("parameters.guidances.start_frame") for j in clips for i in j.inputs
    )
