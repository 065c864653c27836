"""``leobatch status``: a read-only summary of a run journal, also while a run holds it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from leobatch.cli import main
from leobatch.cli.status import output_dir_of
from leobatch.plan.jobs import Job
from leobatch.run.journal import Journal

RECIPE = """\
version: 1
name: mugs
output:
  dir: renders/mugs
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: a ceramic coffee mug on a marble table
    params: {width: 768, height: 768, num_images: 1}
"""


def job(n: int) -> Job:
    """An image job with a distinct key."""
    return Job(key=f"{n:x}" * 64, stage="shot", kind="image", endpoint="/generations", body={})


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``leobatch ARGS`` through the real entry point: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Journal]:
    """A run in progress holding the journal: 1 done, 1 running, 6 failed, 2 pending."""
    jobs = [
        Job(
            key=f"{n:x}" * 64,
            stage="shot" if n < 8 else "cutout",
            kind="image" if n < 8 else "nobg",
            endpoint="/generations",
            body={},
            model="lightning-xl" if n < 8 else None,
        )
        for n in range(10)
    ]
    credits: dict[str, int | None] = {j.key: (7 if j.stage == "shot" else None) for j in jobs}
    with Journal.open(tmp_path / "out") as journal:
        journal.ensure_jobs(jobs, credits)
        journal.set_meta({"recipe": "mugs"})
        journal.mark_submitting(jobs[0].key, {"prompt": "mug"})
        journal.mark_submitted(jobs[0].key, "gen-0", 7)
        journal.mark_complete(jobs[0].key)
        journal.record_output(
            jobs[0].key,
            0,
            remote_id="i0",
            url="https://cdn/0.jpg",
            path="shot/0.jpg",
            media_type="image/jpeg",
        )
        journal.record_download(jobs[0].key, 0, sha256="0" * 64, size=10)
        journal.mark_submitting(jobs[1].key, {"prompt": "mug"})
        journal.mark_submitted(jobs[1].key, "gen-1", 7)
        for n in range(2, 8):
            journal.mark_submitting(jobs[n].key, {"prompt": "mug"})
            journal.mark_failed(jobs[n].key, f"Unexpected variable v{n}", final=True)
        yield journal


def test_summary_while_a_run_holds_the_lock(
    running: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts, downloads, credits per stage and model, and the first failed jobs' errors."""
    code, out, err = invoke(capsys, "status", "--dir", str(running.output_dir))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines.pop(0) == f"mugs: {running.output_dir}"
    assert lines.pop(0).startswith(f"run in progress (pid {os.getpid()} on ")
    assert lines[0] == "jobs      10: 1 done, 1 running, 6 failed, 2 pending"
    assert lines[1] == "outputs   1 of 1 downloaded"
    assert lines[2] == "credits   14 charged of 56 estimated (+2 jobs of unknown price)"
    assert lines[3].split() == ["stage", "model", "jobs", "done", "failed", "estimated", "charged"]
    assert lines[4].split() == ["shot", "lightning-xl", "8", "1", "6", "56", "14"]
    assert lines[5].split() == ["cutout", "-", "2", "0", "0", "unknown", "0"]  # never 0
    assert lines[6] == "failed jobs (first 5 of 6):"
    assert lines[7] == f"  shot {'2' * 12}  Unexpected variable v2"
    assert len([line for line in lines if "Unexpected variable" in line]) == 5
    assert lines[-1].startswith("last change ")


def test_json_summary(running: Journal, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with every figure and every failure."""
    code, out, _ = invoke(capsys, "status", "--dir", str(running.output_dir), "--json")
    data = json.loads(out)
    assert code == 0
    assert {k: data[k] for k in ("recipe", "jobs", "done", "running", "failed", "pending")} == {
        "recipe": "mugs",
        "jobs": 10,
        "done": 1,
        "running": 1,
        "failed": 6,
        "pending": 2,
    }
    assert data["outputs"] == {"recorded": 1, "downloaded": 1}
    assert data["credits"] == {"estimated": 56, "unknown_estimates": 2, "charged": 14}
    assert data["models"][0] == {
        "stage": "shot",
        "model": "lightning-xl",
        "jobs": 8,
        "done": 1,
        "failed": 6,
        "credits_estimated": 56,
        "unknown_estimates": 0,
        "credits_charged": 14,
    }
    assert data["models"][1]["unknown_estimates"] == 2  # the cutouts: "unknown", never 0
    assert [f["error"] for f in data["failures"]] == [
        f"Unexpected variable v{n}" for n in range(2, 8)
    ]


def test_status_of_a_recipe_reads_its_output_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a recipe, status finds the journal in the recipe's output.dir."""
    recipe = tmp_path / "mugs.yaml"
    recipe.write_text(RECIPE)
    assert output_dir_of(recipe) == tmp_path / "renders" / "mugs"
    code, out, _ = invoke(capsys, "status", str(recipe))
    assert (code, out) == (
        0,
        f"nothing has run yet for {recipe} (no journal in {tmp_path / 'renders' / 'mugs'})\n",
    )
    with Journal.open(output_dir_of(recipe)) as journal:
        journal.ensure_jobs([job(1)], {})
    code, out, _ = invoke(capsys, "status", str(recipe))
    assert code == 0
    assert "jobs      1: 0 done, 0 running, 0 failed, 1 pending" in out


def test_no_journal_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a journal, --json says nothing ran, and the exit code is 0."""
    code, out, _ = invoke(capsys, "status", "--dir", str(tmp_path), "--json")
    assert (code, json.loads(out)) == (0, {"output_dir": str(tmp_path), "jobs": 0, "ran": False})


@pytest.mark.parametrize("args", [(), ("recipe.yaml", "--dir", "out")])
def test_recipe_or_dir_is_required(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    """Neither or both of RECIPE and --dir is a usage error (exit 2)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    code, _, err = invoke(capsys, "status", *args)
    assert code == 2
    assert "give a RECIPE or --dir OUTPUT_DIR" in err


def test_no_run_in_progress_after_the_run_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the writer closed the journal, status no longer reports a run in progress."""
    with Journal.open(tmp_path) as journal:
        journal.ensure_jobs([job(1)], {})
        assert Journal.running(tmp_path) is not None
    assert Journal.running(tmp_path) is None
    code, out, _ = invoke(capsys, "status", "--dir", str(tmp_path), "--json")
    assert (code, json.loads(out)["run"]) == (0, None)
    assert "run in progress" not in invoke(capsys, "status", "--dir", str(tmp_path))[1]
