"""Reconciliation is exact: after 5xx and dropped creates every job ends with its own result.

The recipes are the shipped examples; siblings there differ only in ``init_strength`` (image to
image) or in a multiplier a variation row does not show (the upscale pipeline).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from leobatch.api._backoff import RetryPolicy
from leobatch.api.client import GeneratedImage, Generation, LeonardoClient
from leobatch.plan import expand_plan
from leobatch.plan.jobs import Job, Kind
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.journal import Journal
from leobatch.run.reconcile import Claimant, confusable, generation_matches
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle
from tests.run.test_fault_campaign import assert_promises_hold

pytestmark = pytest.mark.anyio

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _render(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    plan = expand_plan(load_recipe(recipe))
    # The client's own retries of idempotent calls, on the emulator's fast clock.
    retry = RetryPolicy(base_s=0.25 * TEST_TIME_SCALE, cap_s=10 * TEST_TIME_SCALE)
    async with LeonardoClient(emu.api_key, emu.base_url, retry=retry) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal, anyio.fail_after(60):
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
    assert (result.complete, result.failed, result.pending) == (len(plan.jobs), 0, 0)
    return priced


def _copy_examples(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "recipes"


@pytest.mark.parametrize("seed", range(1, 11))
async def test_image_to_image_siblings_under_5xx_each_get_their_own_result(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """40% of creates answer 500: three jobs, one prompt, three strengths, three results."""
    emu = make_emulator(error_rate=0.4, seed=seed)
    priced = await _render(_copy_examples(tmp_path) / "image-to-image.yaml", emu)
    assert_promises_hold(priced, emu)


@pytest.mark.parametrize("seed", range(1, 6))
async def test_upscale_pipeline_under_dropped_connections_orphans_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """60% of API requests lose their connection: every paid upscale belongs to its job."""
    emu = make_emulator(drop_rate=0.6, seed=seed)
    priced = await _render(_copy_examples(tmp_path) / "upscale-pipeline.yaml", emu)
    assert_promises_hold(priced, emu)


def _job(kind: Kind = "image") -> Job:
    return Job(key=f"key-{kind}", stage="s", kind=kind, endpoint="/x", body={})


def _row(**raw: object) -> Generation:
    prompt = raw.get("prompt")
    return Generation(
        "g1", "COMPLETE", None, str(prompt), None, None, None, None,
        (GeneratedImage("i1", None, False, None),), raw=dict(raw),
    )  # fmt: skip


def test_a_listing_row_matches_on_every_field_it_shows() -> None:
    """init_strength, guidance, style, steps, elements: a row that differs is not ours."""
    job = _job()
    body = {"prompt": "p", "init_strength": 0.3, "guidance_scale": 7, "presetStyle": "DYNAMIC"}
    assert generation_matches(_row(prompt="p", initStrength=0.3, guidanceScale=7), job, body)
    assert not generation_matches(_row(prompt="p", initStrength=0.5), job, body)
    assert not generation_matches(_row(prompt="p", guidanceScale=9), job, body)
    assert not generation_matches(_row(prompt="p", presetStyle="CINEMATIC"), job, body)
    with_element = {"prompt": "p", "elements": [{"akUUID": "a", "weight": 1}]}
    other = [{"id": 1, "weightApplied": 1, "lora": {"akUUID": "b"}}]
    assert not generation_matches(_row(prompt="p", generation_elements=other), job, with_element)
    # A field the request does not set matches whatever default the server filled in.
    assert generation_matches(_row(prompt="p", scheduler="LEONARDO"), job, body)


def test_confusable_requests_are_the_ones_a_row_could_match_both_of() -> None:
    """Siblings the listing can tell apart are not confusable; those it cannot tell are."""
    job = _job()
    a = Claimant(job, {"prompt": "p", "init_strength": 0.3})
    assert not confusable(a, Claimant(job, {"prompt": "p", "init_strength": 0.5}))
    assert not confusable(a, Claimant(job, {"prompt": "q", "init_strength": 0.3}))
    assert confusable(a, Claimant(job, {"prompt": "p", "init_image_id": "x"}))
    nobg = _job("nobg")
    up = _job("universal-upscale")
    assert confusable(Claimant(up, {"id": "v1"}, "g"), Claimant(up, {"id": "v2"}, "g"))
    assert not confusable(Claimant(up, {"id": "v1"}, "g"), Claimant(up, {"id": "v1"}, "h"))
    assert not confusable(Claimant(nobg, {"id": "i"}, "g"), Claimant(up, {"id": "i"}, "g"))
