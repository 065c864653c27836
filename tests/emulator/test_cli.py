"""``leobatch emulator`` as users run it: a subprocess that serves until SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import TEST_API_KEY


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_cli_serves_and_stops_on_sigterm() -> None:
    """It answers within 2 s of starting, prints the base URL, and exits 0 on SIGTERM."""
    port = _free_port()
    argv = [sys.executable, "-m", "leobatch", "emulator", "--port", str(port),
            "--time-scale", "0.1"]  # fmt: skip
    started = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        base = f"http://127.0.0.1:{port}/api/rest/v1"
        answered = None
        while time.monotonic() - started < 2.0 and answered is None:
            try:
                answered = httpx.get(
                    f"{base}/me", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
                )
            except httpx.ConnectError:
                time.sleep(0.02)
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert answered is not None and answered.status_code == 200, err
    assert elapsed < 2.0
    assert proc.returncode == 0, err
    assert base in out
