"""The event loop the CLI runs on (``leobatch._loop``): uvloop where installed, the standard
library's on request, and a clear error for a value that is neither."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leobatch._loop import LOOP_ENV, backend_options, run
from leobatch.errors import LeobatchError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
uvloop = pytest.importorskip("uvloop") if sys.platform != "win32" else None


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_default_loop_is_uvloop_and_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset (or ``auto``): uvloop's loop; ``asyncio``: the standard library's."""
    if uvloop is None:
        pytest.skip("uvloop does not support Windows")
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert run(_loop_type).startswith("uvloop")
    monkeypatch.setenv(LOOP_ENV, "Auto")
    assert run(_loop_type).startswith("uvloop")
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    assert backend_options() == {}
    assert run(_loop_type).startswith("asyncio")


def test_an_unknown_loop_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOP_ENV, "tokio")
    with pytest.raises(LeobatchError, match=r"LEOBATCH_EVENT_LOOP='tokio' is not one of: auto"):
        backend_options()


def _render(tmp_path: Path, loop: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    recipe = tmp_path / "recipes" / "quickstart.yaml"
    return subprocess.run(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--yes", "--json"],
        env={**os.environ, LOOP_ENV: loop},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_the_quickstart_renders_on_either_loop(tmp_path: Path, loop: str) -> None:
    """The README's render on each loop: every job complete, every file in the manifest."""
    done = _render(tmp_path, loop)
    assert done.returncode == 0, done.stderr
    finish = [json.loads(line) for line in done.stdout.splitlines() if '"finish"' in line]
    assert finish and finish[-1]["complete"] == finish[-1]["jobs"] > 0
    manifest = json.loads(
        (tmp_path / "recipes" / "out" / "quickstart" / "manifest.json").read_text()
    )
    files = [o["path"] for j in manifest["jobs"] for o in j["outputs"]]
    assert files and all((tmp_path / "recipes" / "out" / "quickstart" / f).is_file() for f in files)


def test_an_unknown_loop_stops_the_cli_before_anything_is_sent(tmp_path: Path) -> None:
    """A user error: one line naming the variable, exit 1, no traceback, no output folder."""
    done = _render(tmp_path, "tokio")
    assert done.returncode == 1
    assert "LEOBATCH_EVENT_LOOP='tokio' is not one of: auto, uvloop, asyncio" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "recipes" / "out" / "quickstart").exists()
