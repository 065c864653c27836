"""Serving the emulator with uvicorn: in a background thread (tests, ``run --emulator``) or in
the foreground (``leobatch emulator``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from leobatch.emulator.app import API_PREFIX, create_app
from leobatch.emulator.config import EmulatorConfig
from leobatch.emulator.responses import quiet_uvicorn
from leobatch.emulator.state import EmulatorState

__all__ = ["EmulatorServer", "bind", "serve_in_thread", "uvicorn_config"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only for that proto,
    # and without it every reply waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def uvicorn_config(state: EmulatorState, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings the emulator runs with."""
    quiet_uvicorn()
    return uvicorn.Config(
        create_app(state=state),
        log_level=log_level,
        access_log=False,
        lifespan="on",
        http="h11",
        # The standard library's loop, not uvloop even where it is installed (uvicorn's
        # "auto"): the emulator's timing and fault behaviour stay those its tests were written
        # against, whatever the client runs on.
        loop="asyncio",
        timeout_graceful_shutdown=1,
        backlog=1024,
    )


class EmulatorServer:
    """A uvicorn server for one emulator, on a loopback port, in a daemon thread."""

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind(host, port)
        bound_port = self._sock.getsockname()[1]
        self.origin = f"http://{host}:{bound_port}"
        self.base_url = self.origin + API_PREFIX
        self.state = EmulatorState(config.with_options(public_url=config.public_url or self.origin))
        self._server = uvicorn.Server(uvicorn_config(self.state))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
            name=f"leobatch-emulator-{bound_port}",
        )  # fmt: skip

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving and wait for the thread; idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def serve_in_thread(
    config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve an emulator on a loopback port for the duration of the block; yields its base URL."""
    server = EmulatorServer(config, host, port)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
