"""`leobatch run` stopped by a signal during start-up: SIGTERM is Ctrl-C, exit 130, no job sent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
KEY = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
ME = json.dumps(
    {
        "user_details": [
            {
                "user": {"id": "6e2c1f0a-5b7d-4c3e-9a8f-1d2b3c4d5e6f", "username": "stuck"},
                "apiConcurrencySlots": 10,
                "apiPaidTokens": 100000,
                "apiSubscriptionTokens": 0,
            }
        ]
    }
).encode()


class _StuckApi:
    """A loopback "API" that answers ``GET /me`` (unless told not to) and never anything else.

    ``asked`` is set once a request it will not answer has arrived: the run is then waiting on
    the network, in start-up, with nothing submitted.
    """

    def __init__(self, answer_me: bool) -> None:
        self.answer_me = answer_me
        self.asked = threading.Event()
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        self._held.append(conn)
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0]
            self.requests.append(line)
            if self.answer_me and line.startswith(b"GET /api/rest/v1/me "):
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(ME)).encode() + b"\r\n\r\n" + ME
                )  # fmt: skip
                continue
            self.asked.set()
            return  # hold the connection open, unanswered

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@contextmanager
def stuck_api(*, answer_me: bool) -> Iterator[_StuckApi]:
    api = _StuckApi(answer_me)
    try:
        yield api
    finally:
        api.close()


@pytest.mark.parametrize(
    ("signum", "answer_me"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGINT, False)],
    ids=["SIGTERM asking /me", "SIGTERM pricing", "SIGINT asking /me"],
)
def test_a_signal_during_start_up_exits_130(
    tmp_path: Path, signum: signal.Signals, answer_me: bool
) -> None:
    """Stuck on GET /me or on the pricing calculator: SIGTERM, like Ctrl-C, says Interrupted."""
    shutil.copy(RECIPES / "quickstart.yaml", tmp_path / "quickstart.yaml")
    with stuck_api(answer_me=answer_me) as api:
        env = {
            **os.environ,
            "LEONARDO_API_KEY": KEY,
            "LEONARDO_API_BASE_URL": f"http://127.0.0.1:{api.port}/api/rest/v1",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),  # the price cache stays in the test
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "leobatch", "run", "quickstart.yaml", "--yes"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert api.asked.wait(20), "the run never reached the API"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().endswith("Interrupted."), err
    assert "Traceback" not in err
    assert "complete" not in out
    expected = b"POST /api/rest/v1/pricing-calculator" if answer_me else b"GET /api/rest/v1/me"
    assert api.requests[-1].startswith(expected)
    assert not any(b"/generations" in line for line in api.requests)


MANY = """\
version: 1
name: many
matrix:
  seed: {seeds}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: a ceramic coffee mug on a marble table
    params: {{width: 512, height: 512, num_images: 1, seed: "{{{{ seed }}}}"}}
"""


@pytest.mark.parametrize("signals", [1, 2], ids=["once: stop gently", "twice: stop now"])
def test_signals_while_rendering(tmp_path: Path, signals: int) -> None:
    """In the engine, a first SIGTERM stops submitting and waits for jobs in flight; a second
    exits at once. Either way: exit 130, and far from every job was sent."""
    (tmp_path / "many.yaml").write_text(MANY.format(seeds=list(range(60))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "leobatch", "run", "many.yaml", "--emulator", "--yes", "--json"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "submitted":
                break
        for _ in range(signals):
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err
    events = [json.loads(line)["event"] for line in out.splitlines()]
    if signals == 1:
        assert "stopping" in events
        assert events[-1] == "finish"
    assert events.count("submitted") < 60
