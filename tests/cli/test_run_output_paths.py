"""`leobatch plan`/`run` on unsafe output paths: exit 1, the located message, nothing created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EmulatorHandle

RECIPE = """\
version: 1
name: paths
matrix:
  target: {targets}
output:
  path: "{{{{ target }}}}"
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a mug, {{{{ target[-40:] }}}}"
    params: {{width: 512, height: 512, num_images: 1}}
"""


def leobatch(*args: str, cwd: Path, emu: EmulatorHandle) -> subprocess.CompletedProcess[str]:
    """The real CLI against ``emu`` (its URL and key in the environment)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "XDG_CACHE_HOME": str(cwd / ".cache"),
        "LEONARDO_API_BASE_URL": emu.base_url,
        "LEONARDO_API_KEY": emu.api_key,
    }
    return subprocess.run(
        [sys.executable, "-m", "leobatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(folder: Path, *targets: str) -> None:
    (folder / "r.yaml").write_text(RECIPE.format(targets=list(targets)))


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_path_naming_the_lock_is_refused_before_anything_is_paid(
    tmp_path: Path, emulator: EmulatorHandle, command: str
) -> None:
    """output.path rendering to .leobatch/lock: exit 1, the located message, 0 creates."""
    write(tmp_path, ".leobatch/lock", "a.jpg")
    result = leobatch(
        command, "r.yaml", *(["--yes"] if command == "run" else []), cwd=tmp_path, emu=emulator
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "r.yaml:6:3: stage 'hero' (target=.leobatch/lock): output path '.leobatch/lock' is "
        "inside .leobatch/, the folder where leobatch keeps its journal and lock; choose "
        "another folder"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert emulator.stats()["creates"] == 0


def test_run_refuses_a_user_file_and_a_long_name_then_reruns_its_own_files(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """A user's file in output.dir and a 300-byte name are refused with 0 creates; once fixed,
    the run renders, and running again over its own files is allowed (and creates nothing)."""
    out = tmp_path / "out" / "paths"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    write(tmp_path, "notes.txt", "x" * 300 + ".jpg", "a.jpg")
    result = leobatch("run", "r.yaml", "--yes", cwd=tmp_path, emu=emulator)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("r.yaml:")]
    assert lines == [
        f"r.yaml:6:3: output.path: stage 'hero' (target=notes.txt) renders to 'notes.txt': "
        f"{out / 'notes.txt'} already exists and no leobatch run in this output.dir wrote it; "
        "move it away or change output.path",
        f"r.yaml:6:3: stage 'hero' (target={'x' * 37}...): output path "
        f"'{'x' * 40}...xxxxxxxxxxxxx.jpg': the file name is 304 bytes long; this file system "
        "allows 240 (255 less 15 for the download's temporary name)",
    ]
    assert "Traceback" not in result.stderr
    assert emulator.stats()["creates"] == 0

    write(tmp_path, "a.jpg", "b/c.jpg")
    first = leobatch("run", "r.yaml", "--yes", cwd=tmp_path, emu=emulator)
    assert first.returncode == 0, first.stdout + first.stderr
    assert emulator.stats()["creates"] == 2
    assert (out / "b" / "c.jpg").is_file()
    again = leobatch("run", "r.yaml", "--yes", cwd=tmp_path, emu=emulator)
    assert again.returncode == 0, again.stdout + again.stderr
    assert emulator.stats()["creates"] == 2
