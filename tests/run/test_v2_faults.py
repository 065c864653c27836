"""v2 under attack (issue 10 acceptance): ghost creates, 5xx, FAILED jobs, a 429 storm, SIGKILLs.

A grid over four v2 image models with the same prompts (so the listing cannot tell their rows
apart: no model on a v2 row), each still cut out by v2 remove-bg and by v1 nobg, and a v1
still animated by a v2 video model. Every job completes, nothing is submitted twice, and what
the journal says was charged is what the emulator charged net of refunds.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path

import anyio
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.events import Event, discard
from leobatch.run.journal import Journal
from tests.conftest import EmulatorHandle
from tests.run.kills import kill_after_events

# With 5% of jobs ending FAILED, the default 2 retries let a job fail for good in about 1 run of
# 40 (seen: one v1 cutout FAILED three times in a row, seed 2, under load): the promises under
# test are each job once and charged == net, not the retry count, so retries are plentiful.
RECIPE = """\
version: 1
name: v2-faults
retry: {failed_jobs: 6}
stages:
  still:
    kind: image
    model: "{{ model }}"
    matrix:
      model: [nano-banana-pro, gpt-image-1.5, seedream-4.5, flux-2-pro]
      colour: [red, navy, white]
    prompt: "a {{ colour }} running sneaker, side view"
    width: 1024
    height: 1024
  cutout:
    kind: nobg
    model: remove-bg
    from: still
  v1_cutout:
    kind: nobg
    from: still
  mug:
    kind: image
    model: lightning-xl
    prompt: a ceramic mug
    width: 512
    height: 512
    num_images: 1
  clip:
    kind: image-to-video
    model: kling-2.6
    from: mug
    prompt: the mug turns slowly
"""
JOBS = 12 + 12 + 12 + 1 + 1
FAULTS = {"ghost_rate": 0.05, "error_rate": 0.05, "fail_rate": 0.05}


def _start_run(
    recipe: Path, emu: EmulatorHandle, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``leobatch run`` on the emulator; v2 models of no published price are run anyway."""
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--yes", "--json",
         "--allow-unknown-prices", "--time-scale", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=stderr,
    )  # fmt: skip


def _kill_at_random_moments(recipe: Path, emu: EmulatorHandle, runs: int, seed: int) -> int:
    """Start ``runs`` runs, each SIGKILLed after a random number of progress events."""
    rng = random.Random(seed)
    kills = 0
    for _ in range(runs):
        kills += kill_after_events(_start_run(recipe, emu), rng.randint(2, 16), rng)
    return kills


def _priced(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    async def price() -> PricedPlan:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            return await price_online(expand_plan(load_recipe(recipe)), client, cache=None)

    return anyio.run(price)


def _run(
    priced: PricedPlan, emu: EmulatorHandle, time_scale: float, events: list[Event] | None = None
) -> RunResult:
    async def run() -> RunResult:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            with Journal.open(priced.plan.output_dir) as journal:
                options = RunOptions(time_scale=time_scale)
                sink = discard if events is None else events.append
                return await run_plan(priced, client, journal, options=options, on_event=sink)

    return anyio.run(run)


def assert_v2_promises(
    priced: PricedPlan,
    emu: EmulatorHandle,
    *,
    unknown_allowed: bool = False,
    adopted: Collection[str] | None = None,
) -> int:
    """Every job complete with its own result and verified files; 0 duplicates; charged ==
    the emulator's net charge. Returns the credits charged.

    ``unknown_allowed``: after SIGKILLs, a job of no published price may have been adopted
    while no charge of its class was ever reported (the listing shows no cost): its charge is
    then journaled as unknown (``None``, never a guess), and the difference must be exactly
    what the emulator charged for those jobs. ``adopted``: the same, for those jobs only (a
    ghost create's job is adopted from the listing, which shows no cost)."""
    state = emu.state
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        states = {s.key: s for s in journal.jobs()}
        owners = Counter(s.remote_id for s in states.values() if s.remote_id)
        assert [rid for rid, n in owners.items() if n > 1] == [], "two jobs hold one result"
        for job in priced.plan.jobs:
            current = states[job.key]
            assert current.status == "complete", (job.stage, current)
            assert current.remote_id in state.generations or current.remote_id in state.variations
            outputs = journal.outputs(job.key)
            assert len(outputs) == job.outputs, job.stage
            for out in outputs:
                data = (priced.plan.output_dir / out.path).read_bytes()
                assert hashlib.sha256(data).hexdigest() == out.sha256
                if job.stage == "clip":
                    assert out.path.endswith(".mp4") and data[4:8] == b"ftyp"
        charged = sum(s.credits_charged or 0 for s in states.values())
        unknown = [s for s in states.values() if s.credits_charged is None]
    stats = emu.stats()
    assert stats["duplicate_creates"] == 0, stats["creates_per_body"]
    if adopted is not None:
        assert {s.key for s in unknown} <= set(adopted), "a job sent, not adopted, has no charge"
    if unknown_allowed or adopted is not None:
        assert all(priced.credits.get(s.key) is None for s in unknown)
        charged += sum(state.generations[s.remote_id].credits for s in unknown if s.remote_id)
    else:
        assert unknown == []
    assert stats["credits_net"] == charged, (stats["credits_net"], charged)
    return charged


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_v2_faults_every_job_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """5% ghost creates, 5% 5xx, 5% FAILED and a 429 storm on v1 and v2 alike: every job
    completes, 0 duplicate submissions, charged == the emulator's net charge."""
    emu = make_emulator(time_scale=0.01, slots=6, seed=seed, storm=0.2, **FAULTS)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, emu)
    assert len(priced.plan.jobs) == JOBS
    assert sum(job.endpoint == "/v2/generations" for job in priced.plan.jobs) == 12 + 12 + 1
    events: list[Event] = []
    result = _run(priced, emu, 0.01, events)
    assert (result.complete, result.failed, result.missing_downloads) == (JOBS, 0, 0), result
    # The clip (kling-2.6, no calculator price here) is its price class's only job: when its
    # create is the ghost, it is adopted with no charge known, and nothing later tells (its
    # charge stays unknown, never a guess; the check accounts for exactly that). Seen in 1 of
    # about 20 full-suite runs, when timing made the clip's create the ghost. Only an adopted
    # job may be left so: one whose create was answered always has its charge.
    assert_v2_promises(
        priced, emu, adopted={e.job for e in events if e.type == "adopted" and e.job}
    )
    stats = emu.stats()
    assert stats["too_many_requests"] > 0 and stats["faults"]["storm"] > 0  # the storm hit
    assert stats["requests"].get("POST /v2/generations", 0) >= 25  # and it was on v2 too


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 5])
def test_v2_sigkills_under_faults_then_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """SIGKILLs at random moments with ghost creates and 5xx on v2, then a resume: 0
    duplicates, one job per result, right files, charged == net charge."""
    emu = make_emulator(time_scale=0.05, slots=4, seed=seed, ghost_rate=0.1, error_rate=0.1)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = _priced(recipe, emu)
    kills = _kill_at_random_moments(recipe, emu, runs=14, seed=seed)
    assert kills >= 10, f"only {kills} runs were still going when killed"
    final = _start_run(recipe, emu, stderr=subprocess.PIPE)
    out, err = final.communicate(timeout=180)
    assert final.returncode == 0, (err.decode(), out.decode()[-3000:])
    assert_v2_promises(priced, emu, unknown_allowed=True)
    assert emu.stats()["faults"]["ghost"] > 0  # the attack happened
