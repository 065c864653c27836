"""Killing a `leobatch run` subprocess mid-work, for the SIGKILL-and-resume fault tests."""

from __future__ import annotations

import random
import signal
import subprocess
import time


def kill_after_events(
    proc: subprocess.Popen[bytes], events: int, rng: random.Random, pause_s: float = 0.05
) -> bool:
    """SIGKILL ``proc`` after it printed ``events`` progress lines (JSON lines on its stdout)
    and a random moment up to ``pause_s`` more, so the kill lands mid-run; True if it was still
    going. Waits for it and closes its pipes."""
    assert proc.stdout is not None
    seen = 0
    while seen < events and proc.stdout.readline():
        seen += 1
    time.sleep(rng.uniform(0.0, pause_s))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return killed
