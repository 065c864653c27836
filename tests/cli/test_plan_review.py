"""Plan review like `terraform plan` on the real CLI: `--by` breakdowns, `--diff` job lists after
a partial run and after a recipe edit, and `--exit-code` for CI gates (loopback emulator)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leobatch import expand_plan, load_recipe
from leobatch.pricing.offline import price_offline
from tests.cli.support import leobatch, on_emulator
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
    prompt: "a lighthouse, {{ style | lower }}, seed {{ seed }}"
    params: {presetStyle: "{{ style }}", seed: "{{ seed }}", contrast: 3.5}
  cutout:
    kind: nobg
    from: shot
"""


_leobatch = on_emulator


def _run(emu: EmulatorHandle, recipe: Path, *selection: str) -> None:
    done = _leobatch(emu, "run", str(recipe), "--yes", "--time-scale", str(TIME_SCALE), *selection)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(RECIPE)
    return path


def _expected_rows(recipe: Path, axes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The breakdown computed here, independently: jobs, outputs, credits per combination."""
    priced = price_offline(expand_plan(load_recipe(recipe)))
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for job in priced.plan.jobs:
        values = {a: job.stage if a == "stage" else job.matrix.get(a) for a in axes}
        row = rows.setdefault(
            tuple(values.values()),
            {"values": values, "jobs": 0, "outputs": 0, "credits": 0, "unknown_jobs": 0},
        )
        row["jobs"] += 1
        row["outputs"] += job.outputs
        row["credits"] += priced.credits[job.key] or 0
    return list(rows.values())


def test_by_breaks_credits_down_by_any_axes(recipe: Path) -> None:
    """--by model,style: one row per combination, exact, in plan order, adding up to the total."""
    result = leobatch("plan", str(recipe), "--offline", "--json", "--by", "model,style")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["by"]["rows"]
    assert data["by"]["axes"] == ["model", "style"]
    assert rows == _expected_rows(recipe, ("model", "style"))
    assert [tuple(r["values"].values()) for r in rows] == [
        (m, s) for m in ("lightning-xl", "phoenix-1.0")
        for s in ("CINEMATIC", "MOODY", "STOCK_PHOTO")
    ]  # fmt: skip
    assert all(r["jobs"] == 4 and r["outputs"] == 4 for r in rows)  # 2 seeds x (shot + cutout)
    assert sum(r["credits"] for r in rows) == data["credits"]["total"]
    assert sum(r["jobs"] for r in rows) == data["jobs"] == 24
    # Every key of the design's plan --json object is still there, unchanged.
    assert set(data) == {"recipe", "jobs", "outputs", "price_classes", "credits", "stages",
                         "diff", "balance", "budget", "by", "cost", "budget_usd",
                         "balance_usd", "price_sources"}  # fmt: skip


def test_by_table_has_a_row_per_combination_and_the_total(recipe: Path) -> None:
    """The readable --by stage,seed table: its rows and the total, with thousands separators."""
    result = leobatch("plan", str(recipe), "--offline", "--by", "stage,seed")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = _expected_rows(recipe, ("stage", "seed"))
    assert "By stage, seed" in out
    lines = [line.split() for line in out[out.index("By stage, seed") :].splitlines()]
    for row in expected:
        stage, seed = row["values"].values()
        assert [stage, str(seed), "6", "6", f"{row['credits']:,}"] in lines
    total = sum(r["credits"] for r in expected)
    assert ["total", "24", "24", f"{total:,}"] in lines


def test_by_counts_unknown_prices_apart(tmp_path: Path) -> None:
    """A row mixing priced and unpriced jobs shows 'N + k unknown'; a row of unpriced, 'unknown'."""
    (tmp_path / "r.yaml").write_text(
        "version: 1\nmatrix: {tag: [a, b]}\nstages:\n"
        "  img: {kind: image, model: lightning-xl, prompt: 'a {{ tag }} mug',\n"
        "        params: {num_images: 1}}\n"
        "  vid: {kind: image-to-video, from: img, prompt: the mug turns}\n"
        "  up: {kind: video-upscale, from: vid}\n"
    )  # fmt: skip
    data = json.loads(leobatch("plan", "r.yaml", "--offline", "--json", "--by", "tag",
                               cwd=tmp_path).stdout)  # fmt: skip
    rows = data["by"]["rows"]
    assert [r["unknown_jobs"] for r in rows] == [1, 1]  # each tag's video upscale
    assert all(r["credits"] is not None and r["jobs"] == 3 for r in rows)
    table = leobatch("plan", "r.yaml", "--offline", "--by", "tag,stage", cwd=tmp_path).stdout
    up = [line.split() for line in table.splitlines() if line.split()[1:2] == ["up"]]
    assert up == [["a", "up", "1", "1", "unknown"], ["b", "up", "1", "1", "unknown"]]
    mixed = leobatch("plan", "r.yaml", "--offline", "--by", "tag", cwd=tmp_path).stdout
    assert f"{rows[0]['credits']:,} + 1 unknown" in mixed


def test_by_with_sample_uses_the_same_axes(recipe: Path) -> None:
    """--sample 1 --by model: two shots sampled per stage, the breakdown by model of just those."""
    data = json.loads(
        leobatch(
            "plan", str(recipe), "--offline", "--json", "--sample", "1", "--by", "model"
        ).stdout
    )
    assert data["selection"]["jobs"] == 4  # 1 shot per model, and each one's cutout
    rows = data["by"]["rows"]
    assert [(r["values"]["model"], r["jobs"]) for r in rows] == [
        ("lightning-xl", 2),
        ("phoenix-1.0", 2),
    ]
    assert sum(r["credits"] for r in rows) == data["credits"]["total"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--offline", "--by", "modle"),
         "Error: --by 'modle': no such axis; did you mean 'model'? "
         "(known: stage, model, style, seed)"),
        (("status", "--by", "model"),
         "Error: --by goes with --sample (only plan takes --by alone)"),
    ],
)  # fmt: skip
def test_by_mistakes_are_usage_errors(recipe: Path, args: tuple[str, ...], message: str) -> None:
    """An unknown --by axis, and --by without --sample off plan, exit 2 with the message."""
    result = leobatch(args[0], str(recipe), *args[1:])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _sections(out: str) -> dict[str, list[str]]:
    """The --diff sections: title -> the job lines under it."""
    sections: dict[str, list[str]] = {}
    title = ""
    for line in out[out.index("To render") :].splitlines():
        if line and not line.startswith(" "):
            title = line.split(" (")[0].split(":")[0]
            sections.setdefault(title, [])
        elif line.startswith("  "):
            sections[title].append(line)
    return sections


def test_diff_lists_exact_jobs_after_a_partial_run_and_after_an_edit(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """After run --limit 5, --diff lists those 5 as rendered and the 19 others to render; after
    dropping seed 42 from the recipe, the 12 jobs of seed 42 are no longer in it, with values."""
    emu = make_emulator(time_scale=TIME_SCALE)
    _run(emu, recipe, "--limit", "5")
    plan = expand_plan(load_recipe(recipe))
    first = plan.jobs[:5]

    data = json.loads(_leobatch(emu, "plan", str(recipe), "--json", "--diff").stdout)
    jobs = data["diff_jobs"]
    assert [j["key"] for j in jobs["done"]] == [j.key for j in first]
    assert [j["key"] for j in jobs["new"]] == [j.key for j in plan.jobs[5:]]
    assert jobs["removed"] == []
    assert jobs["done"][0] == {
        "key": first[0].key, "stage": "shot", "kind": "image", "model": "lightning-xl",
        "matrix": {"model": "lightning-xl", "style": "CINEMATIC", "seed": 11},
        "prompt": "a lighthouse, cinematic, seed 11", "credits": jobs["done"][0]["credits"],
        "upstream": None,
    }  # fmt: skip
    assert isinstance(jobs["done"][0]["credits"], int)

    text = _leobatch(emu, "plan", str(recipe), "--diff").stdout
    sections = _sections(text)
    assert [line.split()[1] for line in sections["Already rendered"]] == [j.key[:12] for j in first]
    assert len(sections["To render"]) == 19
    assert sections["No longer in the recipe"] == []
    assert "No longer in the recipe: none" in text
    line = sections["Already rendered"][0].split()
    assert line[:6] == ["=", first[0].key[:12], "shot", "model=lightning-xl", "style=CINEMATIC",
                        "seed=11"]  # fmt: skip
    assert sections["Already rendered"][0].endswith("credits  a lighthouse, cinematic, seed 11")

    _run(emu, recipe)
    recipe.write_text(RECIPE.replace("seed: [11, 42]", "seed: [11]"))
    data = json.loads(_leobatch(emu, "plan", str(recipe), "--json", "--diff").stdout)
    assert data["diff"] == {"new": 0, "done": 12, "removed": 12, "in_flight": 0}
    removed = data["diff_jobs"]["removed"]
    assert {j["key"] for j in removed} == {j.key for j in plan.jobs if j.matrix["seed"] == 42}
    shot = next(j for j in removed if j["stage"] == "shot")
    assert shot["matrix"]["seed"] == 42 and shot["status"] == "complete"
    assert shot["prompt"] == f"a lighthouse, {shot['matrix']['style'].lower()}, seed 42"
    assert shot["files"] == 1 and isinstance(shot["credits_charged"], int)
    gone = _sections(_leobatch(emu, "plan", str(recipe), "--diff").stdout)[
        "No longer in the recipe"
    ]
    assert len(gone) == 12 and all("seed=42" in line and line.startswith("  - ") for line in gone)
    assert all("complete, 1 file;" in line for line in gone)


def test_exit_code_is_2_with_something_to_render_then_0(
    make_emulator: Callable[..., EmulatorHandle], recipe: Path
) -> None:
    """plan --exit-code exits 2 before the run and 0 after it; without the flag, 0 both times."""
    emu = make_emulator(time_scale=TIME_SCALE)
    assert _leobatch(emu, "plan", str(recipe), "--exit-code", "--json").returncode == 2
    assert _leobatch(emu, "plan", str(recipe)).returncode == 0
    _run(emu, recipe)
    after = _leobatch(emu, "plan", str(recipe), "--exit-code")
    assert after.returncode == 0, after.stderr
    assert "to render: 0, already rendered: 24" in after.stdout


def test_exit_code_still_exits_1_over_budget(tmp_path: Path) -> None:
    """Over budget is an error (1), not 'something to render' (2)."""
    (tmp_path / "r.yaml").write_text(RECIPE.replace("retry:", "budget: {max_credits: 10}\nretry:"))
    result = leobatch("plan", "r.yaml", "--offline", "--exit-code", cwd=tmp_path)
    assert result.returncode == 1
    assert "above the recipe's budget of 10" in result.stderr


def test_help_documents_by_diff_and_exit_code() -> None:
    """plan --help says what --by does alone and with --sample, and what --exit-code exits."""
    text = " ".join(leobatch("plan", "--help").stdout.split())
    assert "--by AXIS,... breaks credits down by any matrix axes (and `stage`)" in text
    assert "With --sample K the same axes are also the cells sampled." in text
    assert "Exit 2 when something is to be rendered, 0 when nothing is (for CI gates)" in text
