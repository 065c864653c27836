"""Helpers for the API client tests: an in-process emulator with a client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx

from leobatch.api.client import LeonardoClient, RetryPolicy
from leobatch.emulator.app import create_app
from leobatch.emulator.config import EmulatorConfig
from leobatch.emulator.state import EmulatorState

#: the key every in-process test uses (a well-formed UUID the emulator accepts)
KEY = "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a"
#: fast retries: the shape of production backoff at a fraction of the waits
FAST_RETRY = RetryPolicy(attempts=5, base_s=0.005, cap_s=0.05)

Emulated = Callable[..., AbstractAsyncContextManager[tuple[LeonardoClient, EmulatorState]]]


@asynccontextmanager
async def emulated(
    *, key: str = KEY, retry: RetryPolicy = FAST_RETRY, wrap: Any = None, **options: Any
) -> AsyncIterator[tuple[LeonardoClient, EmulatorState]]:
    """A client on a fresh in-process emulator (``options`` are EmulatorConfig's).

    ``wrap`` is an optional ASGI middleware factory put in front of the emulator.
    """
    config = EmulatorConfig(**{"time_scale": 0.01, **options})
    app = create_app(config)
    state = app.state.emulator
    assert isinstance(state, EmulatorState)
    asgi = app if wrap is None else wrap(app)
    transport = httpx.ASGITransport(asgi)
    async with LeonardoClient(
        key, "http://emulator.test/api/rest/v1", transport=transport, retry=retry
    ) as client:
        yield client, state
