"""`leobatch run --json`: JSON lines only on stdout, a plan event first, a schema version, errors
as events; and a stdout closed by its reader (`| head -2`) never stops a run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "recipes" / "quickstart.yaml"


def _popen(recipe: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--yes", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _totals(recipe: Path) -> dict[str, Any]:
    manifest = json.loads((recipe.parent / "out" / "quickstart" / "manifest.json").read_text())
    totals = manifest["totals"]
    assert isinstance(totals, dict)
    return totals


def _read_two_lines_and_close(proc: subprocess.Popen[bytes]) -> tuple[list[bytes], str]:
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()  # like `| head -2`: every later write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait(120)
    return lines, err


def test_a_closed_stdout_does_not_stop_a_json_run(tmp_path: Path) -> None:
    """`run --json | head -2`: the run still renders every job, exits 0, and prints no
    traceback (not even Python's "Exception ignored" at exit)."""
    recipe = _copy(tmp_path)
    lines, err = _read_two_lines_and_close(_popen(recipe, "--json"))
    assert all(json.loads(line) for line in lines)
    assert "Traceback" not in err and "Exception ignored" not in err and "Broken" not in err, err
    totals = _totals(recipe)
    assert totals["complete"] == totals["jobs"] == 6
    assert totals["credits_charged"] == totals["credits_estimated"]


def test_a_closed_stdout_does_not_stop_a_plain_run(tmp_path: Path) -> None:
    """`run | head -2` (plain lines): the same."""
    recipe = _copy(tmp_path)
    _, err = _read_two_lines_and_close(_popen(recipe))
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert _totals(recipe)["complete"] == 6


def test_json_lines_start_with_the_plan_and_carry_the_schema(tmp_path: Path) -> None:
    """Every stdout line is a JSON object with "schema": 1; the first is the plan summary (the
    `plan --json` object), the last the finish."""
    recipe = _copy(tmp_path)
    out, err = _popen(recipe, "--json").communicate(timeout=120)
    assert b"Traceback" not in err
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert all(event["schema"] == 1 for event in events)
    first = events[0]
    assert first["event"] == "plan"
    assert (first["recipe"], first["jobs"], first["outputs"]) == ("quickstart", 6, 6)
    assert first["credits"]["total"] == 51 and first["diff"]["new"] == 6
    assert [s["name"] for s in first["stages"]] == ["shot", "cutout"]
    assert events[-1]["event"] == "finish"


def test_a_refused_run_reports_its_error_as_a_json_line(tmp_path: Path) -> None:
    """Over budget with --json: an "error" event on stdout (nothing else there), the message
    on stderr too, exit 1, nothing rendered."""
    recipe = _copy(tmp_path)
    recipe.write_text(recipe.read_text() + "budget: {max_credits: 10}\n")
    proc = _popen(recipe, "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["event"] for e in events] == ["error"]
    message = (
        "rendering the rest costs 51 credits; with 0 already charged that is 51, "
        "above the recipe's budget of 10"
    )
    assert events[0]["message"] == message and events[0]["schema"] == 1
    assert err.decode() == f"error: {message}\n"
    assert not (recipe.parent / "out" / "quickstart" / "manifest.json").exists()


def test_json_on_a_terminal_shows_the_plan_on_stderr_before_asking(tmp_path: Path) -> None:
    """Without --yes on a terminal, the plan tables and the question go to stderr; stdout stays
    JSON lines (the plan event), and answering no submits nothing."""
    import pty

    recipe = _copy(tmp_path)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--json"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(secondary)
    os.write(primary, b"n\n")
    out, err = proc.communicate(timeout=120)
    os.close(primary)
    assert proc.returncode == 0, err.decode()
    assert [json.loads(line)["event"] for line in out.decode().splitlines()] == ["plan"]
    text = err.decode()
    assert text.index("Plan for quickstart") < text.index("Render it? [y/N]")
    assert "Nothing was submitted." in text
