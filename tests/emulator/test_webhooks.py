"""Webhooks: ``image_generation.complete`` with the bearer webhook key, per completed job."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import EmulatorHandle
from tests.emulator.support import client

Factory = Callable[..., EmulatorHandle]
Received = list[tuple[dict[str, str], dict[str, Any]]]


class _Receiver(BaseHTTPRequestHandler):
    received: Received

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    """A webhook endpoint on a loopback port recording every POST."""
    received: Received = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()
    thread.join()


def test_completed_generations_are_posted(
    make_emulator: Factory, receiver: tuple[str, Received]
) -> None:
    """Each COMPLETE generation is POSTed once with the documented envelope and bearer key."""
    url, received = receiver
    handle = make_emulator(webhook_url=url, webhook_key="hook-secret")
    with client(handle) as http:
        ids = {http.post("/generations", json={"prompt": f"p{i}", "num_images": 2})
               .json()["sdGenerationJob"]["generationId"] for i in range(3)}  # fmt: skip
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert {body["data"]["object"]["id"] for _, body in received} == ids
    headers, body = received[0]
    assert headers["authorization"] == "Bearer hook-secret"
    assert (body["type"], body["object"], body["api_version"]) == (
        "image_generation.complete", "generation", "v1")  # fmt: skip
    assert isinstance(body["timestamp"], int) and body["timestamp"] > 1_600_000_000_000
    row = body["data"]["object"]
    assert row["status"] == "COMPLETE" and len(row["images"]) == 2
    assert row["images"][0]["url"].startswith(handle.origin + "/cdn/users/")


def test_failed_generations_send_nothing(
    make_emulator: Factory, receiver: tuple[str, Received]
) -> None:
    """Only completions are documented, so a FAILED job posts no webhook."""
    url, received = receiver
    handle = make_emulator(webhook_url=url, fail_rate=1.0)
    with client(handle) as http:
        http.post("/generations", json={"prompt": "x", "num_images": 1})
    time.sleep(0.3)
    assert received == []
    assert handle.stats()["faults"]["fail"] == 1
