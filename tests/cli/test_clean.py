"""``leobatch clean``: exactly what a recipe's runs made goes, journaled, resumable."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from leobatch.emulator.limits import TokenBucket
from leobatch.run.cleanups import record_cleanup
from leobatch.run.journal import Journal
from tests.cli.acct_support import (
    direct_generation,
    exists,
    listed_ids,
    manifest,
    pipeline_recipe,
    run,
)
from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle


def _clean(emu: EmulatorHandle, recipe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = on_emulator(emu, "clean", str(recipe), "--yes", *args)
    assert done.returncode == 0, done.stderr
    return done


def _ids(made: dict[str, Any], stage: str) -> set[str]:
    return {j["remote_id"] for j in made["jobs"] if j["stage"] == stage}


def test_clean_remote_deletes_exactly_what_the_run_made(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The recipe's generations, their variations and its upload go; a second recipe's
    generations and a stranger's survive (checked by listing); nothing is deleted twice."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs", upload=True)
    mugs = run(emulator, recipe)
    cups = run(emulator, pipeline_recipe(tmp_path / "b", "cups"))
    foreign = direct_generation(emulator, "made by hand")
    (upload,) = {j["request"]["init_image_id"] for j in mugs["jobs"] if j["stage"] == "render"}
    done = _clean(emulator, recipe, "--remote")
    assert "To delete from the account: 2 generations, 2 variations, 1 upload" in done.stdout
    assert "Cleaned: 2 generations deleted, 1 upload deleted, 2 variations deleted." in done.stdout
    listed = listed_ids(emulator)
    assert listed == _ids(cups, "render") | {foreign}
    for variation in _ids(mugs, "cutout"):
        assert not exists(emulator, f"/variations/{variation}", "generated_image_variation_generic")
    for variation in _ids(cups, "cutout"):
        assert exists(emulator, f"/variations/{variation}", "generated_image_variation_generic")
    assert not exists(emulator, f"/init-image/{upload}", "init_images_by_pk")
    stats = emulator.stats()
    assert stats["deletes"] == 3 and stats["deleted_twice"] == 0
    assert stats["deletes_unknown"] == 0
    cleaned = manifest(recipe)["cleaned"]
    assert cleaned["remote"] == {
        "generation": 2, "variation": 2, "motion-variation": 0, "init-image": 1
    }  # fmt: skip
    assert cleaned["jobs"] == sorted(j["key"] for j in mugs["jobs"])
    status = on_emulator(emulator, "status", str(recipe), "--json")
    assert json.loads(status.stdout)["cleaned"]["remote"]["generation"] == 2
    human = on_emulator(emulator, "status", str(recipe)).stdout
    assert "cleaned   2 generations, 2 variations, 1 upload deleted from the account" in human
    again = _clean(emulator, recipe, "--remote")
    assert "Nothing to clean." in again.stdout
    assert emulator.stats()["deletes"] == 3  # a repeated clean does nothing


def test_a_clean_killed_half_way_finishes_without_deleting_twice(
    make_emulator: Any, tmp_path: Path
) -> None:
    """SIGKILL after a few deletions, run again: all gone, each id deleted once (three runs)."""
    for attempt in range(3):
        emu = make_emulator()
        colours = tuple(f"c{n}" for n in range(24))
        recipe = pipeline_recipe(tmp_path / str(attempt), "bulk", colours, cutout=False)
        made = run(emu, recipe)
        # From now on 60 requests a (scaled) minute: the clean takes long enough to be killed.
        emu.state.global_bucket = TokenBucket(60, emu.state.config.minute_s)
        keep = direct_generation(emu, "someone else's")
        journal = recipe.parent / "out" / "bulk" / ".leobatch" / "state.sqlite"
        env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "leobatch", "clean", str(recipe), "--remote", "--yes"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while _deleted(journal) < 3 + attempt * 4:
            assert proc.poll() is None, "clean ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        half = emu.stats()["deletes"]
        assert 0 < half < 24
        _clean(emu, recipe, "--remote")
        stats = emu.stats()
        assert stats["deletes"] == 24 and stats["deleted_twice"] == 0
        assert listed_ids(emu) == {keep}
        assert not _ids(made, "render") & listed_ids(emu)


def _deleted(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            return int(
                conn.execute("SELECT count(*) FROM cleanups WHERE status = 'deleted'").fetchone()[0]
            )
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # no cleanups table yet


def test_an_interrupted_delete_is_looked_up_before_it_is_sent_again(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A journaled *deleting* whose DELETE went through is not deleted again; one whose DELETE
    never left is deleted now."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs", cutout=False)
    made = run(emulator, recipe)
    sent, unsent = sorted(_ids(made, "render"))
    key_of = {j["remote_id"]: j["key"] for j in made["jobs"]}
    on_emulator(emulator, "status", str(recipe))
    import httpx

    httpx.delete(
        f"{emulator.base_url}/generations/{sent}", headers=emulator.headers
    ).raise_for_status()
    with Journal.open(recipe.parent / "out" / "mugs") as journal:
        record_cleanup(journal, "generation", sent, key_of[sent], "deleting")
        record_cleanup(journal, "generation", unsent, key_of[unsent], "deleting")
    _clean(emulator, recipe, "--remote")
    stats = emulator.stats()
    assert stats["deletes"] == 2 and stats["deleted_twice"] == 0
    assert listed_ids(emulator) == set()


def test_a_generation_already_gone_is_fine(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """Deleted elsewhere before clean: reported as already gone, exit 0."""
    import httpx

    recipe = pipeline_recipe(tmp_path / "a", "mugs", ("red",), cutout=False)
    (gone,) = _ids(run(emulator, recipe), "render")
    httpx.delete(
        f"{emulator.base_url}/generations/{gone}", headers=emulator.headers
    ).raise_for_status()
    done = _clean(emulator, recipe, "--remote")
    assert "1 generation already gone" in done.stdout


def test_a_source_a_kept_job_needs_is_kept_unless_forced(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Cleaning only the render stage keeps the generations the kept cutouts come from."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs")
    made = run(emulator, recipe)
    kept = _clean(emulator, recipe, "--remote", "--stage", "render")
    assert "still needs it as its source; --force deletes it" in kept.stdout
    assert "Nothing to clean." in kept.stdout
    assert _ids(made, "render") <= listed_ids(emulator)
    forced = _clean(emulator, recipe, "--remote", "--stage", "render", "--force")
    assert "Cleaned: 2 generations deleted." in forced.stdout
    assert not _ids(made, "render") & listed_ids(emulator)


def test_an_upload_another_recipe_uses_is_kept_unless_forced(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Two recipes share one upload: cleaning one keeps it; cleaning the other then deletes it."""
    mugs_recipe = pipeline_recipe(tmp_path / "a", "mugs", ("red",), upload=True, cutout=False)
    cups_recipe = pipeline_recipe(tmp_path / "b", "cups", ("red",), upload=True, cutout=False)
    mugs = run(emulator, mugs_recipe)
    run(emulator, cups_recipe)
    (upload,) = {j["request"]["init_image_id"] for j in mugs["jobs"]}
    first = _clean(emulator, mugs_recipe, "--remote")
    assert f"Keep upload {upload}: the recipe cups" in first.stdout
    assert exists(emulator, f"/init-image/{upload}", "init_images_by_pk")
    _clean(emulator, cups_recipe, "--remote")
    assert not exists(emulator, f"/init-image/{upload}", "init_images_by_pk")
    assert emulator.stats()["deleted_twice"] == 0


def test_clean_local_deletes_only_the_files_leobatch_wrote(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Downloaded files go; a file of the user's and an output changed since are kept; the
    account is untouched."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs")
    made = run(emulator, recipe)
    out = recipe.parent / "out" / "mugs"
    paths = [out / o["path"] for j in made["jobs"] for o in j["outputs"]]
    assert len(paths) == 4 and all(p.is_file() for p in paths)
    mine = out / "notes.txt"
    mine.write_text("mine", encoding="utf-8")
    changed = paths[0]
    changed.write_bytes(changed.read_bytes() + b"edited")
    done = _clean(emulator, recipe, "--local")
    assert f"Keep file {changed.relative_to(out).as_posix()}: changed since" in done.stdout
    assert [p.exists() for p in paths] == [True, False, False, False]
    assert mine.read_text(encoding="utf-8") == "mine"
    assert len(listed_ids(emulator)) == 2 and emulator.stats()["deletes"] == 0
    assert manifest(recipe)["cleaned"]["files"] == 3


def test_dry_run_and_usage(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """--dry-run lists and deletes nothing; no target, or no --yes off a terminal: usage errors."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs", ("red",))
    run(emulator, recipe)
    dry = on_emulator(emulator, "clean", str(recipe), "--remote", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    actions = {(i["target"], i["action"]) for i in json.loads(dry.stdout)["items"]}
    assert actions == {("generation", "delete"), ("variation", "with")}
    assert emulator.stats()["deletes"] == 0
    none = on_emulator(emulator, "clean", str(recipe), "--yes")
    assert none.returncode == 2 and "say what to clean" in none.stderr
    unasked = on_emulator(emulator, "clean", str(recipe), "--remote")
    assert unasked.returncode == 2 and "add --yes" in unasked.stderr


def test_v2_jobs_are_generations_to_delete(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """A v2 still and its v2 remove-bg are both generations: each deleted by its own id."""
    folder = tmp_path / "v2"
    folder.mkdir()
    recipe = folder / "banana.yaml"
    recipe.write_text(
        "version: 1\nname: banana\nstages:\n  still:\n    kind: image\n"
        "    model: nano-banana-pro\n    prompt: a ripe banana\n"
        "  cut:\n    kind: nobg\n    model: remove-bg\n    from: still\n",
        encoding="utf-8",
    )
    made = run(emulator, recipe, "--allow-unknown-prices")
    ids = {j["remote_id"] for j in made["jobs"]}
    assert len(ids) == 2 and ids <= listed_ids(emulator)
    done = _clean(emulator, recipe, "--remote")
    assert "Cleaned: 2 generations deleted." in done.stdout
    assert listed_ids(emulator) == set()
    assert emulator.stats()["deleted_twice"] == 0


def test_clean_is_refused_while_a_run_holds_the_output_directory(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A run writing the journal: clean says so and deletes nothing."""
    recipe = pipeline_recipe(tmp_path / "a", "mugs", ("red",), cutout=False)
    run(emulator, recipe)
    with Journal.open(recipe.parent / "out" / "mugs"):
        refused = on_emulator(emulator, "clean", str(recipe), "--remote", "--yes")
    assert refused.returncode == 1
    assert "cannot clean:" in refused.stderr and "Traceback" not in refused.stderr
    assert emulator.stats()["deletes"] == 0


def test_a_recipe_whose_shared_upload_was_force_cleaned_uploads_it_again(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """After `clean --force` deleted a shared upload, the other recipe's next job re-uploads."""
    mugs_recipe = pipeline_recipe(tmp_path / "a", "mugs", ("red",), upload=True, cutout=False)
    cups_recipe = pipeline_recipe(tmp_path / "b", "cups", ("red",), upload=True, cutout=False)
    run(emulator, mugs_recipe)
    run(emulator, cups_recipe)
    _clean(emulator, mugs_recipe, "--remote", "--force")
    assert emulator.stats()["requests"]["POST /init-image"] == 1
    text = cups_recipe.read_text(encoding="utf-8").replace("colour: [red]", "colour: [red, blue]")
    cups_recipe.write_text(text, encoding="utf-8")
    cups = run(emulator, cups_recipe)
    assert all(j["status"] == "complete" for j in cups["jobs"])
    assert emulator.stats()["requests"]["POST /init-image"] == 2
