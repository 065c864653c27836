"""Job selection: --where, --stage, --failed, --sample K --by AXES, --limit, with exact counts."""

from __future__ import annotations

import pytest

from leobatch.plan import expand_plan
from leobatch.plan.jobs import Plan
from leobatch.plan.select import Selection, SelectionError, parse_where, select_jobs
from leobatch.recipe import load_recipe

# 2 models x 3 styles x 2 seeds = 12 shots (1 image each) -> 12 cutouts -> 24 upscales (2 mults)
RECIPE = """\
version: 1
name: grid
matrix:
  model: [lightning-xl, phoenix-1.0]
  style: [CINEMATIC, MOODY, STOCK_PHOTO]
  seed: [11, 42]
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
  large:
    kind: universal-upscale
    from: cutout
    matrix: {mult: [1.5, 2.0]}
    params: {upscaleMultiplier: "{{ mult }}"}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("select") / "grid.yaml"
    path.write_text(RECIPE)
    return expand_plan(load_recipe(path))


def _count(plan: Plan, **kw: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in select_jobs(plan, Selection(**kw)):  # type: ignore[arg-type]
        counts[job.stage] = counts.get(job.stage, 0) + 1
    return counts


def test_everything_by_default(plan: Plan) -> None:
    """No options: the plan's 48 jobs, as they are."""
    assert select_jobs(plan, Selection()) == plan.jobs
    assert _count(plan) == {"shot": 12, "cutout": 12, "large": 24}


def test_where_selects_matrix_values_with_their_upstream(plan: Plan) -> None:
    """model=phoenix-1.0 keeps half; mult=2.0 keeps 12 upscales and the 24 jobs they need."""
    assert _count(plan, where=(parse_where("model=phoenix-1.0"),)) == {
        "shot": 6, "cutout": 6, "large": 12,
    }  # fmt: skip
    assert _count(plan, where=(parse_where("mult=2.0"),)) == {
        "shot": 12, "cutout": 12, "large": 12,
    }  # fmt: skip
    assert _count(plan, where=(parse_where("stage=shot"), parse_where("seed=11,42"))) == {
        "shot": 12
    }
    assert _count(
        plan, where=(parse_where("style!=MOODY,STOCK_PHOTO"), parse_where("stage=shot"))
    ) == {"shot": 4}


def test_stage_brings_the_upstream_jobs_it_needs(plan: Plan) -> None:
    """--stage cutout: 12 cutouts and their 12 shots, no upscale."""
    assert _count(plan, stages=("cutout",)) == {"shot": 12, "cutout": 12}


def test_failed_selects_only_failed_jobs(plan: Plan) -> None:
    """--failed: the journal's failed jobs (and the rendered upstream they consume)."""
    failed = {plan.jobs[-1].key, plan.jobs[0].key}
    chosen = select_jobs(plan, Selection(failed=True), failed_keys=failed)
    assert plan.jobs[0] in chosen and plan.jobs[-1] in chosen
    assert len(chosen) == 4  # the last upscale brings its cutout and shot


def test_sample_is_stratified_deterministic_and_renders_whole_pipelines(plan: Plan) -> None:
    """--sample 1 --by model,style: one pipeline per (model, style) cell, the same every time."""
    selection = Selection(sample=1, sample_by=("model", "style"))
    chosen = select_jobs(plan, selection)
    assert _count(plan, sample=1, sample_by=("model", "style")) == {
        "shot": 6, "cutout": 6, "large": 6,
    }  # fmt: skip
    assert chosen == select_jobs(plan, selection)
    shots = [job for job in chosen if job.stage == "shot"]
    cells = {(job.matrix["model"], job.matrix["style"]) for job in shots}
    assert len(cells) == 6
    keys = {job.key for job in chosen}
    assert all(job.upstream is None or job.upstream.key in keys for job in chosen)
    assert _count(plan, sample=2) == {"shot": 2, "cutout": 2, "large": 2}


def test_limit_keeps_the_first_selected_jobs_and_their_upstream(plan: Plan) -> None:
    """--limit N: the first N jobs the filters keep, plus the upstream jobs those need."""
    assert select_jobs(plan, Selection(limit=5)) == plan.jobs[:5]
    assert _count(plan, stages=("large",), limit=3) == {"shot": 2, "cutout": 2, "large": 3}


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (
            Selection(where=(parse_where("modle=x"),)),
            "--where 'modle': no such axis; did you mean 'model'?",
        ),
        (Selection(stages=("cutuot",)), "--stage 'cutuot': no such stage; did you mean 'cutout'?"),
        (Selection(sample=1, sample_by=("colour",)), "--by 'colour': no such axis"),
        (Selection(limit=0), "--limit must be at least 1"),
    ],
)
def test_mistakes_are_clear_errors(plan: Plan, selection: Selection, message: str) -> None:
    """A typo in a selection is named, with a suggestion."""
    with pytest.raises(SelectionError) as caught:
        select_jobs(plan, selection)
    assert str(caught.value).startswith(message)


def test_where_needs_key_and_value() -> None:
    """--where without '=' is a usage error."""
    with pytest.raises(SelectionError, match="expected KEY=VALUE"):
        parse_where("model")
    assert str(parse_where("seed!=1,2")) == "seed!=1,2"


def test_selection_never_changes_a_key(plan: Plan) -> None:
    """The selected jobs are the plan's own objects: same keys, same requests."""
    chosen = select_jobs(plan, Selection(where=(parse_where("seed=42"),)))
    by_key = {job.key: job for job in plan.jobs}
    assert len(chosen) == 24
    assert all(by_key[job.key] is job for job in chosen)
