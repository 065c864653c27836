"""Pipelines stream: a downstream job's status is asked for on its own schedule, never held up
by a listing of generations."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio


def _pipeline(roots: int) -> str:
    """image -> nobg -> universal upscale, ``roots`` root jobs."""
    return f"""\
version: 1
name: stream
matrix:
  seed: {list(range(1, roots + 1))}
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug, take {{{{ seed }}}}"
    params: {{width: 512, height: 512, num_images: 1, seed: "{{{{ seed }}}}"}}
  cutout:
    kind: nobg
    from: shot
  large:
    kind: universal-upscale
    from: cutout
    params: {{upscaleMultiplier: 1.5}}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowListings(httpx.AsyncBaseTransport):
    """The network between leobatch and the API, where listings of generations are slow: once
    a cutout is out, a listing is held until some cutout has been seen COMPLETE by its own poll
    (at most ``limit_s``, then let through and counted in ``held``)."""

    def __init__(self, limit_s: float = 10.0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.limit_s = limit_s
        self.cutout_out = False
        self.cutout_seen = anyio.Event()
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and "/generations/user/" in path and self.cutout_out:
            with anyio.move_on_after(self.limit_s) as scope:
                await self.cutout_seen.wait()
            self.held += scope.cancelled_caught
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and path.endswith("/variations/nobg"):
            self.cutout_out = True
        if request.method == "GET" and "/variations/" in path:
            body = await response.aread()
            if b'"COMPLETE"' in body:
                self.cutout_seen.set()
            headers = [(k, v) for k, v in response.headers.items() if k != "content-encoding"]
            return httpx.Response(response.status_code, headers=headers, content=body)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_slow_listing_does_not_hold_up_a_downstream_jobs_poll(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Status requests are tasks of their own: while a listing of generations hangs, a cutout
    is still polled by id when it is due, and seen complete."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(_pipeline(3))
    plan = expand_plan(load_recipe(recipe))
    network = SlowListings()
    async with LeonardoClient(emulator.api_key, emulator.base_url, transport=network) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(
                priced, client, journal, options=RunOptions(time_scale=TEST_TIME_SCALE)
            )
    assert result.complete == len(plan.jobs)
    assert network.cutout_out and network.cutout_seen.is_set()
    assert network.held == 0
