"""``leobatch collect``: the manifests of a shard matrix merged into one that equals a full run's,
which ``status`` and ``report`` read like a run's; overlapping or foreign shards refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leobatch.emulator import EmulatorConfig, EmulatorServer
from leobatch.manifest_merge import load_manifests
from tests.cli.support import leobatch, on_emulator
from tests.conftest import TEST_API_KEY, TEST_CREDITS, TEST_TIME_SCALE, EmulatorHandle

# 3 colourways x 2 seeds = 6 shots of 2 images -> 12 cutouts: 6 pipelines of 3 jobs, 24 files.
RECIPE = """\
version: 1
name: sneakers
matrix:
  colorway: [red, navy, olive]
  seed: [11, 42]
defaults:
  image: {width: 512, height: 512, num_images: 2}
output:
  path: "{{ stage }}/{{ colorway }}-{{ seed }}-{{ job }}-{{ index }}.{{ ext }}"
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
OUT = Path("out") / "sneakers"
#: the options of the shard run the kill test stops
KILLED = ("--time-scale", "0.02", "--shard", "2/3")


@dataclass
class Matrix:
    """Three shard runs (one CI machine each, one account) and a full run on another account."""

    root: Path
    shards: list[Path]
    full: Path
    shard_stats: dict[str, Any]
    full_stats: dict[str, Any]


def _emulator() -> EmulatorHandle:
    server = EmulatorServer(EmulatorConfig(time_scale=TEST_TIME_SCALE, credits=TEST_CREDITS))
    server.start()
    return EmulatorHandle(server.base_url, TEST_API_KEY, server.state, server)


def _run(emu: EmulatorHandle, recipe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = on_emulator(emu, "run", str(recipe), "--yes", "--time-scale", "0.01", *args)
    assert done.returncode == 0, done.stderr
    return done


def _checkout(root: Path, name: str, text: str = RECIPE) -> Path:
    """A machine's checkout of the recipe: its own folder, so its own output folder."""
    (root / name).mkdir(parents=True)
    recipe = root / name / "sneakers.yaml"
    recipe.write_text(text)
    return recipe


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """Rendered once for the module: the tests below only read these folders."""
    root = tmp_path_factory.mktemp("matrix")
    account, other = _emulator(), _emulator()
    try:
        shards = []
        for i in (1, 2, 3):
            recipe = _checkout(root, f"machine-{i}")
            _run(account, recipe, "--shard", f"{i}/3")
            shards.append(recipe.parent / OUT)
        full = _checkout(root, "full")
        _run(other, full)
        yield Matrix(root, shards, full.parent / OUT, account.stats(), other.stats())
    finally:
        account.server.stop()
        other.server.stop()


def _manifest(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return data


def _creates(stats: dict[str, Any]) -> int:
    requests: dict[str, int] = stats["requests"]
    return sum(
        n
        for route, n in requests.items()
        if route.startswith("POST /") and ("generations" in route or "variations" in route)
    )


def _collect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return leobatch("collect", *(str(a) for a in args))


def test_merged_shards_equal_a_full_run(matrix: Matrix) -> None:
    """run --shard 1/3, 2/3, 3/3, then collect: the full run's jobs and outputs, none twice."""
    merged = matrix.root / "merged"  # beside the machines' folders
    done = _collect(*matrix.shards, "-o", merged)
    assert done.returncode == 0, done.stderr
    assert "3 shards: 18 jobs (18 complete, 0 failed, 0 pending), 24 outputs" in done.stdout
    assert done.stderr == ""
    ours, full = _manifest(merged), _manifest(matrix.full)
    assert [job["key"] for job in ours["jobs"]] == [job["key"] for job in full["jobs"]]
    for mine, theirs in zip(ours["jobs"], full["jobs"], strict=True):
        assert mine["status"] == theirs["status"] == "complete"
        assert [o["index"] for o in mine["outputs"]] == [o["index"] for o in theirs["outputs"]]
        # the same file names, each in the shard folder that rendered it
        for out, twin in zip(mine["outputs"], theirs["outputs"], strict=True):
            machine, rest = out["path"].removeprefix("../").split("/", 1)
            assert machine.startswith("machine-")
            assert rest == f"{OUT.as_posix()}/{twin['path']}"
            assert (merged / out["path"]).is_file()
    assert ours["totals"] == full["totals"]
    assert ours["totals"]["jobs"] == 18
    # no job rendered twice: one create per job on the account the shards shared
    assert _creates(matrix.shard_stats) == 18 == _creates(matrix.full_stats)
    assert matrix.shard_stats["duplicate_creates"] == 0
    taken = [entry["jobs"] for entry in ours["collected"]]
    assert taken == [6, 6, 6]
    assert [entry["dir"] for entry in ours["collected"]] == [
        f"../machine-{i}/out/sneakers" for i in (1, 2, 3)
    ]


def test_status_and_report_read_the_merged_manifest(matrix: Matrix, tmp_path: Path) -> None:
    """status MANIFEST and report FOLDER: every job done, every file shown (none "missing")."""
    merged = tmp_path / "merged"
    assert _collect(*matrix.shards, "-o", merged).returncode == 0
    status = leobatch("status", str(merged / "manifest.json"), "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    full = json.loads(leobatch("status", "--dir", str(matrix.full), "--json").stdout)
    for field in ("jobs", "done", "failed", "pending", "outputs", "credits"):
        assert data[field] == full[field], field
    assert data["sources"] == [str(shard) for shard in matrix.shards]
    human = leobatch("status", "--dir", str(merged))
    assert "jobs      18: 18 done, 0 running, 0 failed, 0 pending" in human.stdout
    assert "merged from 3 shard output folders" in human.stdout
    report = leobatch("report", str(merged / "manifest.json"))
    assert report.returncode == 0, report.stderr
    assert "2 stages, 18 jobs, 24 outputs" in report.stdout
    assert f"Report: {merged / 'report' / 'index.html'}" in report.stdout
    pages = "".join(p.read_text() for p in (merged / "report").glob("*.html"))
    assert "file missing" not in pages
    assert len(list((merged / "report" / "thumbs").iterdir())) == 24


def test_the_default_folder_is_the_shards_common_parent(matrix: Matrix, tmp_path: Path) -> None:
    """Without -o the merged manifest lands where every path stays inside its folder."""
    shards = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    for source, copy in zip(matrix.shards, shards, strict=True):
        shutil.copytree(source, copy)
    done = _collect(*shards)
    assert done.returncode == 0, done.stderr
    merged = _manifest(tmp_path)
    paths = [out["path"] for job in merged["jobs"] for out in job["outputs"]]
    assert len(paths) == 24
    assert all(p.startswith("shard-") and (tmp_path / p).is_file() for p in paths)
    # the README's final CI job: status of the manifest, report of the folder
    status = json.loads(leobatch("status", str(tmp_path / "manifest.json"), "--json").stdout)
    assert (status["done"], status["pending"]) == (18, 0)
    report = leobatch("report", str(tmp_path))
    assert report.returncode == 0, report.stderr
    assert "2 stages, 18 jobs, 24 outputs" in report.stdout


def test_collect_json_says_what_each_shard_gave(matrix: Matrix, tmp_path: Path) -> None:
    """--json: one object with the merged totals and the jobs taken from each shard."""
    done = _collect(*matrix.shards, "-o", tmp_path / "merged", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["manifest"] == str(tmp_path / "merged" / "manifest.json")
    assert data["totals"] == _manifest(matrix.full)["totals"]
    assert data["outputs"] == 24
    assert data["shards"] == [{"dir": str(shard), "jobs": 6} for shard in matrix.shards]
    assert (data["unrendered"], data["missing_files"]) == (0, 0)


def test_a_shards_clean_summary_is_kept(matrix: Matrix, tmp_path: Path) -> None:
    """What `clean` recorded in a shard's manifest head stays with that shard in the merge."""
    copies = [tmp_path / f"shard-{i}" for i in (1, 2)]
    for source, copy in zip(matrix.shards[:2], copies, strict=True):
        shutil.copytree(source, copy)
    first = _manifest(copies[0])
    first["cleaned"] = {"generation": 2}
    (copies[0] / "manifest.json").write_text(json.dumps(first))
    assert _collect(*copies, "-o", tmp_path / "merged").returncode == 0
    collected = _manifest(tmp_path / "merged")["collected"]
    assert collected[0]["cleaned"] == {"generation": 2}
    assert "cleaned" not in collected[1]


def test_load_manifests_gives_clean_absolute_paths_and_the_shard_folders(
    matrix: Matrix, tmp_path: Path
) -> None:
    """What `clean` calls: every output as an absolute path, and each shard's run folder."""
    merged = tmp_path / "merged"
    assert _collect(*matrix.shards, "-o", merged).returncode == 0
    loaded = load_manifests([merged])
    assert loaded.sources == tuple(shard.resolve() for shard in matrix.shards)
    assert all((source / ".leobatch" / "state.sqlite").is_file() for source in loaded.sources)
    files = [Path(out["path"]) for job in loaded.jobs for out in job["outputs"]]
    assert len(files) == 24
    assert all(f.is_absolute() and f.is_file() for f in files)
    assert all(job["remote_id"] for job in loaded.jobs)
    plain = load_manifests([matrix.full / "manifest.json"])
    assert plain.sources == (matrix.full.resolve(),)


def test_a_missing_shard_is_said(matrix: Matrix, tmp_path: Path) -> None:
    """Two of three shards: merged, with the third's 6 jobs pending and a note on stderr."""
    merged = tmp_path / "merged"
    done = _collect(*matrix.shards[:2], "-o", merged)
    assert done.returncode == 0, done.stderr
    assert "note: 6 jobs were rendered by no shard" in done.stderr
    totals = _manifest(merged)["totals"]
    assert (totals["complete"], totals["pending"]) == (12, 6)


def test_the_same_shard_twice_is_merged_once(matrix: Matrix, tmp_path: Path) -> None:
    """A shard folder copied (identical entries) is no conflict: each job still counts once."""
    copy = tmp_path / "copy"
    shutil.copytree(matrix.shards[0], copy)
    done = _collect(*matrix.shards, copy, "-o", tmp_path / "merged")
    assert done.returncode == 0, done.stderr
    assert _manifest(tmp_path / "merged")["totals"]["complete"] == 18


def test_a_job_rendered_in_two_shards_differently_is_refused(
    matrix: Matrix, tmp_path: Path
) -> None:
    """A full run's folder and a shard's: the same jobs rendered twice; nothing is written."""
    done = _collect(matrix.shards[0], matrix.full, "-o", tmp_path / "merged")
    assert done.returncode == 1
    assert "was rendered in both" in done.stderr
    assert f"{matrix.shards[0]} and {matrix.full}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "merged").exists()


def test_shards_of_another_recipe_version_are_refused(matrix: Matrix, tmp_path: Path) -> None:
    """A shard planned from an edited recipe lists other jobs: refused, naming both manifests."""
    edited = _checkout(tmp_path, "edited", RECIPE.replace("side view", "top view"))
    assert leobatch("run", str(edited), "--emulator", "--yes", "--shard", "1/3").returncode == 0
    done = _collect(matrix.shards[0], edited.parent / OUT, "-o", tmp_path / "merged")
    assert done.returncode == 1
    assert "is of another plan than" in done.stderr
    assert "different versions of the recipe" in done.stderr
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-manifest", "has no manifest.json: has anything been rendered there?"),
        ("journal-only", "has a run journal but no manifest.json: its run stopped before"),
        ("not-json", "cannot read the manifest"),
        ("no-jobs", "is not a leobatch manifest (no list of jobs)"),
        ("into-a-shard", "is a run's output folder: its manifest is its run's"),
        ("merged", "was merged by collect already"),
    ],
)
def test_bad_inputs_are_clear_errors(
    matrix: Matrix, tmp_path: Path, setup: str, message: str
) -> None:
    """Exit 1 with the message, no traceback, no merged manifest written."""
    odd = tmp_path / "odd"
    odd.mkdir()
    out = tmp_path / "merged"
    given = [odd, matrix.shards[0]]
    if setup == "journal-only":  # a run killed before its first manifest write
        shutil.copytree(matrix.shards[0] / ".leobatch", odd / ".leobatch")
    elif setup == "not-json":
        (odd / "manifest.json").write_text("{ half a manifest")
    elif setup == "no-jobs":
        (odd / "manifest.json").write_text('{"leobatch": "0.1.0"}')
    elif setup == "into-a-shard":  # -o names a run's own folder (a copy of shard 1)
        out = tmp_path / "shard"
        shutil.copytree(matrix.shards[0], out)
        given = [matrix.shards[1]]
    elif setup == "merged":
        assert _collect(*matrix.shards, "-o", odd).returncode == 0
    before = (out / "manifest.json").read_bytes() if (out / "manifest.json").exists() else None
    done = _collect(*given, "-o", out)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    after = (out / "manifest.json").read_bytes() if (out / "manifest.json").exists() else None
    assert after == before


def test_a_folder_given_twice_is_refused(matrix: Matrix, tmp_path: Path) -> None:
    """The same folder twice on the command line is a mistake, said as one."""
    done = _collect(matrix.shards[0], matrix.shards[0], "-o", tmp_path / "merged")
    assert done.returncode == 1
    assert "is given twice" in done.stderr


def test_report_follows_merged_paths_only_into_the_shard_folders(
    matrix: Matrix, tmp_path: Path
) -> None:
    """A merged manifest's path leading outside its shard folders is never read: "missing"."""
    merged = tmp_path / "merged"
    assert _collect(*matrix.shards, "-o", merged).returncode == 0
    outside = tmp_path / "outside.jpg"
    first = next(p for p in matrix.shards[0].rglob("*.jpg"))
    shutil.copy(first, outside)
    text = (merged / "manifest.json").read_text()
    data = json.loads(text)
    victim = data["jobs"][0]["outputs"][0]["path"]
    (merged / "manifest.json").write_text(text.replace(victim, "../outside.jpg"))
    report = leobatch("report", str(merged))
    assert report.returncode == 0, report.stderr
    pages = "".join(p.read_text() for p in (merged / "report").glob("*.html"))
    assert "file missing: ../outside.jpg" in pages
    assert len(list((merged / "report" / "thumbs").iterdir())) == 23


def test_a_shard_killed_then_resumed_collects_whole(
    make_emulator: Callable[..., EmulatorHandle], matrix: Matrix, tmp_path: Path
) -> None:
    """Shard 2 killed with SIGKILL after its first completion: collect says what is missing;
    resumed, collect equals the full run, and the account saw every job exactly once."""
    emu = make_emulator(time_scale=0.02)
    recipes = [_checkout(tmp_path, f"machine-{i}") for i in (1, 2, 3)]
    for i in (1, 3):
        _run(emu, recipes[i - 1], "--shard", f"{i}/3")
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    killed = subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipes[1]), "--yes", "--json", *KILLED],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert killed.stdout is not None
    for line in killed.stdout:
        if json.loads(line).get("event") == "complete":
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=60)
    killed.stdout.close()
    assert killed.returncode == -signal.SIGKILL
    shards = [recipe.parent / OUT for recipe in recipes]
    partial = _collect(*shards, "-o", tmp_path / "merged")
    if (shards[1] / "manifest.json").exists():  # the run wrote one before it was killed
        assert partial.returncode == 0, partial.stderr
        assert _manifest(tmp_path / "merged")["totals"]["complete"] < 18
    else:  # killed within its first second: a journal, no manifest yet
        assert partial.returncode == 1
        assert "has a run journal but no manifest.json: its run stopped" in partial.stderr
        assert not (tmp_path / "merged").exists()
    _run(emu, recipes[1], "--shard", "2/3")  # the CI job re-run
    done = _collect(*shards, "-o", tmp_path / "merged")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    merged, full = _manifest(tmp_path / "merged"), _manifest(matrix.full)
    assert [job["key"] for job in merged["jobs"]] == [job["key"] for job in full["jobs"]]
    assert all(job["status"] == "complete" for job in merged["jobs"])
    assert merged["totals"] == full["totals"]
    stats = emu.stats()
    assert stats["duplicate_creates"] == 0
    assert _creates(stats) == 18
