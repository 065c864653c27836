"""A download that meets a full disk stops submission at once: every job sent after it would be
paid for and its file could not be written either."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import EmulatorHandle
from tests.run.test_journal_failures import tmpfs

RECIPE = """\
version: 1
name: full
matrix: {seed: [SEEDS]}
output: {dir: out, path: "shot/{{ seed }}.{{ ext }}"}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: "a mug, take {{ seed }}"
    params: {width: 1024, height: 1024, num_images: 1, seed: "{{ seed }}"}
""".replace("SEEDS", ", ".join(str(n) for n in range(1, 41)))


@tmpfs
def test_a_full_disk_under_the_outputs_stops_submitting(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """The outputs' folder is a 64 KiB tmpfs (the journal is elsewhere): after the first
    ENOSPC no new job is sent; the run says why."""
    emu = make_emulator(time_scale=0.05, slots=2)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    shots = tmp_path / "out" / "shot"
    shots.mkdir(parents=True)
    run = (
        f"mount -t tmpfs -o size=64k tmpfs {shots} && "
        f"{sys.executable} -m leobatch run {recipe} --yes --time-scale 0.05"
    )
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", run], capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert "Stopped early: the disk is full" in result.stdout, result.stdout + result.stderr
    creates = emu.stats()["requests"]["POST /generations"]
    # Jobs already in flight when the disk filled finish (they are paid); nothing after.
    assert creates <= 12, creates
