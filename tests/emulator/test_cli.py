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
    """It answers once started, prints the base URL, and exits 0 on SIGTERM.

    (Its start-up time is a benchmark, not a test: the old 2 s bound failed on a loaded machine.)
    """
    port = _free_port()
    argv = [sys.executable, "-m", "leobatch", "emulator", "--port", str(port),
            "--time-scale", "0.1"]  # fmt: skip
    started = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        base = f"http://127.0.0.1:{port}/api/rest/v1"
        answered = None
        while time.monotonic() - started < 30.0 and answered is None:  # a bound, not a timing
            try:
                answered = httpx.get(
                    f"{base}/me", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
                )
            except httpx.ConnectError:
                time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert answered is not None and answered.status_code == 200, err
    assert proc.returncode == 0, err
    assert base in out


def test_cli_billing_and_v2_flags() -> None:
    """--billing dollars --usd and --v2-errors-as-200 reach the served emulator."""
    port = _free_port()
    argv = [sys.executable, "-m", "leobatch", "emulator", "--port", str(port), "--billing",
            "dollars", "--usd", "5", "--v2-errors-as-200"]  # fmt: skip
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        root = f"http://127.0.0.1:{port}/api/rest"
        me = None
        deadline = time.monotonic() + 30  # a generous bound for a loaded machine, not a timing
        while me is None and time.monotonic() < deadline:
            try:
                me = httpx.get(f"{root}/v1/me", headers=headers)
            except httpx.ConnectError:
                time.sleep(0.05)
        refused = httpx.post(f"{root}/v2/generations", headers=headers,
                             json={"model": "sora-2", "parameters": {"prompt": "x"}})  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert me is not None, err
    assert me.json()["user_details"][0]["apiDollarBalance"] == 5.0
    assert refused.status_code == 200 and "retired" in refused.json()[0]["message"]
