"""`plan --diff` lines on a terminal: 50 per section, then a count; each cut to the width."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from leobatch import expand_plan, load_recipe
from leobatch.cli._review import diff_lines
from leobatch.plan.jobs import Plan
from leobatch.pricing.offline import price_offline
from leobatch.run.diff import PlanDiff

RECIPE = """\
version: 1
name: many
matrix:
  seed: {file: seeds.txt}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: "a very long prompt about a lighthouse on a cliff at dusk, seed {{ seed }}"
    params: {seed: "{{ seed | int }}", num_images: 1}
"""


@pytest.fixture
def plan_diff(tmp_path: Path) -> tuple[Plan, PlanDiff, Mapping[str, int | None]]:
    (tmp_path / "seeds.txt").write_text("".join(f"{n}\n" for n in range(60)))
    (tmp_path / "r.yaml").write_text(RECIPE)
    priced = price_offline(expand_plan(load_recipe(tmp_path / "r.yaml")))
    keys = frozenset(job.key for job in priced.plan.jobs)
    return priced.plan, PlanDiff(new=keys, done=frozenset(), removed=0, charged=0), priced.credits


def test_a_terminal_sees_50_jobs_per_section_cut_to_its_width(
    plan_diff: tuple[Plan, PlanDiff, Mapping[str, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 jobs to render: 50 lines, '... and 10 more', every line within COLUMNS."""
    monkeypatch.setenv("COLUMNS", "60")
    plan, changes, credits = plan_diff
    lines = diff_lines(plan, changes, credits, terminal=True)
    assert lines[0] == "To render (60):"
    assert lines[51] == "  ... and 10 more (--json lists them all)"
    assert lines[52:] == ["Already rendered: none", "No longer in the recipe: none"]
    assert all(len(line) <= 60 for line in lines)
    assert lines[1].endswith("...") and lines[1].startswith("  + ")


def test_off_a_terminal_every_job_is_listed_whole(
    plan_diff: tuple[Plan, PlanDiff, Mapping[str, int | None]],
) -> None:
    """Off a terminal (a CI log) nothing is cut: 60 lines, each with its whole prompt."""
    plan, changes, credits = plan_diff
    lines = diff_lines(plan, changes, credits, terminal=False)
    assert len(lines) == 63
    assert lines[1].endswith("a very long prompt about a lighthouse on a cliff at dusk, seed 0")


def test_a_breakdown_of_10000_rows_takes_seconds_not_a_minute() -> None:
    """--by seed over 10,000 jobs: summed and laid out in seconds (a rich table took ~50 s)."""
    import time

    from leobatch.cli._review import by_lines
    from leobatch.plan.jobs import Job
    from leobatch.plan.summary import breakdown
    from leobatch.pricing.priced import PricedPlan

    jobs = tuple(
        Job(key=f"{n:064x}", stage="shot", kind="image", endpoint="/generations", body={},
            matrix={"model": "flux-dev", "seed": n}, outputs=1)
        for n in range(10_000)
    )  # fmt: skip
    plan = Plan("big", Path("r.yaml"), "0", "0", Path("out"), ("shot",), jobs)
    priced = PricedPlan(plan, {job.key: 13 for job in jobs}, "rate-card", 1)
    started = time.perf_counter()
    lines = by_lines(breakdown(priced, ("model", "seed")), terminal=False)
    assert time.perf_counter() - started < 5
    assert len(lines) == 2 + 10_000 + 1
    assert lines[-1].split() == ["total", "10,000", "10,000", "130,000"]
