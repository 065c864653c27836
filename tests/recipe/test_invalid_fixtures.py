"""Invalid recipes: each fixture's exact messages and lines (tests/recipe/fixtures/invalid)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from leobatch import load_recipe, plan_recipe
from leobatch.errors import RecipeError

FIXTURES = Path(__file__).parent / "fixtures" / "invalid"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.yaml"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixtures two folders deep (so '../..' escapes it), as the cwd."""
    here = tmp_path / "a" / "b"
    shutil.copytree(FIXTURES, here)
    (tmp_path / "secrets.csv").write_text("name\nkey\n")
    monkeypatch.chdir(here)
    return here


def problems_of(name: str) -> list[str]:
    """The problem lines load + expand report for fixture ``name`` (as the CLI plans it)."""
    with pytest.raises(RecipeError) as caught:
        plan_recipe(f"{name}.yaml")
    return [str(p) for p in caught.value.problems]


def test_every_acceptance_case_has_a_fixture() -> None:
    """The fixture suite covers every invalid recipe issue 2 lists."""
    required = {
        "yaml-syntax", "unknown-model", "unknown-style", "unknown-element", "undefined-variable",
        "sandbox-escape", "python-tag", "dimensions", "num-images", "phoenix-contrast",
        "element-base-model", "output-escape", "path-collision", "file-axis-outside",
        "huge-matrix", "unknown-request-field",
    }  # fmt: skip
    assert required <= set(NAMES)
    assert all((FIXTURES / f"{n}.expected").is_file() for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fixture_reports_exactly_its_expected_problems(workdir: Path, name: str) -> None:
    """Each invalid fixture yields exactly the lines in its .expected file, in order."""
    expected = (workdir / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    assert problems_of(name) == expected


def test_stage_graph_mistakes_do_not_hide_other_stages_problems(workdir: Path) -> None:
    """A broken ``from`` is reported with the other stages' problems; loading alone stops at
    the graph, and hands over the stages the mistake does not touch."""
    with pytest.raises(RecipeError) as caught:
        load_recipe("graph-and-stage.yaml")
    assert [p.message for p in caught.value.problems] == [
        "stage 'clean': from 'heroo' names no stage (stages: bigger, clean, hero)"
    ]
    partial = caught.value.partial
    assert [s.name for s in partial.stages] == ["hero"]  # 'bigger' hangs off the broken 'clean'
    assert len(problems_of("graph-and-stage")) == 2


def test_python_tag_runs_no_code(workdir: Path) -> None:
    """The !!python/object/apply payload is live under an unsafe loader, and never runs here."""
    text = (workdir / "python-tag.yaml").read_text()
    with pytest.raises(RecipeError):
        load_recipe("python-tag.yaml")
    assert not (workdir / "pwned").exists()
    yaml.unsafe_load(text)  # the control: an unsafe loader runs os.mkdir("pwned")
    assert (workdir / "pwned").is_dir()


def test_billion_combinations_refused_fast(workdir: Path) -> None:
    """A 10^9-combination matrix is refused arithmetically, in well under a second."""
    start = time.perf_counter()
    lines = problems_of("huge-matrix")
    elapsed = time.perf_counter() - start
    assert lines[0].startswith("huge-matrix.yaml:2:1: matrix: 1,000,000,000 combinations")
    # Not a speed target (benchmarks/ has those): materialising 10^9 combinations would take
    # minutes and gigabytes, so any bound in seconds proves the count was done arithmetically.
    assert elapsed < 5.0


def test_unknown_version_is_reported_before_schema_errors(workdir: Path) -> None:
    """version: 2 with other mistakes reports only the version."""
    assert problems_of("unknown-version") == [
        "unknown-version.yaml:1:1: unsupported recipe version 2: this leobatch reads version 1"
    ]
