"""On resume, a kept file is checked by content: one damaged in place is fetched again."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio

RECIPE = """\
version: 1
name: verify
matrix:
  seed: [1, 2, 3]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug, take {{ seed }}"
    params: {width: 512, height: 512, num_images: 2, seed: "{{ seed }}"}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _price(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        return await price_online(plan, client, cache=None)


async def _run(priced: PricedPlan, emu: EmulatorHandle, events: list[Event]) -> RunResult:
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            return await run_plan(
                priced,
                client,
                journal,
                options=RunOptions(time_scale=TEST_TIME_SCALE),
                on_event=events.append,
            )


def _manifest_outputs(priced: PricedPlan) -> dict[str, dict[str, object]]:
    manifest = json.loads((priced.plan.output_dir / "manifest.json").read_text())
    return {out["path"]: out for job in manifest["jobs"] for out in job["outputs"]}


async def test_an_output_damaged_in_place_is_fetched_again(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Same size, other bytes: the re-run fetches it from its journaled URL (no new job), the
    file is the emulator's again and the manifest's sha256 is right; the others stay put."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = await _price(recipe, emulator)
    first = await _run(priced, emulator, [])
    assert (first.complete, first.failed) == (3, 0)
    outputs = _manifest_outputs(priced)
    assert len(outputs) == 6
    victim_path, victim = sorted(outputs.items())[0]
    file = priced.plan.output_dir / victim_path
    original = file.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte: the size is unchanged
    file.write_bytes(bytes(damaged))
    untouched = {
        path: (priced.plan.output_dir / path).stat().st_mtime_ns
        for path in outputs
        if path != victim_path
    }
    creates = emulator.stats()["creates"]

    events: list[Event] = []
    again = await _run(priced, emulator, events)

    assert (again.complete, again.failed, again.missing_downloads) == (3, 0, 0)
    assert emulator.stats()["creates"] == creates  # fetched again, not rendered again
    assert [e.data["path"] for e in events if e.type == "downloaded"] == [victim_path]
    served = httpx.get(str(victim["url"]), timeout=10).content
    assert file.read_bytes() == original  # the emulator's bytes, labelled the same way again
    assert hashlib.sha256(served).hexdigest() == victim["served_sha256"]
    after = _manifest_outputs(priced)
    for path, out in after.items():
        data = (priced.plan.output_dir / path).read_bytes()
        assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert {p: (priced.plan.output_dir / p).stat().st_mtime_ns for p in untouched} == untouched


async def test_a_resume_with_nothing_damaged_fetches_nothing(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Every file checked by content, none fetched: the check costs one read per file."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    priced = await _price(recipe, emulator)
    await _run(priced, emulator, [])
    requests = emulator.stats()["requests_total"]
    events: list[Event] = []
    started = time.perf_counter()
    again = await _run(priced, emulator, events)
    elapsed = time.perf_counter() - started
    assert (again.complete, again.missing_downloads) == (3, 0)
    assert not [e for e in events if e.type == "downloaded"]
    assert emulator.stats()["requests_total"] - requests <= 2  # /me and the calculator at most
    assert elapsed < 2.0
