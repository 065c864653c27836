"""The downloader retries through the client's loop: Retry-After honoured, 429s budgeted apart."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from leobatch.errors import TransientError
from leobatch.run.download import download

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Downloads use anyio only, so they run on asyncio and on trio."""
    return str(request.param)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "olive").save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


class Throttled:
    """A CDN that answers 429 ``times`` times, each asking for ``retry_after`` (a header value);
    it notes every request that came back before the wait it asked for had passed."""

    def __init__(self, times: int, retry_after: str | None, wait_s: float = 0.0) -> None:
        self.times, self.retry_after, self.wait_s = times, retry_after, wait_s
        self.hits = 0
        self.early = 0
        self._not_before = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.hits += 1
        now = time.monotonic()
        if now < self._not_before:
            self.early += 1
        if self.hits > self.times:
            return httpx.Response(200, content=PNG)
        self._not_before = now + self.wait_s
        headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
        return httpx.Response(429, content=b"slow down", headers=headers)


async def _fetch(cdn: Throttled, dest: Path, *, attempts: int) -> int:
    async with httpx.AsyncClient(transport=httpx.MockTransport(cdn)) as client:
        got = await download(
            client, "http://cdn.test/x.png", dest, media="image", attempts=attempts, backoff_s=0.001
        )
    return got.bytes


async def test_retry_after_is_waited_for(tmp_path: Path) -> None:
    """Each 429's Retry-After is honoured: no request comes back before the server said."""
    cdn = Throttled(times=2, retry_after="0.2", wait_s=0.2)
    assert await _fetch(cdn, tmp_path / "x.png", attempts=4) == len(PNG)
    assert (cdn.hits, cdn.early) == (3, 0)


async def test_429s_do_not_spend_the_transient_budget(tmp_path: Path) -> None:
    """Three 429s with a single transient attempt allowed: the file still lands (the 429s
    have the client's own budget, as in every other request leobatch makes)."""
    cdn = Throttled(times=3, retry_after=None)
    assert await _fetch(cdn, tmp_path / "x.png", attempts=1) == len(PNG)
    assert cdn.hits == 4


async def test_429s_are_bounded_by_their_budget(tmp_path: Path) -> None:
    """A CDN that never stops throttling: TransientError after the client's 429 budget (10)."""
    cdn = Throttled(times=1000, retry_after=None)
    with pytest.raises(TransientError, match=r"failed after 10 attempts: HTTP 429"):
        await _fetch(cdn, tmp_path / "x.png", attempts=4)
    assert cdn.hits == 10
    assert list(tmp_path.iterdir()) == []


async def test_a_very_long_retry_after_is_not_slept_through(tmp_path: Path) -> None:
    """A Retry-After of an hour is beyond the policy's maximum: the download fails at once
    (the run fetches it next time) instead of holding a download slot for an hour."""
    cdn = Throttled(times=1, retry_after="3600")
    with pytest.raises(TransientError, match=r"failed after 1 attempt: HTTP 429"):
        await _fetch(cdn, tmp_path / "x.png", attempts=4)
    assert cdn.hits == 1
