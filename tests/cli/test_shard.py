"""``--shard I/N``: a deterministic part of the plan, whole pipelines, balanced by job count; the
shards' union is the plan and their intersection empty."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leobatch.plan import plan_recipe
from leobatch.plan.jobs import Job, Upstream
from leobatch.plan.select import Selection, SelectionError, select_jobs, shard_jobs
from tests.cli.support import leobatch, on_emulator
from tests.conftest import EmulatorHandle

# 3 colourways x 2 seeds = 6 shots; 2 images each -> 12 cutouts: 6 pipelines of 3 jobs.
RECIPE = """\
version: 1
name: sneakers
matrix:
  colorway: [red, navy, olive]
  seed: [11, 42]
defaults:
  image: {width: 512, height: 512, num_images: 2}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: "a {{ colorway }} sneaker, side view"
    params: {seed: "{{ seed }}"}
  cutout:
    kind: nobg
    from: shot
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "sneakers.yaml"
    path.write_text(RECIPE)
    return path


def _creates(emu: EmulatorHandle) -> dict[str, int]:
    """Create requests the emulator saw, per route (pricing calls are not creates)."""
    requests: dict[str, int] = emu.stats()["requests"]
    return {
        route: n
        for route, n in requests.items()
        if route.startswith("POST /") and ("generations" in route or "variations" in route)
    }


def _roots(jobs: tuple[Job, ...]) -> dict[str, str]:
    """Each job's pipeline root (the job at the top of its upstream chain)."""
    root: dict[str, str] = {}
    for job in jobs:
        up = job.upstream.key if job.upstream is not None else None
        root[job.key] = root[up] if up is not None and up in root else job.key
    return root


def test_shards_partition_the_plan_into_whole_pipelines(recipe: Path) -> None:
    """Three shards of a 2-stage recipe: disjoint, union the plan, 2 pipelines (6 jobs) each."""
    plan = plan_recipe(recipe)
    shards = [select_jobs(plan, Selection(shard=(i, 3))) for i in (1, 2, 3)]
    keys = [{job.key for job in shard} for shard in shards]
    assert [len(k) for k in keys] == [6, 6, 6]
    assert set().union(*keys) == {job.key for job in plan.jobs}
    assert sum(len(k) for k in keys) == len(plan.jobs)
    root = _roots(plan.jobs)
    for shard in keys:  # a pipeline root in a shard brings every job downstream of it
        roots = {root[key] for key in shard}
        assert shard == {key for key, r in root.items() if r in roots}
    for shard in shards:  # plan order kept
        order = [job.key for job in plan.jobs if job.key in {j.key for j in shard}]
        assert [job.key for job in shard] == order


def test_a_shard_is_the_same_on_every_plan(recipe: Path, tmp_path: Path) -> None:
    """The deal depends only on the jobs: a second plan of a copy of the recipe deals the same."""
    copy = tmp_path / "elsewhere" / "sneakers.yaml"
    copy.parent.mkdir()
    copy.write_text(RECIPE)
    for i in (1, 2, 3, 4):
        first = select_jobs(plan_recipe(recipe), Selection(shard=(i, 4)))
        second = select_jobs(plan_recipe(copy), Selection(shard=(i, 4)))
        assert [job.key for job in first] == [job.key for job in second]


def test_other_options_narrow_within_the_shard(recipe: Path) -> None:
    """--shard 1/3 --stage cutout: the shard's cutouts (and their shots), nothing of another."""
    plan = plan_recipe(recipe)
    shard = {job.key for job in select_jobs(plan, Selection(shard=(1, 3)))}
    narrowed = select_jobs(plan, Selection(shard=(1, 3), limit=1))
    assert len(narrowed) == 1
    assert narrowed[0].key in shard
    cutouts = select_jobs(plan, Selection(shard=(1, 3), stages=("cutout",)))
    assert {job.key for job in cutouts} == shard


def test_more_shards_than_pipelines_leaves_some_empty(recipe: Path) -> None:
    """Eight shards of six pipelines: six of them hold one pipeline, two hold nothing."""
    plan = plan_recipe(recipe)
    sizes = sorted(len(select_jobs(plan, Selection(shard=(i, 8)))) for i in range(1, 9))
    assert sizes == [0, 0, 3, 3, 3, 3, 3, 3]


@st.composite
def _forests(draw: st.DrawFn) -> tuple[tuple[Job, ...], int]:
    """Plans of random pipelines (each job's upstream an earlier job or none) and a shard count."""
    n = draw(st.integers(min_value=0, max_value=40))
    jobs: list[Job] = []
    for i in range(n):
        up = draw(st.none() | st.integers(min_value=0, max_value=i - 1)) if i else None
        upstream = Upstream(jobs[up].key, 0) if up is not None else None
        jobs.append(Job(f"k{i:03d}", "s", "image", "/generations", {}, upstream=upstream))
    return tuple(jobs), draw(st.integers(min_value=1, max_value=7))


@settings(max_examples=200, deadline=None)
@given(_forests())
def test_any_plan_shards_into_a_balanced_partition(forest: tuple[tuple[Job, ...], int]) -> None:
    """Disjoint, covering, whole pipelines, and no shard more than the largest pipeline heavier
    than another."""
    jobs, count = forest
    shards = [shard_jobs(jobs, i, count) for i in range(1, count + 1)]
    keys = [{job.key for job in shard} for shard in shards]
    assert sum(len(k) for k in keys) == len(jobs)
    assert set().union(*keys) == {job.key for job in jobs}
    root = _roots(jobs)
    shard_of_root = {root[key]: i for i, shard in enumerate(keys) for key in shard}
    assert all(shard_of_root[root[key]] == i for i, shard in enumerate(keys) for key in shard)
    sizes = [len(k) for k in keys]
    largest = max((list(root.values()).count(r) for r in set(root.values())), default=0)
    assert max(sizes) - min(sizes) <= largest


def test_shard_jobs_refuses_an_index_outside_the_count() -> None:
    """The function checks what the CLI parses, for callers of the Python API."""
    with pytest.raises(SelectionError, match="between 1 and 3"):
        shard_jobs((), 4, 3)


def test_plan_previews_a_shard(recipe: Path) -> None:
    """plan --shard 2/3 --json: the shard's jobs and outputs, of the whole plan's."""
    done = leobatch("plan", str(recipe), "--offline", "--json", "--shard", "2/3")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["jobs"] == 6
    assert data["outputs"] == 8  # 2 shots x 2 images + 4 cutouts
    assert data["selection"] == {
        "options": "--shard 2/3",
        "jobs": 6,
        "of": 18,
        "left_out": {"shot": 4, "cutout": 8},
    }
    human = leobatch("plan", str(recipe), "--offline", "--shard", "2/3")
    assert "selection (--shard 2/3): 6 of 18 jobs; left out: shot 4, cutout 8" in human.stdout


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("0/3", "Error: --shard 0/3: I must be between 1 and 3 (shards count from 1)"),
        ("4/3", "Error: --shard 4/3: I must be between 1 and 3 (shards count from 1)"),
        ("x/y", "Error: --shard 'x/y': expected I/N, e.g. 2/4 (the 2nd of 4 shards)"),
        ("3", "Error: --shard '3': expected I/N, e.g. 2/4 (the 2nd of 4 shards)"),
        ("-1/3", "Error: --shard '-1/3': expected I/N, e.g. 2/4 (the 2nd of 4 shards)"),
        ("1/0", "Error: --shard 1/0: N (the number of shards) must be at least 1"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_bad_shard_is_a_usage_error(
    recipe: Path, tmp_path: Path, command: str, shard: str, message: str
) -> None:
    """Exit 2 with the message, no traceback, nothing written."""
    extra = ("--offline",) if command == "plan" else ("--emulator", "--yes")
    done = leobatch(command, str(recipe), *extra, "--shard", shard)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_run_renders_only_its_shard(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """run --shard 3/3: the emulator sees that shard's 6 creates; the manifest lists all 18 jobs,
    the other shards' planned."""
    emu = make_emulator()
    done = on_emulator(emu, "run", str(recipe), "--yes", "--time-scale", "0.01", "--shard", "3/3")
    assert done.returncode == 0, done.stderr
    assert _creates(emu) == {"POST /generations": 2, "POST /variations/nobg": 4}
    manifest = json.loads((recipe.parent / "out" / "sneakers" / "manifest.json").read_text())
    shard = {job.key for job in select_jobs(plan_recipe(recipe), Selection(shard=(3, 3)))}
    complete = {job["key"] for job in manifest["jobs"] if job["status"] == "complete"}
    assert complete == shard
    assert manifest["totals"] == {**manifest["totals"], "jobs": 18, "complete": 6, "pending": 12}


def test_an_empty_shard_runs_nothing_and_succeeds(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """A shard with no pipeline (8 shards of 6) exits 0 without a create: a CI matrix wider
    than the plan still passes."""
    emu = make_emulator()
    empty = next(
        i for i in range(1, 9) if not select_jobs(plan_recipe(recipe), Selection(shard=(i, 8)))
    )
    done = on_emulator(
        emu, "run", str(recipe), "--yes", "--time-scale", "0.01", "--shard", f"{empty}/8"
    )
    assert done.returncode == 0, done.stderr
    assert _creates(emu) == {}
    manifest = json.loads((recipe.parent / "out" / "sneakers" / "manifest.json").read_text())
    assert manifest["totals"]["pending"] == 18
