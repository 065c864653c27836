"""The run engine end to end: recipes rendered against a real loopback emulator."""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
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

PIPELINE = """\
version: 1
name: pipeline
matrix:
  seed: [1, 2, 3, 4, 5, 6]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug on a table, take {{ seed }}"
    params: {width: 512, height: 512, num_images: 2, seed: "{{ seed }}"}
  clean:
    kind: nobg
    from: hero
  big:
    kind: universal-upscale
    from: clean
    params: {upscaleMultiplier: 1.5, upscalerStyle: GENERAL}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _recipe(tmp_path: Path, text: str = PIPELINE) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text))
    return path


async def _price(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        return await price_online(plan, client, cache=None)


async def _run(
    priced: PricedPlan,
    emu: EmulatorHandle,
    *,
    options: RunOptions | None = None,
    stop_after: int | None = None,
    events: list[Event] | None = None,
) -> RunResult:
    stop = anyio.Event()
    seen = events if events is not None else []

    def sink(event: Event) -> None:
        seen.append(event)
        if stop_after is not None and sum(e.type == "complete" for e in seen) >= stop_after:
            stop.set()

    opts = options or RunOptions(time_scale=TEST_TIME_SCALE)
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            return await run_plan(priced, client, journal, options=opts, on_event=sink, stop=stop)


def _verify_outputs(priced: PricedPlan) -> int:
    """Every journaled output is on disk with its journaled sha256; returns how many."""
    checked = 0
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        for job in priced.plan.jobs:
            outputs = journal.outputs(job.key)
            assert len(outputs) == job.outputs, job.stage
            for out in outputs:
                data = (priced.plan.output_dir / out.path).read_bytes()
                assert out.sha256 == hashlib.sha256(data).hexdigest()
                checked += 1
    return checked


def _net_charged(stats: dict[str, Any]) -> int:
    return int(stats["credits_charged"]) - int(stats["credits_refunded"])


async def test_a_pipeline_renders_every_output_once(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """image -> nobg -> universal-upscale: all complete, verified, no duplicate, cost exact."""
    priced = await _price(_recipe(tmp_path), emulator)
    assert len(priced.plan.jobs) == 6 + 12 + 12
    result = await _run(priced, emulator)
    assert (result.complete, result.failed, result.pending) == (30, 0, 0)
    assert _verify_outputs(priced) == 12 + 12 + 12
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert _net_charged(stats) == priced.total == result.credits_charged
    manifest = (priced.plan.output_dir / "manifest.json").read_text()
    assert emulator.api_key not in manifest


async def test_downstream_jobs_start_before_the_upstream_stage_ends(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """No stage barrier: a nobg job is submitted while hero jobs are still to be completed."""
    emu = make_emulator(slots=2)
    priced = await _price(_recipe(tmp_path), emu)
    events: list[Event] = []
    await _run(priced, emu, events=events)
    stage_of = {job.key: job.stage for job in priced.plan.jobs}
    order = [stage_of[e.job] for e in events if e.type in {"submitted", "complete"} and e.job]
    last_hero = max(i for i, stage in enumerate(order) if stage == "hero")
    first_clean = min(i for i, stage in enumerate(order) if stage == "clean")
    assert first_clean < last_hero


async def test_faults_never_cost_a_duplicate_or_an_output(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """5% FAILED, 5% 5xx, 5% ghost creates, 5% truncated downloads, a 429 storm: all verified."""
    emu = make_emulator(
        fail_rate=0.05,
        error_rate=0.05,
        ghost_rate=0.05,
        truncate_rate=0.05,
        storm=0.1,
        seed=11,
    )
    priced = await _price(_recipe(tmp_path), emu)
    result = await _run(
        priced, emu, options=RunOptions(time_scale=TEST_TIME_SCALE, retry_failed_jobs=5)
    )
    assert (result.complete, result.failed, result.missing_downloads) == (30, 0, 0)
    _verify_outputs(priced)
    stats = emu.stats()
    assert sum(stats["faults"].values()) > 0
    assert stats["duplicate_creates"] == 0
    assert _net_charged(stats) == priced.total


async def test_an_interrupted_run_resumes_without_paying_twice(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Stopped after a few completions, the next run finishes the rest and resubmits nothing."""
    priced = await _price(_recipe(tmp_path), emulator)
    first = await _run(priced, emulator, stop_after=3)
    assert first.interrupted and first.complete < 30
    second = await _run(priced, emulator)
    assert (second.complete, second.failed, second.pending) == (30, 0, 0)
    _verify_outputs(priced)
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert _net_charged(stats) == priced.total


async def test_a_rerun_of_a_finished_recipe_submits_nothing(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Same recipe, same keys: the second run finds everything done and creates no job."""
    priced = await _price(_recipe(tmp_path), emulator)
    await _run(priced, emulator)
    creates = emulator.stats()["creates"]
    result = await _run(priced, emulator)
    assert result.complete == 30
    assert emulator.stats()["creates"] == creates


async def test_a_deleted_output_is_downloaded_again_not_regenerated(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """A missing file is fetched from its journaled URL; no job is created for it."""
    priced = await _price(_recipe(tmp_path), emulator)
    await _run(priced, emulator)
    job = priced.plan.jobs[0]
    victim = priced.plan.output_dir / job.paths[0]
    victim.unlink()
    creates = emulator.stats()["creates"]
    await _run(priced, emulator)
    assert victim.exists()
    assert emulator.stats()["creates"] == creates
    _verify_outputs(priced)


async def test_the_budget_stops_submission_before_it_is_passed(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """With a budget of half the plan, charges stay within it and the run says why it stopped."""
    priced = await _price(_recipe(tmp_path), emulator)
    budget = priced.total // 2
    result = await _run(
        priced, emulator, options=RunOptions(time_scale=TEST_TIME_SCALE, budget_credits=budget)
    )
    assert result.stop_reason is not None and result.stop_reason.startswith("budget")
    assert 0 < _net_charged(emulator.stats()) <= budget
    assert result.pending > 0


async def test_polling_is_batched(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Generation status comes from the user listing: well under one status request per job."""
    emu = make_emulator(slots=4)
    text = PIPELINE.split("  clean:")[0].replace("[1, 2, 3, 4, 5, 6]", str(list(range(40))))
    priced = await _price(_recipe(tmp_path, text), emu)
    await _run(priced, emu)
    requests = emu.stats()["requests"]
    status = sum(n for route, n in requests.items() if route.startswith("GET /generations"))
    assert status / len(priced.plan.jobs) <= 0.5, requests


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_engine_runs_on_trio(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """anyio only: the same run works on the trio backend."""
    priced = await _price(_recipe(tmp_path), emulator)
    result = await _run(priced, emulator)
    assert result.complete == 30


async def test_webhooks_complete_jobs_with_few_status_requests(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """With --webhook-listen, callbacks bring the next status check forward; each is verified
    through the API (a batched listing), never taken from the callback's body."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # At time scale 0.05 a job takes ~0.3 s: webhook delivery latency is small beside it.
    emu = make_emulator(
        time_scale=0.05, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_key="s3cret"
    )
    text = PIPELINE.split("  clean:")[0].replace("[1, 2, 3, 4, 5, 6]", str(list(range(30))))
    priced = await _price(_recipe(tmp_path, text), emu)
    events: list[Event] = []
    options = RunOptions(time_scale=0.05, webhook_listen=("127.0.0.1", port), webhook_key="s3cret")
    result = await _run(priced, emu, options=options, events=events)
    assert result.complete == 30
    callbacks = sum(e.type == "callback" for e in events)
    assert callbacks >= 15, callbacks
    stats = emu.stats()
    status = sum(n for r, n in stats["requests"].items() if r.startswith("GET /generations"))
    assert status / 30 <= 0.5, stats["requests"]
    _verify_outputs(priced)


async def test_a_field_the_api_refuses_fails_the_job_with_the_api_message(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Unknown to the API: the job fails for good, journaled with "Unexpected variable ..."."""
    import dataclasses

    priced = await _price(_recipe(tmp_path, PIPELINE.split("  clean:")[0]), emulator)
    first = priced.plan.jobs[0]
    broken = dataclasses.replace(first, body={**first.body, "bogusField": 1})
    plan = dataclasses.replace(priced.plan, jobs=(broken, *priced.plan.jobs[1:]))
    result = await _run(dataclasses.replace(priced, plan=plan), emulator)
    assert (result.complete, result.failed) == (5, 1)
    with Journal.open_readonly(plan.output_dir) as journal:
        state = journal.job(first.key)
    assert state.status == "failed"
    assert state.error is not None and "Unexpected variable bogusField" in state.error
    assert state.credits_charged in (None, 0)


async def test_running_out_of_credits_mid_run_stops_cleanly_and_resumes(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """The account is drained by someone else mid-run: submission stops, nothing is lost, and
    once credits are back the next run finishes the rest."""
    text = PIPELINE.split("  clean:")[0].replace("[1, 2, 3, 4, 5, 6]", str(list(range(40))))
    priced = await _price(_recipe(tmp_path, text), emulator)

    def drain(event: Event) -> None:
        if event.type == "complete":
            emulator.state.balance = 0  # another consumer spent everything

    events: list[Event] = []
    stop = anyio.Event()
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            result = await run_plan(
                priced,
                client,
                journal,
                options=RunOptions(time_scale=TEST_TIME_SCALE),
                on_event=lambda e: (events.append(e), drain(e)),
                stop=stop,
            )
            stuck = journal.in_state("submitting")
    assert result.stop_reason is not None
    assert result.stop_reason.startswith("insufficient credits")
    assert "not enough api tokens" in result.stop_reason
    assert result.failed == 0 and result.pending > 0 and not stuck
    emulator.state.balance = 10_000_000
    again = await _run(priced, emulator)
    assert (again.complete, again.failed) == (40, 0)
    assert emulator.stats()["duplicate_creates"] == 0


async def test_a_stop_does_not_wait_for_jobs_that_wait_for_rate_tokens(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """One create a minute allowed: after a 429 (Retry-After ~60 s) a stop ends the run at once;
    the jobs that were only waiting for a rate token stay planned for the next run."""
    from leobatch.emulator.config import DURATIONS_S

    emu = make_emulator(
        time_scale=1.0,
        slots=1,
        creates_per_slot_per_minute=1,
        durations_s=dict.fromkeys(DURATIONS_S, 0.05),
    )
    priced = await _price(_recipe(tmp_path, PIPELINE.split("  clean:")[0]), emu)
    stop = anyio.Event()

    def sink(event: Event) -> None:
        if event.type == "rate-limited":
            stop.set()

    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            with anyio.fail_after(20):
                result = await run_plan(
                    priced, client, journal, options=RunOptions(), on_event=sink, stop=stop
                )
            assert not journal.in_state("submitting", "submitted")
            planned = len(journal.in_state("planned"))
    assert result.interrupted
    assert result.complete + planned == 6 and planned >= 4
    assert emu.stats()["too_many_requests"] >= 1
