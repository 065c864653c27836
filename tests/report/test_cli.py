"""`leobatch report` as a user runs it: what it prints, and every mistake as one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.support import grid_run

RECIPE = """\
version: 1
name: grid
matrix:
  model: [lightning-xl, phoenix-1.0]
  seed: [3, 1, 2]
stages:
  hero:
    kind: image
    model: "{{ model }}"
    prompt: a mug
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}", contrast: 3.5}
"""


def _report(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leobatch", "report", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "grid.yaml").write_text(RECIPE)
    grid_run(
        tmp_path / "out" / "grid", {"model": ["lightning-xl", "phoenix-1.0"], "seed": [1, 2, 3]}
    )
    return tmp_path


def test_report_prints_counts_and_the_index(tmp_path: Path) -> None:
    """Exit 0; the recipe's own value order (3, 1, 2) is kept in the page."""
    _setup(tmp_path)
    result = _report(tmp_path, "grid.yaml")
    assert result.returncode == 0, result.stderr
    index = tmp_path / "out" / "grid" / "report" / "index.html"
    assert result.stdout.splitlines() == [
        "1 stage, 6 jobs, 6 outputs; 60 credits charged of 60 estimated",
        "4 files written, 6 thumbnails made",
        f"Report: {index}",
    ]
    html = (index.parent / "stage-hero.html").read_text()
    assert html.index(">3</th>") < html.index(">1</th>") < html.index(">2</th>")
    again = _report(tmp_path, "grid.yaml", "--sheets")
    assert again.stdout.splitlines()[1:3] == [
        "2 files written, 0 thumbnails made",  # the index and the page, now linking the sheet
        "1 contact sheet (1 drawn); largest 796x570 px",
    ]


def test_a_recipe_that_no_longer_loads_is_reported_from_its_manifest(tmp_path: Path) -> None:
    _setup(tmp_path)
    (tmp_path / "grid.yaml").write_text(RECIPE.replace("kind: image", "kind: imag"))
    result = _report(tmp_path, "grid.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "note: grid.yaml does not load any more (1 problem; `leobatch validate` lists them): "
        "reporting from the manifest alone\n"
    )


def test_an_output_folder_can_be_given_instead_of_the_recipe(tmp_path: Path) -> None:
    _setup(tmp_path)
    result = _report(tmp_path, "out/grid")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "grid" / "report" / "stage-hero.html").is_file()


def _report_in_process(
    cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    """``leobatch report ARGS`` through the CLI's own entry point, in this process (fast)."""
    from leobatch.cli import main

    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as exit_:
        main(["report", *args])
    return int(exit_.value.code or 0), capsys.readouterr().err


def test_mistakes_are_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceback: each mistake is one `error:` line."""
    _setup(tmp_path)
    out = tmp_path / "out" / "grid"
    cases = {
        ("-o", "."): "error: -o .: refusing to write the report into the recipe's folder itself; "
        "choose a folder of its own, such as report/",
        ("-o", "out/grid/.leobatch"): "error: -o out/grid/.leobatch: refusing to write into a "
        ".leobatch folder (the run journal lives there); choose another folder",
        ("--rows", "style"): "error: --rows: no stage has an axis 'style' with more than one "
        "value (axes that vary: model, seed)",
    }
    for args, message in cases.items():
        got = _report_in_process(tmp_path, capsys, monkeypatch, "grid.yaml", *args)
        assert got == (1, message + "\n"), args
    # --stage is a job selection (as on plan, run and status): a typo is a usage error.
    code, err = _report_in_process(tmp_path, capsys, monkeypatch, "grid.yaml", "--stage", "heor")
    assert code == 2
    assert "--stage 'heor': no such stage; did you mean 'hero'? (known: hero)" in err
    (out / "manifest.json").unlink()
    assert _report_in_process(tmp_path, capsys, monkeypatch, "grid.yaml") == (
        1,
        f"error: no manifest at {out / 'manifest.json'}: nothing has been rendered there yet\n",
    )


def test_open_without_a_display_says_where_the_report_is(tmp_path: Path) -> None:
    _setup(tmp_path)
    env_free = subprocess.run(
        [sys.executable, "-m", "leobatch", "report", "grid.yaml", "--open"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            k: v
            for k, v in __import__("os").environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY")
        },
    )
    assert env_free.returncode == 0
    index = tmp_path / "out" / "grid" / "report" / "index.html"
    assert env_free.stderr == f"no display to open a browser on: open {index} yourself\n"


def test_report_is_listed_in_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "leobatch", "--help"], capture_output=True, text=True, check=True
    )
    assert "report    Build a static HTML report and contact sheets of a run." in result.stdout


@pytest.mark.slow
def test_the_readme_report_commands_work_as_written(tmp_path: Path) -> None:
    """The README's three commands, run from a copy of the repository's recipes/ folder."""
    import shutil

    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    readme = (repo / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Reviewing results: leobatch report") :]
    block = section[section.index("```sh\n") + 6 : section.index("```", section.index("```sh") + 5)]
    commands = [line.split("#")[0].split() for line in block.splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["run", "report", "report"]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for words in commands:
        result = subprocess.run(
            [sys.executable, "-m", "leobatch", *words[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
        assert result.returncode == 0, (words, result.stderr)
        assert "Traceback" not in result.stderr
    report = tmp_path / "recipes" / "out" / "model-grid" / "report"
    assert f"Report: {report / 'index.html'}" in result.stdout
    assert list((report / "sheets").glob("*.jpg"))
