"""What a run shows adds up: credits charged net of refunds, counters that never pass their
totals, and a final summary that says what the manifest and ``status`` say."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from leobatch.cli._progress import Tally
from leobatch.run.events import Event
from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle

TIME_SCALE = 0.01

RECIPE = """\
version: 1
name: counts
matrix: {seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
retry: {failed_jobs: RETRIES}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: "a mug, take {{ seed }}"
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
  cutout:
    kind: nobg
    from: shot
"""


_leobatch = on_emulator


def test_the_tally_counts_each_job_once_and_credits_net_of_refunds() -> None:
    """A FAILED job's refund comes off; a lost job done again counts once; a failed download
    is not a failed job."""
    tally = Tally(frozenset({"done-before"}), charged=10)
    for event in (
        Event("submitted", "a", "s", {"credits": 5}),
        Event("retry", "a", "s", {"reason": "FAILED", "refunded": 5}),
        Event("submitted", "a", "s", {"credits": 5}),
        Event("complete", "a", "s"),
        Event("download-failed", "a", "s", {"error": "download x: cut short"}),
        Event("lost", "a", "s", {"reason": "gone"}),
        Event("submitted", "a", "s", {"credits": 5}),
        Event("complete", "a", "s"),
        Event("submitted", "b", "s", {"credits": 7}),
        Event("failed", "b", "s", {"error": "FAILED", "refunded": 7}),
        Event("blocked", "c", "t", {"reason": "upstream s job failed"}),
    ):
        tally.take(event)
    assert tally.charged == 10 + 5 + 5
    assert tally.settled == {"done-before", "a", "b", "c"}
    assert (tally.failed, tally.blocked) == ({"b"}, {"c"})


def test_the_final_summary_is_what_the_manifest_and_status_say(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Shots that end FAILED (no retries) block their cutouts: the run, the manifest and
    status agree on complete, failed, pending and credits charged."""
    emu = make_emulator(time_scale=TIME_SCALE, fail_rate=0.3, seed=5)
    recipe = tmp_path / "counts.yaml"
    recipe.write_text(RECIPE.replace("RETRIES", "0"))
    run = _leobatch(emu, "run", str(recipe), "--yes", "--time-scale", str(TIME_SCALE))
    assert run.returncode == 3, run.stderr
    found = re.search(
        r"([\d,]+) of ([\d,]+) jobs complete, ([\d,]+) failed, ([\d,]+) pending"
        r"(?: \(([\d,]+) blocked by a failed upstream job\))?; ([\d,]+) credits charged\.",
        run.stdout,
    )
    assert found is not None, run.stdout
    complete, jobs, failed, pending, blocked, charged = (
        int((g or "0").replace(",", "")) for g in found.groups()
    )
    totals = json.loads((tmp_path / "out" / "counts" / "manifest.json").read_text())["totals"]
    assert (totals["jobs"], totals["complete"], totals["failed"], totals["pending"]) == (
        jobs, complete, failed, pending,
    )  # fmt: skip
    assert totals["credits_charged"] == charged
    assert failed > 0 and blocked > 0 and pending >= blocked
    status = json.loads(_leobatch(emu, "status", str(recipe), "--json").stdout)
    assert (status["done"], status["failed"], status["pending"]) == (complete, failed, pending)
    assert status["credits"]["charged"] == charged
    stats = emu.stats()
    assert stats["credits_charged"] - stats["credits_refunded"] == charged
