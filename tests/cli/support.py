"""Running the real CLI in a subprocess, for the CLI tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
