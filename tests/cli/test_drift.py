"""Drift in ``status``: charged against estimated per model and price class (issue #12, 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.acct_support import pipeline_recipe, run
from tests.cli.support import on_emulator


def _status(emu: Any, recipe: Path) -> dict[str, Any]:
    done = on_emulator(emu, "status", str(recipe), "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_charges_as_estimated_show_no_drift(emulator: Any, tmp_path: Path) -> None:
    """An emulator charging the rate card: each class drifts 0, nothing is called stale."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs")
    made = run(emulator, recipe)
    drift = _status(emulator, recipe)["drift"]
    assert {(d["model"], d["jobs"]) for d in drift} == {("lightning-xl", 2), (None, 2)}
    for row in drift:
        assert row["drift"] == 0 and row["drift_pct"] == 0.0 and row["stale"] is None
        assert row["unit"] == "CREDITS" and row["unknown_estimates"] == 0
    charged = sum(j["credits_charged"] for j in made["jobs"])
    assert sum(d["charged"] for d in drift) == charged


def test_charges_above_the_estimate_name_the_stale_figure(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Leonardo charging 20% more than the rate card: that drift, the stale figure named."""
    emu = make_emulator(price_factor=1.2)
    recipe = pipeline_recipe(tmp_path / "a", "mugs", cutout=False)
    run(emu, recipe)
    (row,) = _status(emu, recipe)["drift"]
    assert row["model"] == "lightning-xl" and row["jobs"] == 2
    per_job = row["estimated"] // 2
    expected = (round(per_job * 1.2) - per_job) / per_job * 100  # the emulator rounds a charge
    assert row["drift_pct"] == round(expected, 2)
    assert row["drift"] == row["charged"] - row["estimated"] > 0
    assert "rate card" in row["stale"] and f"({expected:+.1f}%)" in row["stale"]
    human = on_emulator(emu, "status", str(recipe)).stdout
    assert "drift (charged against estimated, per model and price class):" in human
    assert "! lightning-xl IMAGE_GENERATION" in human and "is stale" in human
    assert f"{expected:+.1f}%" in human


def test_a_small_drift_is_not_called_stale(make_emulator: Any, tmp_path: Path) -> None:
    """Within 5%: the drift is shown, no figure is called stale."""
    emu = make_emulator(price_factor=1.04)
    recipe = pipeline_recipe(tmp_path / "a", "mugs", cutout=False)
    text = recipe.read_text(encoding="utf-8")
    text = text.replace(
        "width: 512, height: 512, num_images: 1", "width: 1024, height: 1024, num_images: 4"
    )
    recipe.write_text(text, encoding="utf-8")
    run(emu, recipe)
    (row,) = _status(emu, recipe)["drift"]
    assert 0 < row["drift_pct"] <= 5.0 and row["stale"] is None  # 40 credits a job, 42 charged


def test_an_unknown_estimate_shows_unknown_never_zero(emulator: Any, tmp_path: Path) -> None:
    """A job of a model with no known price: its estimate is "unknown", its charge counted."""
    folder = tmp_path / "v2"
    folder.mkdir()
    recipe = folder / "banana.yaml"
    recipe.write_text(
        "version: 1\nname: banana\nstages:\n  still:\n    kind: image\n"
        "    model: nano-banana-pro\n    prompt: a ripe banana\n",
        encoding="utf-8",
    )
    run(emulator, recipe, "--allow-unknown-prices")
    (row,) = _status(emulator, recipe)["drift"]
    assert row["unknown_estimates"] == 1 and row["estimated"] is None
    assert row["drift"] is None and row["drift_pct"] is None and row["charged"] > 0
    human = on_emulator(emulator, "status", str(recipe)).stdout
    line = next(x for x in human.splitlines() if "gemini" in x or "nano" in x)
    assert "unknown" in line


def test_the_report_shows_drift_and_the_stale_figure(make_emulator: Any, tmp_path: Path) -> None:
    """The report's index has the same drift table as status, stale figure included."""
    emu = make_emulator(price_factor=1.2)
    recipe = pipeline_recipe(tmp_path / "a", "mugs", cutout=False)
    run(emu, recipe)
    (row,) = _status(emu, recipe)["drift"]
    done = on_emulator(emu, "report", str(recipe), "-o", str(tmp_path / "report"))
    assert done.returncode == 0, done.stderr
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert '<section id="drift">' in index
    assert f"{row['drift_pct']:+.1f}%" in index
    assert "rate card" in index and "is stale" in index
