"""Output paths against the tree on disk: no link, no file leobatch did not write, fits the FS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leobatch.errors import RecipeError
from leobatch.plan import plan_recipe
from leobatch.plan.jobs import Plan
from leobatch.plan.ondisk import fs_limits
from leobatch.run.journal import Journal, NewOutput

RECIPE = """\
version: 1
name: safe
matrix:
  target: {targets}
output:
  path: "{{{{ target }}}}"
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a mug, {{{{ target[-60:] }}}}"
    params: {{num_images: 1}}
"""
#: Where RECIPE's output.path is: the line and column every message below starts with.
AT = "r.yaml:6:3"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recipe's folder, as the cwd (messages name the recipe as ``r.yaml``)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(here: Path, *targets: str) -> Path:
    """RECIPE writing one file per target; returns its output.dir (``out/safe``)."""
    (here / "r.yaml").write_text(RECIPE.format(targets=list(targets)))
    out = here / "out" / "safe"
    out.mkdir(parents=True, exist_ok=True)
    return out


def problems(*, expect_count: int | None = None) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        plan_recipe("r.yaml")
    found = [str(p) for p in caught.value.problems]
    if expect_count is not None:
        assert len(found) == expect_count, found
    return found


def journal_outputs(plan: Plan) -> None:
    """Journal every job of ``plan`` as complete with its outputs (what a run records)."""
    with Journal.open(plan.output_dir) as journal:
        journal.ensure_jobs(plan.jobs, {})
        for job in plan.jobs:
            journal.mark_submitting(job.key, {})
            journal.mark_submitted(job.key, f"gen-{job.key[:8]}", None)
            outputs = [
                NewOutput(i, None, "http://cdn/x", p, "image/jpeg") for i, p in enumerate(job.paths)
            ]
            journal.mark_complete(job.key, outputs)


def test_an_existing_file_no_run_wrote_is_refused(here: Path) -> None:
    """A user's file where a job would write: a located error naming the file."""
    out = write(here, "notes.txt", "b.jpg")
    (out / "notes.txt").write_text("mine")
    assert problems() == [
        f"{AT}: output.path: stage 'hero' (target=notes.txt) renders to 'notes.txt': "
        f"{out / 'notes.txt'} already exists and no leobatch run in this output.dir wrote it; "
        "move it away or change output.path"
    ]


def test_many_existing_files_make_one_line(here: Path) -> None:
    """Every existing file is found; the message names the first and counts the others."""
    out = write(here, "a.jpg", "b.jpg", "c.jpg", "d/e.jpg")
    (out / "d").mkdir()
    for name in ("a.jpg", "c.jpg", "d/e.jpg"):
        (out / name).write_text("mine")
    (line,) = problems()
    assert line.endswith("move it away or change output.path (and 2 more)")
    assert "renders to 'a.jpg'" in line


def test_files_the_journal_records_may_be_written_again(here: Path) -> None:
    """After a run, its own files are no obstacle: the next plan goes through."""
    out = write(here, "a.jpg", "sub/b.jpg")
    plan = plan_recipe("r.yaml")
    journal_outputs(plan)
    (out / "sub").mkdir()
    (out / "a.jpg").write_text("rendered")
    (out / "sub" / "b.jpg").write_text("rendered")
    assert plan_recipe("r.yaml").jobs == plan.jobs
    (out / "stray.jpg").write_text("mine")  # a file the journal does not know is still refused
    write(here, "a.jpg", "sub/b.jpg", "stray.jpg")
    (line,) = problems()
    assert "renders to 'stray.jpg'" in line and "(and" not in line


def test_a_linked_folder_inside_output_dir_is_refused(here: Path) -> None:
    """out/safe/hero -> elsewhere: refused, even when the link leads back inside the folder."""
    out = write(here, "hero/a.jpg", "inner/b.jpg")
    (here / "elsewhere").mkdir()
    (out / "hero").symlink_to(here / "elsewhere", target_is_directory=True)
    (out / "real").mkdir()
    (out / "inner").symlink_to(out / "real", target_is_directory=True)
    assert problems() == [
        f"{AT}: output.path: stage 'hero' (target=hero/a.jpg) renders to 'hero/a.jpg', whose "
        "'hero' is a symbolic link; leobatch does not write through links (they can lead "
        "outside output.dir): remove it or change output.path (and 1 more)"
    ]


def test_a_link_at_the_file_name_is_refused(here: Path) -> None:
    """The planned file itself is a link (to a user's file): refused."""
    out = write(here, "a.jpg")
    (here / "victim.txt").write_text("precious")
    (out / "a.jpg").symlink_to(here / "victim.txt")
    assert problems() == [
        f"{AT}: output.path: stage 'hero' (target=a.jpg) renders to 'a.jpg', which is a "
        "symbolic link; leobatch does not write through links (they can lead outside "
        "output.dir): remove it or change output.path"
    ]


def test_a_file_where_a_folder_goes_and_a_folder_where_a_file_goes(here: Path) -> None:
    """A parent that is a file, a file name that is a folder: both refused, each located."""
    out = write(here, "notes/a.jpg", "shots")
    (out / "notes").write_text("mine")
    (out / "shots").mkdir()
    assert problems() == [
        f"{AT}: output.path: stage 'hero' (target=notes/a.jpg) renders to 'notes/a.jpg', but "
        "'notes' is a file, not a folder: move it or change output.path",
        f"{AT}: output.path: stage 'hero' (target=shots) renders to 'shots', which is an "
        "existing folder: move it or change output.path",
    ]


def test_an_output_dir_that_is_a_file_is_refused(here: Path) -> None:
    """output.dir exists as a file: one line naming it."""
    write(here, "a.jpg", "b.jpg")
    (here / "out" / "safe").rmdir()
    (here / "out" / "safe").write_text("mine")
    assert problems() == [
        f"{AT}: output.path: stage 'hero' (target=a.jpg) renders to 'a.jpg', but output.dir "
        f"{str(here.resolve() / 'out' / 'safe')!r} is not a folder: move it or change output.dir "
        "(and 1 more)"
    ]


def test_a_whole_path_over_path_max_is_refused(here: Path) -> None:
    """Twenty 220-byte folder names: each fits NAME_MAX, the whole does not fit PATH_MAX."""
    long_path = "/".join(["d" * 220] * 20) + "/a.jpg"
    out = write(here, long_path)
    limits = fs_limits(out)
    total = len(os.fsencode(out.resolve())) + 1 + len(long_path) + 15
    assert total >= limits.path_max > 220
    short = f"{long_path[:40]}...{long_path[-17:]}"
    assert problems() == [
        f"{AT}: stage 'hero' (target={'d' * 37}...): output path {short!r} makes a "
        f"{total}-byte path under output.dir (with the download's temporary name); this file "
        f"system allows {limits.path_max - 1}"
    ]


def test_a_name_at_the_limit_is_planned(here: Path) -> None:
    """The longest file name that leaves room for the temporary name is accepted."""
    out = write(here)
    limit = fs_limits(out).name_max - 15
    write(here, "n" * (limit - 4) + ".jpg")
    (job,) = plan_recipe("r.yaml").jobs
    assert len(job.paths[0]) == limit
    write(here, "n" * (limit - 3) + ".jpg")
    (line,) = problems()
    assert f"the file name is {limit + 1} bytes long; this file system allows {limit}" in line


def test_output_dir_through_a_link_inside_the_folder_is_the_real_folder(here: Path) -> None:
    """output.dir naming a link that stays inside the recipe's folder: the plan writes to the
    real folder (resolved once, at load), which has no link in it."""
    (here / "renders").mkdir()
    (here / "latest").symlink_to(here / "renders", target_is_directory=True)
    (here / "r.yaml").write_text(
        RECIPE.format(targets=["a.jpg"]).replace("output:\n", "output:\n  dir: latest\n")
    )
    assert plan_recipe("r.yaml").output_dir == (here / "renders").resolve()


def test_output_dir_linking_back_to_the_recipe_folder_is_refused(here: Path) -> None:
    """output.dir: a link to '.' is the recipe's folder, and refused as such."""
    (here / "here").symlink_to(here, target_is_directory=True)
    (here / "r.yaml").write_text(
        RECIPE.format(targets=["r.yaml"]).replace("output:\n", "output:\n  dir: here\n")
    )
    assert problems() == [
        "r.yaml:6:3: output.dir: 'here' is the recipe's own folder, where leobatch would write "
        "among your files; use a subfolder such as 'out/safe'"
    ]
