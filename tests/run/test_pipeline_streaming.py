"""Pipelines stream (issue 13 item 15): a downstream job is sent ahead of root jobs, finds a short
queue at the server, and is asked about on its own schedule, never held up by a listing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

pytestmark = pytest.mark.anyio


def _pipeline(roots: int, images: int = 1) -> str:
    """image -> nobg -> universal upscale, ``roots`` root jobs of ``images`` images each."""
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
    params: {{width: 512, height: 512, num_images: {images}, seed: "{{{{ seed }}}}"}}
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


async def _run(
    tmp_path: Path,
    emu: EmulatorHandle,
    roots: int,
    options: RunOptions,
    transport: httpx.AsyncBaseTransport | None = None,
    on_event: Callable[[Event], None] = lambda e: None,
    images: int = 1,
) -> RunResult:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(_pipeline(roots, images))
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url, transport=transport) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            result = await run_plan(priced, client, journal, options=options, on_event=on_event)
    assert result.complete == len(plan.jobs) == roots * (1 + 2 * images)
    return result


async def test_root_jobs_leave_the_servers_queue_to_downstream_work(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A root job goes out only while all the jobs in flight, downstream ones too, stay below
    the root cap (slots + 2) plus half the headroom left above it: the server runs its queue
    first in, first out, so root jobs sent on top of queued cutouts would put every later
    upscale behind them. Seen at the server: when a root job is created, fewer than that many of
    the run's jobs are unfinished there, give or take one (a downstream create that overtook
    the root's on the wire). Before, only root jobs were counted: 9 were unfinished."""
    emu = make_emulator(slots=1)
    submitted: list[str] = []
    await _run(
        tmp_path,
        emu,
        6,
        RunOptions(time_scale=TEST_TIME_SCALE, headroom=9),  # 10 in flight, root cap 3
        on_event=lambda e: submitted.append(e.stage or "") if e.type == "submitted" else None,
        images=3,  # three cutouts, then three upscales, per root job
    )
    state = emu.state
    timings = [g.timing for g in state.generations.values()]
    roots = list(timings)
    others = timings + [v.timing for v in state.variations.values()]
    assert len(roots) == 6 and len(others) == 6 * 7
    unfinished = [
        sum(1 for o in others if o is not r and o.created < r.created < o.finish) for r in roots
    ]
    assert max(unfinished) <= 3 + (10 - 3) // 2, unfinished
    # and downstream work went ahead: the last root job was sent after some final output
    assert submitted.index("large") < max(i for i, s in enumerate(submitted) if s == "shot")


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
    """The listing of generations is a task of its own: while one hangs, a cutout is still
    polled by id when it is due, and seen complete."""
    network = SlowListings()
    await _run(tmp_path, emulator, 3, RunOptions(time_scale=TEST_TIME_SCALE), network)
    assert network.cutout_out and network.cutout_seen.is_set()
    assert network.held == 0
