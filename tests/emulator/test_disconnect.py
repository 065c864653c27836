"""A client that goes away mid-request (a run stopped at once) is not a server error."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.conftest import EmulatorHandle


def test_a_create_cut_off_mid_body_logs_no_traceback(
    make_emulator: Callable[..., EmulatorHandle], capfd: pytest.CaptureFixture[str]
) -> None:
    """The body never arrives: nothing is created, and no 'Exception in ASGI application'."""
    emu = make_emulator()
    url = urlsplit(emu.base_url)
    head = (
        f"POST {url.path}/generations HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {emu.api_key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 500\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head.encode() + b'{"prompt": "a mug"')
    deadline = time.monotonic() + 5
    while emu.stats()["requests"].get("POST /generations", 0) == 0:
        assert time.monotonic() < deadline, "the emulator never saw the request"
        time.sleep(0.02)
    time.sleep(0.3)  # let the server notice the disconnect (uvicorn logs to stderr)
    assert "Traceback" not in capfd.readouterr().err
    assert emu.stats()["jobs_created"] == 0
