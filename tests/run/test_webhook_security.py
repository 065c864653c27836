"""Forged webhook callbacks change nothing: a real run against a loopback emulator.

The sender has the right key (an authenticated but lying sender): its FAILED must not make the
run pay again, its COMPLETE must not make an attacker's file our output. The callback is only a
hint; status and URLs come from the API. And ``run --webhook-listen`` refuses to start without
a key.
"""

from __future__ import annotations

import io
import shutil
import socket
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from PIL import Image

from leobatch.api.client import LeonardoClient
from leobatch.plan import expand_plan
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal
from tests.cli.support import leobatch
from tests.conftest import EmulatorHandle

pytestmark = pytest.mark.anyio

KEY = "hook-secret"
#: An image job takes 0.4-0.8 s: a forged callback sent right after submission finds it PENDING.
SCALE = 0.1
RECIPE = """\
version: 1
name: forged
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: a ceramic mug on a marble table
    params: {width: 512, height: 512, num_images: 2, seed: 7}
"""
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _true_callbacks(port: int) -> dict[str, Any]:
    """Emulator options: its own, true, callbacks go to the run's receiver (as Leonardo's do)."""
    return {"webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_key": KEY}


def _envelope(generation_id: str, status: str, images: list[dict[str, Any]]) -> dict[str, Any]:
    row = {"id": generation_id, "status": status, "images": images}
    return {"type": "image_generation.complete", "object": "generation",
            "timestamp": 1699490546932, "api_version": "v1", "data": {"object": row}}  # fmt: skip


class _Attacker(BaseHTTPRequestHandler):
    """Serves a perfectly valid JPEG for any path, and remembers being asked."""

    asked: list[str]
    image: bytes

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/jpeg")
        self.send_header("content-length", str(len(self.image)))
        self.end_headers()
        self.wfile.write(self.image)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def attacker() -> Iterator[tuple[str, list[str], bytes]]:
    """A second loopback server: its origin, the paths it was asked for, the bytes it serves."""
    jpeg = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 0, 0)).save(jpeg, "JPEG")
    asked: list[str] = []
    handler = type("Handler", (_Attacker,), {"asked": asked, "image": jpeg.getvalue()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked, jpeg.getvalue()
    server.shutdown()
    server.server_close()
    thread.join()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return bytes(image.convert("RGB").tobytes())


async def _price(tmp_path: Path, emu: EmulatorHandle) -> PricedPlan:
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(RECIPE))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        return await price_online(expand_plan(load_recipe(path)), client, cache=None)


async def _run_with_forgery(
    priced: PricedPlan, emu: EmulatorHandle, port: int, forge: Any
) -> tuple[RunResult, list[Event], int, str | None]:
    """Run ``priced`` with webhooks on ``port``; once its job is submitted, post
    ``forge(remote_id)`` there with the right key. Returns the result, the events, the
    receiver's answer and the job's status on the emulator just after the forgery arrived."""
    options = RunOptions(time_scale=SCALE, webhook_listen=("127.0.0.1", port), webhook_key=KEY)
    events: list[Event] = []
    submitted = anyio.Event()
    results: list[RunResult] = []

    def sink(event: Event) -> None:
        events.append(event)
        if event.type == "submitted":
            submitted.set()

    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:

            async def run() -> None:
                results.append(await run_plan(priced, client, journal, options=options,
                                              on_event=sink))  # fmt: skip

            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                with anyio.fail_after(10):
                    await submitted.wait()
                remote_id = next(e.data["remote_id"] for e in events if e.type == "submitted")
                async with httpx.AsyncClient() as http:
                    reply = await http.post(
                        f"http://127.0.0.1:{port}/hook",
                        json=forge(remote_id),
                        headers={"authorization": f"Bearer {KEY}"},
                    )
                gen = await client.get_generation(remote_id)
    return results[0], events, reply.status_code, gen.status if gen else None


async def test_a_forged_failed_callback_does_not_pay_again(
    tmp_path: Path, make_emulator: Any
) -> None:
    """A FAILED callback for a PENDING job: no resubmission, and the job completes normally."""
    port = _free_port()
    emu = make_emulator(time_scale=SCALE, **_true_callbacks(port))
    priced = await _price(tmp_path, emu)
    result, events, answered, status_then = await _run_with_forgery(
        priced, emu, port, lambda rid: _envelope(rid, "FAILED", [])
    )
    assert (answered, status_then) == (204, "PENDING")
    assert any(e.type == "callback" for e in events)  # the hint was taken, and checked
    assert (result.complete, result.failed, result.pending) == (1, 0, 0)
    stats = emu.stats()
    assert stats["creates"] == 1
    assert set(stats["creates_per_body"].values()) == {1}
    assert stats["jobs_failed"] == 0
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        state = journal.job(priced.plan.jobs[0].key)
    assert (state.status, state.failures) == ("complete", 0)


async def test_a_forged_complete_callback_cannot_plant_an_output(
    tmp_path: Path, make_emulator: Any, attacker: tuple[str, list[str], bytes]
) -> None:
    """A COMPLETE callback naming an attacker's URLs: the outputs are the emulator's images,
    and the attacker's server is never asked for anything."""
    origin, asked, planted = attacker
    port = _free_port()
    emu = make_emulator(time_scale=SCALE, **_true_callbacks(port))
    priced = await _price(tmp_path, emu)
    images = [{"id": f"evil-{i}", "url": f"{origin}/evil_{i}.jpg", "nsfw": False} for i in (0, 1)]
    result, events, answered, status_then = await _run_with_forgery(
        priced, emu, port, lambda rid: _envelope(rid, "COMPLETE", images)
    )
    assert (answered, status_then) == (204, "PENDING")
    assert any(e.type == "callback" for e in events)
    assert (result.complete, result.failed) == (1, 0)
    assert asked == []
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        outputs = journal.outputs(priced.plan.jobs[0].key)
    assert len(outputs) == 2
    async with httpx.AsyncClient() as http:
        for out in outputs:
            assert out.url is not None and out.url.startswith(emu.origin + "/cdn/")
            # pixels, not bytes: the saved file may carry leobatch's provenance metadata
            on_disk = _pixels((priced.plan.output_dir / out.path).read_bytes())
            assert on_disk == _pixels((await http.get(out.url)).content)
            assert on_disk != _pixels(planted)


@pytest.mark.parametrize("value", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_webhook_listen_without_a_key_is_refused_before_anything_happens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """No LEOBATCH_WEBHOOK_KEY: a usage error (exit 2) naming the variable; nothing priced."""
    if value is None:
        monkeypatch.delenv("LEOBATCH_WEBHOOK_KEY", raising=False)
    else:
        monkeypatch.setenv("LEOBATCH_WEBHOOK_KEY", value)
    shutil.copy(RECIPES / "quickstart.yaml", tmp_path / "quickstart.yaml")
    port = _free_port()
    run = leobatch(
        "run", "quickstart.yaml", "--emulator", "--yes", "--webhook-listen", f"127.0.0.1:{port}",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().endswith(
        "Error: --webhook-listen needs LEOBATCH_WEBHOOK_KEY: export LEOBATCH_WEBHOOK_KEY=<the "
        "webhook callback API key set on your Leonardo API key>; callbacks without it are refused"
    )
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
