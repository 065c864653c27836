"""Running the real CLI in a subprocess, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def leobatch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run ``python -m leobatch ARGS`` in ``cwd`` (stdout is a pipe: plain output)."""
    return subprocess.run(
        [sys.executable, "-m", "leobatch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def on_emulator(emu: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m leobatch ARGS`` against the loopback emulator ``emu`` (its key and URL)."""
    env = {**os.environ, "LEONARDO_API_KEY": emu.api_key, "LEONARDO_API_BASE_URL": emu.base_url}
    return subprocess.run(
        [sys.executable, "-m", "leobatch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
