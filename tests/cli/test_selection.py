"""Job selection on the real CLI against a loopback emulator: exact creates per selection, and
pilot-then-promote without a job submitted twice."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leobatch.run.journal import Journal
from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle

TIME_SCALE = 0.01

# 2 models x 3 styles x 2 seeds = 12 shots -> 12 cutouts
RECIPE = """\
version: 1
name: grid
matrix:
  model: [lightning-xl, phoenix-1.0]
  style: [CINEMATIC, MOODY, STOCK_PHOTO]
  seed: [11, 42]
retry: {failed_jobs: 0}
defaults:
  image: {width: 512, height: 512, num_images: 1}
stages:
  shot:
    kind: image
    model: "{{ model }}"
    prompt: "a lighthouse, {{ style | lower }}"
    params: {presetStyle: "{{ style }}", seed: "{{ seed }}", contrast: 3.5}
  cutout:
    kind: nobg
    from: shot
"""


_leobatch = on_emulator


def _creates(emu: EmulatorHandle) -> int:
    stats: dict[str, Any] = emu.stats()
    return sum(n for route, n in stats["requests"].items() if route.startswith("POST /") and (
        "generations" in route or "variations" in route))  # fmt: skip


def _run(emu: EmulatorHandle, recipe: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    return _leobatch(emu, "run", str(recipe), "--yes", "--time-scale", str(TIME_SCALE), *selection)


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(RECIPE)
    return path


@pytest.mark.parametrize(
    ("selection", "creates"),
    [
        (("--where", "model=phoenix-1.0"), 12),
        (("--where", "style!=MOODY", "--where", "seed=11"), 8),
        (("--where", "stage=shot", "--where", "style=CINEMATIC,MOODY"), 8),
        (("--stage", "shot"), 12),
        (("--stage", "cutout", "--limit", "3"), 6),
        (("--limit", "5"), 5),
        (("--sample", "1", "--by", "model,style"), 12),
        (("--sample", "1"), 2),
    ],
)
def test_each_selection_submits_exactly_its_jobs(
    make_emulator: Callable[..., EmulatorHandle],
    recipe: Path,
    selection: tuple[str, ...],
    creates: int,
) -> None:
    """The emulator sees exactly as many creates as the selection has jobs."""
    emu = make_emulator(time_scale=TIME_SCALE)
    done = _run(emu, recipe, *selection)
    assert done.returncode == 0, done.stderr
    assert _creates(emu) == creates
    plan = _leobatch(emu, "plan", str(recipe), "--json", *selection)
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["selection"]["jobs"] == creates
    assert data["selection"]["of"] == 24
    assert data["diff"] == {"new": 0, "done": creates, "removed": 0, "in_flight": 0}


def test_pilot_then_promote_submits_no_job_twice(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """run --sample 1 --by model,style, then run: every job once, the pilot's reused."""
    emu = make_emulator(time_scale=TIME_SCALE)
    pilot = _run(emu, recipe, "--sample", "1", "--by", "model,style")
    assert pilot.returncode == 0, pilot.stderr
    assert "selection (--sample 1 --by model,style): 12 of 24 jobs; left out: shot 6, cutout 6" in (
        pilot.stdout
    )
    full = _run(emu, recipe)
    assert full.returncode == 0, full.stderr
    stats = emu.stats()
    assert _creates(emu) == 24
    assert stats["duplicate_creates"] == 0
    manifest = json.loads((recipe.parent / "out" / "grid" / "manifest.json").read_text())
    assert manifest["totals"]["complete"] == 24


def test_a_pilot_manifest_still_lists_every_job(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """A selected run journals and lists the whole plan; what it left out stays planned."""
    emu = make_emulator(time_scale=TIME_SCALE)
    assert _run(emu, recipe, "--limit", "4").returncode == 0
    manifest = json.loads((recipe.parent / "out" / "grid" / "manifest.json").read_text())
    assert len(manifest["jobs"]) == 24
    assert manifest["totals"]["complete"] == 4
    assert manifest["totals"]["pending"] == 20


def test_failed_reruns_only_the_failed_jobs(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """--failed resubmits each failed job once and nothing else."""
    emu = make_emulator(time_scale=TIME_SCALE, fail_rate=0.3, seed=4)
    first = _run(emu, recipe)
    assert first.returncode == 3, first.stderr
    with Journal.open_readonly(recipe.parent / "out" / "grid") as journal:
        failed = len(journal.in_state("failed"))
    assert failed > 0
    before = _creates(emu)
    again = _run(emu, recipe, "--failed")
    assert again.returncode in (0, 3), again.stderr
    assert _creates(emu) - before == failed


def test_status_summarises_only_the_selected_jobs(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """status --where/--stage counts the selected jobs; without the recipe it is a usage error."""
    emu = make_emulator(time_scale=TIME_SCALE)
    assert _run(emu, recipe, "--where", "model=phoenix-1.0").returncode == 0
    whole = json.loads(_leobatch(emu, "status", str(recipe), "--json").stdout)
    assert (whole["jobs"], whole["done"]) == (24, 12)
    mine = _leobatch(emu, "status", str(recipe), "--json", "--where", "model=phoenix-1.0")
    data = json.loads(mine.stdout)
    assert (data["jobs"], data["done"], data["pending"]) == (12, 12, 0)
    assert data["selection"] == {"options": "--where model=phoenix-1.0", "jobs": 12}
    shots = json.loads(_leobatch(emu, "status", str(recipe), "--json", "--stage", "shot").stdout)
    assert (shots["jobs"], shots["done"]) == (12, 6)
    no_recipe = _leobatch(
        emu, "status", "--dir", str(recipe.parent / "out" / "grid"), "--stage", "shot"
    )
    assert no_recipe.returncode == 2
    assert "selecting jobs needs the RECIPE" in no_recipe.stderr


def test_report_shows_only_the_selected_jobs(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """report --where / --stage: the pages count exactly the selected jobs."""
    emu = make_emulator(time_scale=TIME_SCALE)
    assert _run(emu, recipe).returncode == 0
    whole = _leobatch(emu, "report", str(recipe))
    assert whole.stdout.splitlines()[0].startswith("2 stages, 24 jobs, 24 outputs")
    phoenix = _leobatch(emu, "report", str(recipe), "--where", "model=phoenix-1.0")
    assert phoenix.returncode == 0, phoenix.stderr
    assert phoenix.stdout.splitlines()[0].startswith("2 stages, 12 jobs, 12 outputs")
    shots = _leobatch(emu, "report", str(recipe), "--stage", "shot", "--where", "seed=11")
    assert shots.stdout.splitlines()[0].startswith("1 stage, 6 jobs, 6 outputs")


def test_the_reports_per_cell_command_selects_just_that_cell(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """The command a report cell offers, run as plan, selects that one job (and its upstream)."""
    import shlex

    from leobatch.report.model import read_manifest, rerun_command

    emu = make_emulator(time_scale=TIME_SCALE)
    assert _run(emu, recipe).returncode == 0
    manifest = read_manifest(recipe.parent / "out" / "grid" / "manifest.json")
    for job in manifest.jobs[:: len(manifest.jobs) // 4]:
        words = shlex.split(rerun_command(str(recipe), job))
        assert words[:3] == ["leobatch", "run", str(recipe)]
        plan = _leobatch(emu, "plan", str(recipe), "--json", *words[3:])
        assert plan.returncode == 0, plan.stderr
        expected = 1 if job.upstream is None else 2
        assert json.loads(plan.stdout)["selection"]["jobs"] == expected, words
