"""The webhook receiver: authentication, parsing, and what it refuses."""

from __future__ import annotations

import anyio
import httpx
import pytest

from leobatch.run.webhook import Callback, authorized, parse_callback, serve_webhooks

pytestmark = pytest.mark.anyio

ENVELOPE = {
    "type": "image_generation.complete",
    "object": "generation",
    "timestamp": 1699490546932,
    "api_version": "v1",
    "data": {
        "object": {
            "id": "gen-1",
            "status": "COMPLETE",
            "images": [
                {"id": "img-1", "url": "https://cdn/x_0.jpg", "nsfw": False},
                {"id": "img-2", "url": "https://cdn/x_1.jpg", "motionMP4URL": "https://cdn/x.mp4"},
            ],
        }
    },
}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_authorization_is_exact() -> None:
    """Only the exact bearer key passes; no key configured lets everything through."""
    assert authorized("Bearer k1", "k1")
    assert not authorized("Bearer k2", "k1")
    assert not authorized("k1", "k1")
    assert not authorized(None, "k1")
    assert authorized(None, None)


def test_the_documented_envelope_parses() -> None:
    """camelCase images with their ids, urls and video urls."""
    cb = parse_callback(ENVELOPE)
    assert cb is not None
    assert (cb.generation_id, cb.status, len(cb.images)) == ("gen-1", "COMPLETE", 2)
    assert cb.images[1].motion_mp4_url == "https://cdn/x.mp4"


@pytest.mark.parametrize(
    "payload",
    [None, [], {"type": "video_generation.complete"}, {"type": "image_generation.complete"},
     {"type": "image_generation.complete", "data": {"object": {"id": 7}}}],
)  # fmt: skip
def test_unknown_payloads_are_ignored(payload: object) -> None:
    """Anything that is not a generation callback yields nothing, and raises nothing."""
    assert parse_callback(payload) is None


async def test_the_server_checks_the_key_and_hands_over_callbacks() -> None:
    """A real POST: 401 without the key, 204 with it, and the callback arrives."""
    got: list[Callback] = []

    async def on_callback(cb: Callback) -> None:
        got.append(cb)

    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_webhooks, "127.0.0.1", 0, "k1", on_callback)
        url = f"http://127.0.0.1:{port}/hook"
        async with httpx.AsyncClient() as http:
            denied = await http.post(url, json=ENVELOPE, headers={"authorization": "Bearer no"})
            bad = await http.post(url, content=b"{not json", headers={"authorization": "Bearer k1"})
            ok = await http.post(url, json=ENVELOPE, headers={"authorization": "Bearer k1"})
            wrong = await http.get(url)
        tg.cancel_scope.cancel()
    assert (denied.status_code, bad.status_code, ok.status_code) == (401, 400, 204)
    assert wrong.status_code == 405
    assert [cb.generation_id for cb in got] == ["gen-1"]
