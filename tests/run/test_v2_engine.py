"""The run engine on v2, one promise at a time, on the emulator.

- A ghost create of the *first* job of a price class nobody has priced is adopted with no
  known charge; the class's first reported charge settles it, so the journal still says
  exactly what the emulator charged.
- A refusal on v2 (the GraphQL error array, also with HTTP 200) fails the job with the API's
  message and sends nothing again.
- A PAYG (dollar) account: v2 and v1 charges recorded in dollars, equal to the emulator's.
- Chains across surfaces carry the upstream's generated-image ids with the right types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

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

GRID = """\
version: 1
name: v2-grid
stages:
  still:
    kind: image
    model: nano-banana-pro
    matrix: {colour: [red, navy, white]}
    prompt: "a {{ colour }} mug"
    width: 1024
    height: 1024
"""


def _plan(tmp_path: Path, text: str) -> Path:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    return recipe


def _run(
    recipe: Path,
    emu: EmulatorHandle,
    on_event: Callable[[Event], None] = lambda _e: None,
) -> tuple[PricedPlan, RunResult]:
    async def go() -> tuple[PricedPlan, RunResult]:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            priced = await price_online(expand_plan(load_recipe(recipe)), client, cache=None)
            with Journal.open(priced.plan.output_dir) as journal:
                result = await run_plan(
                    priced,
                    client,
                    journal,
                    options=RunOptions(time_scale=TEST_TIME_SCALE),
                    on_event=on_event,
                )
            return priced, result

    return anyio.run(go)


@pytest.mark.parametrize("attempt", range(3))
def test_a_ghost_probe_is_settled_by_its_class_first_charge(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], attempt: int
) -> None:
    """Every create ghosts until one is adopted; the next of the class is charged for real and
    that charge settles the adopted one: journal == emulator, to the credit, for each job."""
    emu = make_emulator(ghost_rate=1.0, seed=attempt)
    events: list[Event] = []

    def watch(event: Event) -> None:
        events.append(event)
        if event.type == "adopted":
            emu.state.set_fault_rate("ghost", 0.0)

    priced, result = _run(_plan(tmp_path, GRID), emu, watch)
    assert priced.unknown_jobs == 3  # Nano Banana Pro has no published price
    assert (result.complete, result.failed) == (3, 0)
    assert [e.type for e in events].count("adopted") == 1
    assert [e.type for e in events].count("charge-settled") == 1
    stats = emu.stats()
    assert stats["faults"]["ghost"] == 1 and stats["duplicate_creates"] == 0
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        charges = [s.credits_charged for s in journal.jobs()]
    assert None not in charges and len(set(charges)) == 1  # one class, one price
    assert sum(c or 0 for c in charges) == stats["credits_net"] == result.credits_charged


@pytest.mark.parametrize("as_200", [False, True])
def test_a_v2_refusal_fails_the_job_and_is_not_resent(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], as_200: bool
) -> None:
    """A body the emulator refuses (a size pair Nano Banana Pro does not list; the builder
    refuses it too, so the planned body is altered after planning) fails its job at once with
    the API's message, by HTTP 400 or by an error array in an HTTP 200: one create, no retry."""
    emu = make_emulator(v2_errors_as_200=as_200)
    plan = expand_plan(load_recipe(_plan(tmp_path, GRID)))
    first = plan.jobs[0]
    params = {**first.body["parameters"], "width": 1000, "height": 1000}
    bad = replace(first, body={**first.body, "parameters": params})
    plan = replace(plan, jobs=(bad, *plan.jobs[1:]))

    async def go() -> RunResult:
        async with LeonardoClient(emu.api_key, emu.base_url) as client:
            priced = await price_online(plan, client, cache=None)
            with Journal.open(plan.output_dir) as journal:
                options = RunOptions(time_scale=TEST_TIME_SCALE)
                return await run_plan(priced, client, journal, options=options)

    result = anyio.run(go)
    assert (result.complete, result.failed) == (2, 1)
    stats = emu.stats()
    assert stats["requests"]["POST /v2/generations"] == 3  # the refused one was sent once
    assert stats["credits_net"] == result.credits_charged
    with Journal.open_readonly(plan.output_dir) as journal:
        state = journal.job(bad.key)
    assert state.status == "failed" and state.error is not None
    shown = "HTTP 200 (400)" if as_200 else "HTTP 400"
    assert f"POST /v2/generations: {shown}: " in state.error
    assert "1000" in state.error  # the emulator's own message names the refused size


def test_dollar_account_v2_and_v1_charges_in_dollars(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A PAYG account: every charge (v2 and v1) is in dollars, summed apart from credits, and
    equal to what the emulator charged."""
    emu = make_emulator(billing="dollars")
    recipe = _plan(
        tmp_path,
        GRID
        + """\
  cutout:
    kind: nobg
    from: still
  clip:
    kind: image-to-video
    model: kling-2.6
    from: still
    prompt: the mug turns
""",
    )
    priced, result = _run(recipe, emu)
    assert (result.complete, result.failed) == (9, 0)
    stats = emu.stats()
    assert stats["billing"] == "dollars" and stats["duplicate_creates"] == 0
    assert result.credits_charged == 0
    assert result.usd_charged == Decimal(stats["usd_net"]) > 0
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        assert all(s.usd_charged is not None and s.usd_charged > 0 for s in journal.jobs())


def test_chains_across_surfaces_carry_generated_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """v1 still -> v2 video start frame; v2 still -> v1 nobg; v2 still -> v2 reference and
    remove-bg; v1 nobg -> v2 upscaler (VARIATION): each request holds its upstream's output id."""
    emu = make_emulator()
    recipe = _plan(
        tmp_path,
        """\
version: 1
name: chains
stages:
  v1_still:
    kind: image
    model: lightning-xl
    prompt: a ceramic mug
    width: 512
    height: 512
    num_images: 1
  v2_clip:
    kind: image-to-video
    model: kling-2.6
    from: v1_still
    prompt: the mug turns
  v2_still:
    kind: image
    model: nano-banana-pro
    prompt: a red mug
    width: 1024
    height: 1024
  v1_cut:
    kind: nobg
    from: v2_still
  v2_edit:
    kind: image
    model: gpt-image-1.5
    from: v2_still
    prompt: the same mug in blue
    width: 1024
    height: 1024
  v2_cut:
    kind: nobg
    model: remove-bg
    from: v2_still
  v2_big:
    kind: upscale
    model: aurora-upscaler-precise
    from: v1_cut
""",
    )
    priced, result = _run(recipe, emu)
    assert (result.complete, result.failed, result.missing_downloads) == (7, 0, 0)
    assert emu.stats()["duplicate_creates"] == 0
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        by_stage = {s.stage: s for s in journal.jobs()}
        out = {stage: journal.outputs(s.key)[0].remote_id for stage, s in by_stage.items()}
        request = {stage: s.request for stage, s in by_stage.items()}
    assert request["v2_clip"] is not None and request["v1_cut"] is not None
    frame = request["v2_clip"]["parameters"]["guidances"]["start_frame"][0]["image"]
    assert frame == {"id": out["v1_still"], "type": "GENERATED"}
    assert request["v1_cut"]["id"] == out["v2_still"]
    for stage in ("v2_edit", "v2_cut"):
        ref = request[stage]["parameters"]["guidances"]["image_reference"][0]["image"]  # type: ignore[index]
        assert ref == {"id": out["v2_still"], "type": "GENERATED"}
    big = request["v2_big"]["parameters"]["guidances"]["image_reference"][0]["image"]  # type: ignore[index]
    assert big == {"id": out["v1_cut"], "type": "VARIATION"}
