"""A faithful local stand-in for the Leonardo.ai Production API (DESIGN section 8).

Same paths, bodies, envelopes and errors as the real API; jobs on a simulated clock within
slots and rate limits; real image and video files; prices from the shared rate card; faults on
demand; and ``GET /_emulator/stats`` to see what a client did.

    app = create_app(EmulatorConfig(time_scale=0.01))       # in-process, httpx.ASGITransport
    with serve_in_thread(EmulatorConfig()) as base_url: ...  # a real loopback server
"""

from __future__ import annotations

from leobatch.emulator.app import API_PREFIX, create_app
from leobatch.emulator.config import EmulatorConfig
from leobatch.emulator.server import EmulatorServer, serve_in_thread
from leobatch.emulator.state import EmulatorState

__all__ = [
    "API_PREFIX",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "create_app",
    "serve_in_thread",
]
