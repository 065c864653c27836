"""``leobatch history``: the account's generations, newest first, with the jobs that made them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.acct_support import direct_generation, pipeline_recipe, run
from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle


def _history(emu: EmulatorHandle, *args: str) -> dict[str, Any]:
    done = on_emulator(emu, "history", "--json", *args)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_history_names_the_recipe_stage_and_job_of_each_generation(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Two recipes' generations and variations are marked with their stage and job; a
    generation made otherwise is "not made by leobatch"; newest first."""
    mugs = run(emulator, pipeline_recipe(tmp_path / "a", "mugs"))
    foreign = direct_generation(emulator, "made by hand")
    cups = run(emulator, pipeline_recipe(tmp_path / "b", "cups", ("green",)))
    data = _history(emulator)
    rows = {row["id"]: row for row in data["rows"]}
    for recipe, made in (("mugs", mugs), ("cups", cups)):
        for job in made["jobs"]:
            row = rows[job["remote_id"]]
            assert row["made_by"]["recipe"] == recipe
            assert row["made_by"]["stage"] == job["stage"]
            assert row["made_by"]["job"] == job["key"]
            assert row["type"] == ("generation" if job["stage"] == "render" else "variation")
            assert row["status"] == "COMPLETE"
            assert row["credits"] == job["credits_charged"] is not None
            assert [Path(f).name for f in row["files"]] == [
                Path(o["path"]).name for o in job["outputs"]
            ]
            assert all(Path(f).is_file() for f in row["files"])
    assert rows[foreign]["made_by"] is None and rows[foreign]["files"] == []
    assert data["generations"] == 4  # 2 mugs + 1 cup + the foreign one
    generations = [r for r in data["rows"] if r["type"] == "generation"]
    assert [r["created_at"] for r in generations] == sorted(
        (r["created_at"] for r in generations), reverse=True
    )
    assert generations[0]["made_by"]["recipe"] == "cups"  # the newest
    assert {r["model"] for r in generations if r["made_by"]} == {"lightning-xl"}


def test_history_of_one_recipe_lists_only_its_generations(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """With RECIPE: just what that recipe's runs made, variations with their generations."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs")
    mugs = run(emulator, recipe)
    run(emulator, pipeline_recipe(tmp_path / "b", "cups"))
    direct_generation(emulator, "made by hand")
    data = _history(emulator, str(recipe))
    assert {r["id"] for r in data["rows"]} == {j["remote_id"] for j in mugs["jobs"]}
    assert {r["made_by"]["recipe"] for r in data["rows"]} == {"mugs"}


def test_history_pages_through_the_listing_and_stops_at_the_limit(
    make_emulator: Any, tmp_path: Path
) -> None:
    """More generations than one page (50): all listed; --limit stops paging early."""
    emu = make_emulator(slots=20)
    made = run(emu, pipeline_recipe(tmp_path / "a", "mugs"))
    for n in range(60):
        direct_generation(emu, f"filler {n}")
    everything = _history(emu)
    assert everything["generations"] == 62 and everything["pages"] == 2
    ours = {r["id"] for r in everything["rows"] if r["made_by"] is not None}
    assert ours == {j["remote_id"] for j in made["jobs"]}  # the oldest, on the second page
    limited = _history(emu, "--limit", "5")
    assert limited["generations"] == 5 and limited["pages"] == 1
    assert all(r["made_by"] is None for r in limited["rows"])  # the five newest fillers


def test_since_keeps_only_newer_generations(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """--since a date after every generation lists none; a bad date is a usage error."""
    run(emulator, pipeline_recipe(tmp_path / "a", "mugs"))
    assert _history(emulator, "--since", "2000-01-01")["generations"] == 2
    later = _history(emulator, "--since", "2999-01-01")
    assert later["rows"] == [] and later["pages"] == 1
    bad = on_emulator(emulator, "history", "--since", "yesterday")
    assert bad.returncode == 2
    assert "'yesterday' is not a date" in bad.stderr and "Traceback" not in bad.stderr


def test_human_history_shows_stages_and_strangers(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """The table names recipe/stage and job, and says "not made by leobatch" otherwise."""
    mugs = run(emulator, pipeline_recipe(tmp_path / "a", "mugs", ("red",)))
    direct_generation(emulator, "made by hand")
    done = on_emulator(emulator, "history")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["created", "id", "status", "model", "credits", "made", "by", "file"]
    assert "not made by leobatch" in lines[1]  # newest first
    render = next(j for j in mugs["jobs"] if j["stage"] == "render")
    assert any(f"mugs/render {render['key'][:12]}" in line for line in lines)
    assert any("└" in line and "mugs/cutout" in line for line in lines)
    assert lines[-1].startswith("2 generation(s), 1 made by leobatch")
