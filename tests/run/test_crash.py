"""kill -9 at random moments, then resume: nothing lost, nothing paid twice."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.journal import Journal
from tests.conftest import EmulatorHandle
from tests.run.kills import kill_after_events

TIME_SCALE = 0.05  # image jobs ~0.3 s, nobg ~0.2 s: kills land while jobs are in flight

RECIPE = """\
version: 1
name: crash
matrix:
  seed: [1, 2, 3, 4, 5, 6, 7, 8]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug, crash test {{ seed }}"
    params: {width: 512, height: 512, num_images: 2, seed: "{{ seed }}"}
  clean:
    kind: nobg
    from: hero
"""


def _leobatch_run(
    recipe: Path,
    emu: EmulatorHandle,
    *,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEONARDO_API_KEY": emu.api_key,
        "LEONARDO_API_BASE_URL": emu.base_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--yes", "--json",
         "--time-scale", str(TIME_SCALE)],
        env=env,
        stdout=stdout,
        stderr=stderr,
    )  # fmt: skip


def _priced(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    async def price() -> PricedPlan:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            return await price_online(expand_plan(load_recipe(recipe)), client, cache=None)

    return anyio.run(price)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """12 runs killed by SIGKILL, then one to the end: 0 duplicates, 0 missing, charged == plan."""
    emu = make_emulator(time_scale=TIME_SCALE, slots=4)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, emu)
    rng = random.Random(20261124)
    kills = 0
    for _ in range(12):
        # Kill at a random moment *of the work*: after a random number of progress events
        # (JSON lines) and a random few milliseconds more, so every kill lands mid-run.
        proc = _leobatch_run(recipe, emu, stdout=subprocess.PIPE)
        kills += kill_after_events(proc, rng.randint(1, 6), rng, pause_s=0.03)
    assert kills >= 10, f"only {kills} runs were still going when killed"

    final = _leobatch_run(recipe, emu, stderr=subprocess.PIPE)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()

    stats = emu.stats()
    assert stats["duplicate_creates"] == 0, stats["creates_per_body"]
    assert stats["credits_charged"] - stats["credits_refunded"] == priced.total
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        for job in priced.plan.jobs:
            assert journal.job(job.key).status == "complete"
            outputs = journal.outputs(job.key)
            assert len(outputs) == job.outputs
            for out in outputs:
                data = (priced.plan.output_dir / out.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == out.sha256
    leftovers = [p for p in priced.plan.output_dir.rglob("*") if p.name.startswith(".")]
    assert all(p.name == ".leobatch" or ".leobatch" in p.parts for p in leftovers), leftovers
