"""A stated concurrency caps what the server runs; unknown prices never pass the budget."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _run(tmp_path: Path, emu: EmulatorHandle, text: str) -> RunResult:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(textwrap.dedent(text))
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            with anyio.fail_after(60):
                return await run_plan(
                    priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
                )


async def test_stated_concurrency_is_a_cap_on_jobs_the_server_runs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """limits.concurrency 2 on a 10-slot account: never more than 2 jobs running at once."""
    emu = make_emulator(slots=10)
    result = await _run(
        tmp_path,
        emu,
        """\
        version: 1
        name: capped
        matrix: {seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
        limits: {concurrency: 2}
        stages:
          shot:
            kind: image
            model: lightning-xl
            prompt: "a mug, take {{ seed }}"
            params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
        """,
    )
    assert result.complete == 12
    stats = emu.stats()
    assert stats["peak_running"] == 2
    assert stats["jobs_queued"] == 0


KLING = """\
version: 1
name: kling
matrix:
  take: [1, 2, 3, 4, 5, 6, 7, 8]
budget: {max_credits: 1000}
limits: {concurrency: 20}
stages:
  clip:
    kind: text-to-video
    model: kling-2.5
    prompt: "a ceramic mug turning slowly, take {{ take }}"
"""


#: the same clips with a stated ceiling: what one of them may cost at most
KLING_CEILING = KLING.replace(
    "{max_credits: 1000}", "{max_credits: 1000, unknown_job_ceiling: 500}"
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_unknown_prices_never_pass_the_budget(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """8 clips of unknown price (the emulator charges 400 each) on a budget of 1,000 at
    concurrency 20 with a ceiling of 500: each reserves the ceiling, then the learned 400; two
    are sent in all and the run stops before a third could pass the budget."""
    emu = make_emulator(slots=20, seed=seed)
    result = await _run(tmp_path, emu, KLING_CEILING)
    stats = emu.stats()
    assert stats["credits_net"] == 800
    assert result.complete == 2
    assert result.stop_reason is not None
    assert result.stop_reason.startswith("budget: ")
    assert "would pass the budget of 1000" in result.stop_reason


@pytest.mark.parametrize("seed", [1, 2])
async def test_unknown_prices_with_nothing_to_bound_them_are_not_sent(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """No ceiling: nothing bounds what a clip may cost, so none is sent under the budget (one
    sent to learn its price could pass it by its own price)."""
    emu = make_emulator(slots=20, seed=seed)
    result = await _run(tmp_path, emu, KLING)
    stats = emu.stats()
    assert (stats["creates"], stats["credits_net"], result.complete) == (0, 0, 0)
    assert result.stop_reason is not None
    assert "state budget.unknown_job_ceiling" in result.stop_reason


async def test_an_unknown_price_learned_in_an_earlier_run_is_reserved(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A resumed run reserves the charge the journal saw: it starts no job that could pass."""
    emu = make_emulator(slots=20)
    first = await _run(tmp_path, emu, KLING_CEILING)
    assert first.complete == 2
    second = await _run(tmp_path, emu, KLING_CEILING)
    assert second.complete == 2  # the budget was already spent: nothing more went out
    assert emu.stats()["credits_net"] == 800
    assert second.stop_reason == "budget: 1200 credits would pass the budget of 1000"
