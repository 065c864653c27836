"""Every example recipe renders on the emulator, and costs exactly what its plan said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
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
    """Plan total (calculator) == sum of apiCreditCost journaled == emulator's net charge."""
    work = tmp_path / "recipes"
    shutil.copytree(RECIPES, work, ignore=shutil.ignore_patterns("out"))
    plan = expand_plan(load_recipe(work / name))
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        assert priced.unknown_jobs == 0
        assert priced.total == price_offline(plan).total  # the rate card agrees offline
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
            charged = journal.summary().credits_charged
    assert (result.complete, result.failed, result.missing_downloads) == (len(plan.jobs), 0, 0)
    stats = emulator.stats()
    assert priced.total == charged == stats["credits_charged"] - stats["credits_refunded"]
    assert stats["duplicate_creates"] == 0
    manifest = json.loads((plan.output_dir / "manifest.json").read_text())
    files = [out for job in manifest["jobs"] for out in job["outputs"]]
    assert len(files) == plan.outputs
    assert all(out["sha256"] and (plan.output_dir / out["path"]).is_file() for out in files)
