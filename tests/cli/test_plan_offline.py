"""`leobatch plan --offline`: tables, the exact --json object, budget, unknown prices."""

from __future__ import annotations

import json
from pathlib import Path

from leobatch import expand_plan, load_recipe
from leobatch.pricing.offline import price_offline
from tests.cli.support import REPO, leobatch


def test_json_is_exactly_the_design_object() -> None:
    """--json prints one object with exactly DESIGN section 7's keys (plus the per-unit money
    of issue 10) and the plan's numbers."""
    result = leobatch("plan", "recipes/upscale-pipeline.yaml", "--offline", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    priced = price_offline(expand_plan(load_recipe(REPO / "recipes/upscale-pipeline.yaml")))
    assert data == {
        "recipe": "upscale-pipeline",
        "jobs": 14,
        "outputs": 16,
        "price_classes": priced.price_classes,
        "credits": {"total": priced.total, "source": "rate-card", "unknown_jobs": 0},
        "stages": [
            {"name": "render", "kind": "image", "jobs": 2, "outputs": 4,
             "credits": sum(priced.credits[j.key] or 0 for j in priced.plan.jobs[:2])},
            {"name": "cutout", "kind": "nobg", "jobs": 4, "outputs": 4,
             "credits": sum(priced.credits[j.key] or 0 for j in priced.plan.jobs[2:6])},
            {"name": "large", "kind": "universal-upscale", "jobs": 8, "outputs": 8,
             "credits": sum(priced.credits[j.key] or 0 for j in priced.plan.jobs[6:])},
        ],
        "diff": {"new": 14, "done": 0, "removed": 0, "in_flight": 0},
        "balance": None,
        "budget": None,
        # issue 10: each unit apart, and where non-calculator prices came from
        "cost": {
            "CREDITS": {"total": priced.total, "jobs": 14},
            "DOLLARS": {"total": "0", "jobs": 0},
            "unknown_jobs": 0,
        },
        "budget_usd": None,
        "balance_usd": None,
        "price_sources": {},
    }  # fmt: skip
    assert priced.total > 0


def test_table_shows_stages_models_totals_and_source() -> None:
    """The readable output lists each stage and model, the total, and labels the estimate."""
    result = leobatch("plan", "recipes/product-batch.yaml", "--offline")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("packshot", "hero", "lightning-xl", "phoenix-1.0", "total"):
        assert needle in out
    assert "estimate: built-in rate card" in out
    assert "\x1b[" not in out  # plain text off a terminal
    total = json.loads(leobatch("plan", "recipes/product-batch.yaml", "--offline", "--json").stdout)
    assert f"credits: {total['credits']['total']:,} (estimate" in out


def test_over_budget_exits_1_with_the_numbers(tmp_path: Path) -> None:
    """A plan above budget.max_credits prints the plan, then an error with both numbers."""
    text = (
        (REPO / "recipes/quickstart.yaml")
        .read_text()
        .replace("version: 1\n", "version: 1\nbudget: {max_credits: 10}\n")
    )
    (tmp_path / "r.yaml").write_text(text)
    result = leobatch("plan", "r.yaml", "--offline", "--json", cwd=tmp_path)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["budget"] == 10
    assert f"needs {data['credits']['total']:,} credits" in result.stderr
    assert "budget of 10" in result.stderr


VIDEO_CHAIN = """\
version: 1
stages:
  img: {kind: image, model: lightning-xl, prompt: a mug, params: {num_images: 1}}
  vid: {kind: image-to-video, from: img, prompt: the mug turns}
  up: {kind: video-upscale, from: vid}
"""


def test_unknown_prices_are_counted_never_zero(tmp_path: Path) -> None:
    """A job the rate card cannot price shows as 'unknown' and is counted, not added as 0."""
    (tmp_path / "r.yaml").write_text(VIDEO_CHAIN)
    priced = price_offline(expand_plan(load_recipe(tmp_path / "r.yaml")))
    unknown = {j.stage for j in priced.plan.jobs if priced.credits[j.key] is None}
    assert unknown, "the rate card prices video upscale now: pick another unpriced job"
    data = json.loads(leobatch("plan", "r.yaml", "--offline", "--json", cwd=tmp_path).stdout)
    assert data["credits"]["unknown_jobs"] == priced.unknown_jobs == len(unknown)
    assert data["credits"]["total"] == priced.total
    assert {s["name"] for s in data["stages"] if s["credits"] is None} == unknown
    table = leobatch("plan", "r.yaml", "--offline", cwd=tmp_path).stdout
    assert f"unknown price: {len(unknown)} jobs" in table
    assert "unknown" in next(line for line in table.splitlines() if line.startswith("up "))


def test_recipe_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    """plan on an invalid recipe prints located problems and exits 1."""
    (tmp_path / "r.yaml").write_text("version: 1\nstages: {a: {kind: image, prompt: '{{ x }}'}}\n")
    result = leobatch("plan", "r.yaml", "--offline", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("r.yaml:2:")
    assert "Traceback" not in result.stderr


def test_jobs_a_killed_run_left_in_flight_are_shown_apart_not_priced_again(
    tmp_path: Path,
) -> None:
    """After a kill -9, jobs journaled submitting/submitted are in flight: paid already, so
    neither 'to render' nor priced again."""
    from leobatch.plan import plan_recipe
    from leobatch.pricing.offline import price_offline
    from leobatch.run.journal import Journal

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nname: r\nmatrix: {seed: [1, 2, 3, 4]}\nstages:\n  shot:\n"
        "    kind: image\n    model: lightning-xl\n    prompt: 'a mug {{ seed }}'\n"
        "    params: {num_images: 1, seed: '{{ seed }}'}\n"
    )
    plan = plan_recipe(recipe)
    priced = price_offline(plan)
    first, second = plan.jobs[0], plan.jobs[1]
    with Journal.open(plan.output_dir) as journal:  # what a run killed mid-flight leaves
        journal.ensure_jobs(plan.jobs, priced.credits)
        journal.mark_submitting(first.key, dict(first.body))
        journal.mark_submitting(second.key, dict(second.body))
        journal.mark_submitted(second.key, "gen-2", priced.credits[second.key])
    out = leobatch("plan", str(recipe), "--offline", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["diff"] == {"new": 2, "done": 0, "removed": 0, "in_flight": 2}
    text = leobatch("plan", str(recipe), "--offline")
    assert "in flight from an interrupted run: 2 (paid; not priced again)" in text.stdout
