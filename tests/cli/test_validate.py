"""`leobatch validate`: the real CLI, its messages and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.support import REPO, leobatch

INVALID = REPO / "tests" / "recipe" / "fixtures" / "invalid"


def test_valid_recipe_prints_ok_with_counts() -> None:
    """A valid recipe: exit 0 and 'FILE: ok — N jobs, M outputs'."""
    result = leobatch("validate", "recipes/quickstart.yaml", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "recipes/quickstart.yaml: ok — 6 jobs, 6 outputs\n"


def test_invalid_recipe_prints_every_problem_then_count(tmp_path: Path) -> None:
    """Problems go to stderr as file:line:col: message, then a count; exit 1, no traceback."""
    shutil.copy(INVALID / "schema-errors.yaml", tmp_path)
    result = leobatch("validate", "schema-errors.yaml", cwd=tmp_path)
    expected = (INVALID / "schema-errors.expected").read_text(encoding="utf-8")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == expected + "5 problems found.\n"


def test_sandbox_escape_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    """A template escape attempt is refused with one line and exit 1."""
    shutil.copy(INVALID / "sandbox-escape.yaml", tmp_path)
    result = leobatch("validate", "sandbox-escape.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "refused by the template sandbox" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("validate", "missing.yaml"), "does not exist"), (("validate",), "Missing argument")],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    """A missing file or argument is a usage error: exit 2."""
    result = leobatch(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr


def test_max_jobs_option_refuses_bigger_plans() -> None:
    """--max-jobs lowers the guard: quickstart's 6 jobs pass 6 and fail 5."""
    assert (
        leobatch("validate", "recipes/quickstart.yaml", "--max-jobs", "6", cwd=REPO).returncode == 0
    )
    result = leobatch("validate", "recipes/quickstart.yaml", "--max-jobs", "5", cwd=REPO)
    assert result.returncode == 1
    assert "more than the limit of 5" in result.stderr
