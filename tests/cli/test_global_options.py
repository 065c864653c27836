"""`leobatch -q` and `-v`, NO_COLOR, shell completion, and validate over several recipes (the
pre-commit hook's call) (issue 13, item 14)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leobatch.cli import main
from tests.cli.support import REPO, leobatch

INVALID = REPO / "tests" / "recipe" / "fixtures" / "invalid"
ENTRY_POINT = Path(sys.executable).parent / "leobatch"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEONARDO_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copytree(REPO / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    shutil.copy(INVALID / "schema-errors.yaml", tmp_path / "recipes")
    return tmp_path / "recipes"


def test_quiet_validate_prints_nothing_when_valid(
    recipes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-q: a valid recipe prints nothing; an invalid one still lists its problems."""
    assert _cli(capsys, "-q", "validate", str(recipes / "quickstart.yaml")) == (0, "", "")
    code, out, err = _cli(capsys, "--quiet", "validate", str(recipes / "schema-errors.yaml"))
    assert (code, out) == (1, "")
    assert err.endswith("5 problems found.\n")


def test_quiet_plan_and_run_print_nothing(
    recipes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-q plan prints no tables; -q run --emulator --yes renders everything silently."""
    quickstart = str(recipes / "quickstart.yaml")
    assert _cli(capsys, "-q", "plan", quickstart, "--offline") == (0, "", "")
    assert _cli(capsys, "-q", "run", quickstart, "--emulator", "--yes") == (0, "", "")
    assert (recipes / "out" / "quickstart" / "manifest.json").is_file()
    assert _cli(capsys, "-q", "status", quickstart) == (0, "", "")


def test_quiet_and_verbose_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """-q -v contradict each other: exit 2, said so."""
    code, _, err = _cli(capsys, "-q", "-v", "catalog")
    assert code == 2
    assert "--quiet and --verbose contradict each other" in err


def test_verbose_logs_requests_to_stderr_without_the_key(emulator: object) -> None:
    """-v: every API request and its status on stderr; the key never."""
    base_url, api_key = emulator.base_url, emulator.api_key  # type: ignore[attr-defined]
    env = {**os.environ, "LEONARDO_API_KEY": api_key, "LEONARDO_API_BASE_URL": base_url}
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "-v", "balance"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "leobatch.api: GET /me -> 200" in done.stderr
    assert api_key not in done.stderr + done.stdout
    assert done.stdout.startswith("account")


def test_validate_takes_several_recipes(recipes: Path) -> None:
    """As a pre-commit hook calls it: each recipe checked, exit 1 if any has problems."""
    result = leobatch(
        "validate", "quickstart.yaml", "schema-errors.yaml", "model-grid.yaml", cwd=recipes
    )
    assert result.returncode == 1
    assert result.stdout.startswith("quickstart.yaml: ok — 6 jobs, 6 outputs\nmodel-grid.yaml: ok")
    expected = (INVALID / "schema-errors.expected").read_text(encoding="utf-8")
    assert result.stderr == expected + "5 problems found in 1 of 3 recipes.\n"
    ok = leobatch("validate", "quickstart.yaml", "model-grid.yaml", cwd=recipes)
    assert ok.returncode == 0 and ok.stderr == ""


def test_no_color_on_a_terminal_means_no_escape_codes(recipes: Path) -> None:
    """NO_COLOR=1 with stdout on a pty: the plan's tables carry no ANSI escape at all."""
    import pty

    def on_a_pty(env: dict[str, str]) -> bytes:
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "leobatch", "plan", "quickstart.yaml", "--offline"],
            cwd=recipes, stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(primary)
        assert proc.wait(60) == 0
        return b"".join(chunks)

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    assert b"\x1b[" in on_a_pty(env)  # (the check can see escapes when there are some)
    plain = on_a_pty({**env, "NO_COLOR": "1"})
    assert b"Plan for quickstart" in plain
    assert b"\x1b" not in plain


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script_is_produced(shell: str) -> None:
    """`_LEOBATCH_COMPLETE={shell}_source leobatch` prints a completion script (README)."""
    env = {**os.environ, "_LEOBATCH_COMPLETE": f"{shell}_source"}
    done = subprocess.run(
        [str(ENTRY_POINT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "_LEOBATCH_COMPLETE" in done.stdout and "leobatch" in done.stdout


def test_the_pre_commit_hook_validates_the_recipes_it_is_given() -> None:
    """.pre-commit-hooks.yaml: run as pre-commit would (entry + the matching files), every
    example recipe passes; files outside a recipes folder are not matched."""
    import re

    import yaml

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert (hook["id"], hook["language"], hook["types"]) == (
        "leobatch-validate",
        "python",
        ["yaml"],
    )
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert not files.search(".pre-commit-hooks.yaml") and not files.search("schemas/x.yaml")
    recipes = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "recipes").glob("*.yaml")
        if files.search(str(p.relative_to(REPO)))
    )  # fmt: skip
    assert "recipes/quickstart.yaml" in recipes
    program, *args = hook["entry"].split()
    assert program == "leobatch"
    result = leobatch(*args, *recipes)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok — ") == len(recipes)
