"""Fixtures for the API client tests: both anyio backends, an in-process emulator."""

from __future__ import annotations

import pytest
from api_support import Emulated, emulated


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture(name="emulated")
def emulated_fixture() -> Emulated:
    """``async with emulated(**emulator_options) as (client, state)``: an in-process emulator."""
    return emulated
