"""price_plan: the public entry point, offline and through the calculator."""

from __future__ import annotations

from pathlib import Path

import pytest

from leobatch import LeonardoClient, expand_plan, load_recipe, price_plan
from tests.conftest import EmulatorHandle

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "upscale-pipeline.yaml"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_without_a_client_it_is_the_rate_card(emulator: EmulatorHandle) -> None:
    """No client: an estimate; with one: the calculator, and the same total on the emulator."""
    plan = expand_plan(load_recipe(RECIPE))
    offline = await price_plan(plan)
    assert offline.source == "rate-card"
    async with LeonardoClient(emulator.api_key, emulator.base_url) as client:
        online = await price_plan(plan, client)
    assert online.source == "calculator"
    assert online.total == offline.total > 0
    assert emulator.stats()["requests"]["POST /pricing-calculator"] > 0
