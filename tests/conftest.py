"""Shared fixtures: a real Leonardo API emulator on a loopback port, and a factory for more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from leobatch.emulator import EmulatorConfig, EmulatorServer, EmulatorState

#: The API key the fixtures' emulators accept (any well-formed UUID works unless api_key is set).
TEST_API_KEY = "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
#: Fast clock: image jobs take ~40-80 ms, videos ~200-400 ms, a rate-limit "minute" is 0.6 s.
TEST_TIME_SCALE = 0.01
TEST_CREDITS = 10_000_000


@dataclass
class EmulatorHandle:
    """A running emulator: where it is, the key it takes, and its state for direct inspection."""

    base_url: str
    api_key: str
    state: EmulatorState
    server: EmulatorServer

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (stats, CDN and the fake S3 live here)."""
        return self.base_url.removesuffix("/api/rest/v1")

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for API requests."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``, read over HTTP so the server thread computes it."""
        response = httpx.get(f"{self.origin}/_emulator/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def _start(options: dict[str, Any]) -> EmulatorHandle:
    options = dict(options)
    options.setdefault("time_scale", TEST_TIME_SCALE)
    options.setdefault("credits", TEST_CREDITS)
    key = options.get("api_key") or TEST_API_KEY
    server = EmulatorServer(EmulatorConfig(**options))
    server.start()
    return EmulatorHandle(server.base_url, key, server.state, server)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorHandle]]:
    """Factory: ``make_emulator(slots=2, fail_rate=0.5, seed=3, ...)`` (EmulatorConfig options)."""
    started: list[EmulatorHandle] = []

    def make(**options: Any) -> EmulatorHandle:
        handle = _start(options)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.server.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """A real emulator on a free loopback port: fast clock, 10 slots, lots of credits, no faults."""
    return make_emulator()


@pytest.fixture(autouse=True)
def _private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own user data dir (the account database: price book, uploads), so no
    test learns prices from another, and none writes to the real user's."""
    monkeypatch.setenv("LEOBATCH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
