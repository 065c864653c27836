"""`leobatch prune` on the real CLI against a loopback emulator: it deletes exactly the files and
journal rows of the jobs no longer in the recipe, never anything else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from leobatch import expand_plan, load_recipe
from leobatch.run.journal import Journal
from tests.conftest import EmulatorHandle

TIME_SCALE = 0.01

# 2 models x 2 seeds = 4 shots -> 4 cutouts, in one folder per stage and seed
RECIPE = """\
version: 1
name: grid
matrix:
  model: [lightning-xl, phoenix-1.0]
  seed: [11, 42]
defaults:
  image: {width: 512, height: 512, num_images: 1}
output:
  path: "{{ stage }}/{{ seed }}/{{ model }}-{{ index }}.{{ ext }}"
stages:
  shot:
    kind: image
    model: "{{ model }}"
    prompt: "a lighthouse, seed {{ seed }}"
    params: {seed: "{{ seed }}", contrast: 3.5}
  cutout:
    kind: nobg
    from: shot
"""


def _leobatch(
    emu: EmulatorHandle, *args: str, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    return subprocess.run(
        [sys.executable, "-m", "leobatch", *args], env=env, capture_output=True,
        stdin=subprocess.DEVNULL if stdin is None else stdin, text=True, timeout=120, check=False,
    )  # fmt: skip


def _files(root: Path) -> set[str]:
    """Every file and link under ``root`` (state files aside), relative, with '/'."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if (p.is_symlink() or p.is_file()) and ".leobatch" not in p.parts
    }


@pytest.fixture
def rendered(make_emulator: Callable[..., EmulatorHandle], tmp_path: Path) -> EmulatorHandle:
    """The recipe rendered (8 jobs, 8 files), then edited to drop seed 42 (4 jobs gone)."""
    emu = make_emulator(time_scale=TIME_SCALE)
    recipe = tmp_path / "grid.yaml"
    recipe.write_text(RECIPE)
    done = _leobatch(emu, "run", str(recipe), "--yes", "--time-scale", str(TIME_SCALE))
    assert done.returncode == 0, done.stderr
    recipe.write_text(RECIPE.replace("seed: [11, 42]", "seed: [11]"))
    return emu


def _removed_keys(tmp_path: Path) -> set[str]:
    old = tmp_path / "old.yaml"
    old.write_text(RECIPE)
    now = {job.key for job in expand_plan(load_recipe(tmp_path / "grid.yaml")).jobs}
    return {job.key for job in expand_plan(load_recipe(old)).jobs} - now


def test_prune_removes_exactly_the_removed_jobs_files_and_rows(
    rendered: EmulatorHandle, tmp_path: Path
) -> None:
    """The 4 files of seed 42 and their rows go; a user file beside them, the rest, stay; the
    folder left empty goes; a second prune does nothing."""
    out = tmp_path / "out" / "grid"
    (out / "shot" / "42" / "notes.txt").write_text("mine")
    removed = _removed_keys(tmp_path)
    with Journal.open_readonly(out) as journal:
        outputs = journal.all_outputs()
        size = sum(o.bytes or 0 for key in removed for o in outputs[key])
        kept = [s.key for s in journal.jobs() if s.key not in removed]
    before = _files(out)
    result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"Removed 4 jobs from the journal and 4 files ({size:,} bytes); 1 empty folder removed."
    )
    gone = {f"{stage}/42/{model}-0.{ext}" for stage, ext in (("shot", "jpg"), ("cutout", "png"))
            for model in ("lightning-xl", "phoenix-1.0")}  # fmt: skip
    assert gone <= before
    assert _files(out) == before - gone
    assert (out / "shot" / "42" / "notes.txt").read_text() == "mine"
    assert not (out / "cutout" / "42").exists()
    with Journal.open_readonly(out) as journal:
        assert [s.key for s in journal.jobs()] == kept
        assert not set(journal.all_outputs()) & removed
    manifest = json.loads((out / "manifest.json").read_text())
    assert {job["key"] for job in manifest["jobs"]} == set(kept)
    assert manifest["totals"]["jobs"] == manifest["totals"]["complete"] == 4

    again = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"Nothing to prune: every job the journal of {out} knows is in the recipe.\n"
    )
    assert _files(out) == before - gone


def test_prune_never_follows_a_link(rendered: EmulatorHandle, tmp_path: Path) -> None:
    """A removed job's file swapped for a link (to a copy with the same bytes) and a folder
    swapped for a link are kept, and so are what they point to; the rows still go."""
    out = tmp_path / "out" / "grid"
    precious = tmp_path / "precious.jpg"
    shutil.copy(out / "shot" / "42" / "lightning-xl-0.jpg", precious)
    (out / "shot" / "42" / "lightning-xl-0.jpg").unlink()
    (out / "shot" / "42" / "lightning-xl-0.jpg").symlink_to(precious)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "cutout" / "42", elsewhere)
    (out / "cutout" / "42").symlink_to(elsewhere, target_is_directory=True)
    outside = {p.name for p in elsewhere.iterdir()}
    assert outside == {"lightning-xl-0.png", "phoenix-1.0-0.png"}

    result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "      keep   shot/42/lightning-xl-0.jpg: a symbolic link, not followed" in lines
    assert ("      keep   cutout/42/phoenix-1.0-0.png: 'cutout/42' is a symbolic link or not a "
            "folder: not followed") in lines  # fmt: skip
    assert "      delete shot/42/phoenix-1.0-0.jpg" in "\n".join(lines)
    assert lines[-1].startswith("Removed 4 jobs from the journal and 1 file (")
    assert precious.is_file() and {p.name for p in elsewhere.iterdir()} == outside
    assert (out / "shot" / "42" / "lightning-xl-0.jpg").is_symlink()
    assert not (out / "shot" / "42" / "phoenix-1.0-0.jpg").exists()


def test_prune_keeps_a_file_changed_since_it_was_downloaded(
    rendered: EmulatorHandle, tmp_path: Path
) -> None:
    """A removed job's file with other bytes than leobatch downloaded is not its file any more."""
    out = tmp_path / "out" / "grid"
    (out / "shot" / "42" / "phoenix-1.0-0.jpg").write_bytes(b"edited by hand")
    result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    files = [f for job in data["jobs"] for f in job["files"]]
    assert {"path": "shot/42/phoenix-1.0-0.jpg", "action": "kept", "bytes": None,
            "why": "changed since leobatch downloaded it"} in files  # fmt: skip
    assert data["removed"]["jobs"] == 4 and data["removed"]["files"] == 3
    assert (out / "shot" / "42" / "phoenix-1.0-0.jpg").read_bytes() == b"edited by hand"


def test_prune_refuses_a_dir_a_run_holds(rendered: EmulatorHandle, tmp_path: Path) -> None:
    """While another process holds the output directory's lock, prune exits 1, deleting nothing."""
    out = tmp_path / "out" / "grid"
    before = _files(out)
    with Journal.open(out) as journal:
        result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes")
        assert len(journal.jobs()) == 8
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: cannot prune: another leobatch run (pid {os.getpid()} "
    )
    assert result.stderr.endswith(f" holds {out}; prune once it has finished\n")
    assert _files(out) == before


def test_prune_off_a_terminal_without_yes_is_a_usage_error(
    rendered: EmulatorHandle, tmp_path: Path
) -> None:
    """No --yes off a terminal: exit 2 and nothing deleted; --dry-run lists, deletes nothing."""
    out = tmp_path / "out" / "grid"
    before = _files(out)
    result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"))
    assert result.returncode == 2
    assert result.stderr.endswith(
        "Error: not on a terminal: add --yes to prune without confirmation (--dry-run only lists)\n"
    )
    dry = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(
        f"No longer in the recipe, in {out}: 4 jobs, 4 files to delete ("
    )
    assert dry.stdout.splitlines()[-1] == "Dry run: nothing was removed."
    assert _files(out) == before
    with Journal.open_readonly(out) as journal:
        assert len(journal.jobs()) == 8


def test_prune_asks_on_a_terminal(rendered: EmulatorHandle, tmp_path: Path) -> None:
    """On a terminal prune asks first; answered no, it removes nothing."""
    out = tmp_path / "out" / "grid"
    before = _files(out)
    primary, secondary = os.openpty()
    try:
        os.write(primary, b"n\n")
        result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), stdin=secondary)
    finally:
        os.close(primary)
        os.close(secondary)
    assert result.returncode == 0, result.stderr
    assert "Remove 4 jobs and 4 files? [y/N]: " in result.stdout
    assert result.stdout.endswith("Nothing was removed.\n")
    assert _files(out) == before


def test_a_job_in_flight_is_never_pruned(rendered: EmulatorHandle, tmp_path: Path) -> None:
    """A submitted job the recipe no longer has is listed as in flight and stays journaled."""
    out = tmp_path / "out" / "grid"
    old = tmp_path / "old.yaml"
    old.write_text(RECIPE.replace("seed: [11, 42]", "seed: [99]"))
    ghost = expand_plan(load_recipe(old)).jobs[0]
    with Journal.open(out) as journal:
        journal.ensure_jobs([ghost], {})
        journal.mark_submitting(ghost.key, dict(ghost.body))
        journal.mark_submitted(ghost.key, "gen-in-flight", 9)
    result = _leobatch(rendered, "prune", str(tmp_path / "grid.yaml"), "--yes")
    assert result.returncode == 0, result.stderr
    assert ("In flight, not pruned (1): their results may still come; prune again once a run "
            "has settled them:") in result.stdout  # fmt: skip
    assert f"  ~ {ghost.key[:12]}  shot  (matrix values unknown)  submitted  " in result.stdout
    assert "Removed 4 jobs from the journal and 4 files" in result.stdout
    with Journal.open_readonly(out) as journal:
        assert journal.job(ghost.key).status == "submitted"
