"""Verified downloads against a real ASGI app: good, truncated, corrupt and flaky responses."""

from __future__ import annotations

import gzip
import hashlib
import io
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leobatch.errors import NotFoundError, TransientError
from leobatch.run.download import download

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Downloads use anyio only, so they run on asyncio and on trio."""
    return str(request.param)


def png_bytes(colour: str = "teal") -> bytes:
    """A small real PNG."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, format="PNG")
    return buf.getvalue()


def mp4_bytes(tmp: Path) -> bytes:
    """A small real MP4 (three 32x32 frames) made with PyAV."""
    path = tmp / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for n in range(3):
            image = Image.new("RGB", (32, 32), (n * 80, 40, 90))
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


PNG = png_bytes()


class Cdn:
    """A tiny CDN: routes that serve good, truncated, corrupt and flaky bodies; counts hits."""

    def __init__(self, video: bytes) -> None:
        self.hits: Counter[str] = Counter()
        self.auth_seen: list[str | None] = []
        self.video = video
        self.app = Starlette(routes=[Route("/{name:path}", self.serve)])

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits[name] += 1
        self.auth_seen.append(request.headers.get("authorization"))
        n = self.hits[name]
        if name == "good.png":
            return Response(PNG, media_type="image/png")
        if name == "truncated.png" or (name == "truncated-twice.png" and n <= 2):
            return Response(PNG[: len(PNG) // 2], headers={"Content-Length": str(len(PNG))})
        if name == "truncated-twice.png":
            return Response(PNG, media_type="image/png")
        if name == "corrupt.png":  # correct length, but the image data stops half-way
            return Response(PNG[:60] + b"\0" * (len(PNG) - 60), media_type="image/png")
        if name == "flaky.png":
            return Response(b"busy", status_code=503) if n <= 2 else Response(PNG)
        if name == "gzipped.png":  # Content-Length counts the encoded bytes
            return Response(gzip.compress(PNG), headers={"Content-Encoding": "gzip"})
        if name == "clip.mp4":
            return Response(self.video, media_type="video/mp4")
        if name == "not-a-video.mp4":
            return Response(PNG, media_type="video/mp4")
        return Response(b"no such key", status_code=404)


@pytest.fixture
async def cdn(tmp_path_factory: pytest.TempPathFactory) -> Cdn:
    """The CDN app with its video prepared."""
    return Cdn(mp4_bytes(tmp_path_factory.mktemp("video")))


@pytest.fixture
async def client(cdn: Cdn) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client bound to the CDN app, carrying an API key it must not send there."""
    transport = httpx.ASGITransport(app=cdn.app)
    headers = {"Authorization": "Bearer sk-do-not-leak"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cdn.test", headers=headers
    ) as c:
        yield c


def leftovers(directory: Path) -> list[str]:
    """Every file in ``directory`` (temp files included)."""
    return sorted(p.name for p in directory.iterdir())


async def test_good_image_lands_verified_without_the_api_key(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """A good PNG is written with its sha256; the Authorization header never reaches the CDN."""
    dest = tmp_path / "hero" / "a" / "0.png"
    got = await download(client, "http://cdn.test/good.png", dest, media="image")
    assert dest.read_bytes() == PNG
    assert (got.sha256, got.bytes, got.media_type, got.fetched) == (
        hashlib.sha256(PNG).hexdigest(),
        len(PNG),
        "image/png",
        True,
    )
    assert cdn.auth_seen == [None]
    assert leftovers(dest.parent) == ["0.png"]


async def test_file_with_journaled_sha_is_not_fetched_again(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """A file already there with the expected sha256 is kept; a wrong one is replaced."""
    dest = tmp_path / "0.png"
    dest.write_bytes(PNG)
    sha = hashlib.sha256(PNG).hexdigest()
    kept = await download(
        client, "http://cdn.test/good.png", dest, media="image", expected_sha256=sha
    )
    assert (kept.fetched, kept.sha256, cdn.hits["good.png"]) == (False, sha, 0)
    dest.write_bytes(png_bytes("red"))
    again = await download(
        client, "http://cdn.test/good.png", dest, media="image", expected_sha256=sha
    )
    assert (again.fetched, cdn.hits["good.png"], dest.read_bytes()) == (True, 1, PNG)


async def test_truncated_body_is_retried_then_refused(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """A body shorter than its Content-Length is never kept; after the attempts: TransientError."""
    dest = tmp_path / "0.png"
    with pytest.raises(TransientError, match=r"after 3 attempts: truncated: received \d+ of \d+"):
        await download(
            client,
            "http://cdn.test/truncated.png",
            dest,
            media="image",
            attempts=3,
            backoff_s=0.001,
        )
    assert cdn.hits["truncated.png"] == 3
    assert leftovers(tmp_path) == []


async def test_truncated_twice_then_good_succeeds(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """Truncated twice, whole on the third attempt: the whole file lands."""
    dest = tmp_path / "0.png"
    got = await download(
        client, "http://cdn.test/truncated-twice.png", dest, media="image", backoff_s=0.001
    )
    assert (got.bytes, cdn.hits["truncated-twice.png"]) == (len(PNG), 3)
    assert dest.read_bytes() == PNG


async def test_corrupt_image_never_reaches_its_destination(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """An image Pillow cannot fully decode is refused, and no partial file is left behind."""
    dest = tmp_path / "0.png"
    with pytest.raises(TransientError, match="not a decodable image"):
        await download(
            client, "http://cdn.test/corrupt.png", dest, media="image", attempts=2, backoff_s=0.001
        )
    assert leftovers(tmp_path) == []


async def test_flaky_route_fails_twice_then_succeeds(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """Two 503s then a good body: retried with backoff, the file lands."""
    got = await download(
        client, "http://cdn.test/flaky.png", tmp_path / "0.png", media="image", backoff_s=0.001
    )
    assert (got.sha256, cdn.hits["flaky.png"]) == (hashlib.sha256(PNG).hexdigest(), 3)


async def test_missing_file_is_not_retried(
    client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path
) -> None:
    """A 404 raises NotFoundError at once."""
    with pytest.raises(NotFoundError, match="HTTP 404"):
        await download(client, "http://cdn.test/gone.png?x=1", tmp_path / "0.png", media="image")
    assert cdn.hits["gone.png"] == 1


async def test_video_is_probed(client: httpx.AsyncClient, cdn: Cdn, tmp_path: Path) -> None:
    """An MP4 that PyAV decodes is accepted as video/mp4."""
    dest = tmp_path / "v" / "0.mp4"
    got = await download(client, "http://cdn.test/clip.mp4", dest, media="video")
    assert (got.media_type, got.bytes, dest.read_bytes()) == (
        "video/mp4",
        len(cdn.video),
        cdn.video,
    )


async def test_non_mp4_video_is_refused(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """A body without an ftyp box is not accepted as a video."""
    with pytest.raises(TransientError, match="no ftyp box"):
        await download(
            client,
            "http://cdn.test/not-a-video.mp4",
            tmp_path / "0.mp4",
            media="video",
            attempts=1,
        )
    assert leftovers(tmp_path) == []


async def test_bytes_other_than_the_journaled_ones_are_refused(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Re-fetching a journaled output must yield the journaled sha256, or nothing lands."""
    with pytest.raises(TransientError, match="differs from the journaled"):
        await download(
            client,
            "http://cdn.test/good.png",
            tmp_path / "0.png",
            media="image",
            expected_sha256="0" * 64,
            attempts=2,
            backoff_s=0.001,
        )
    assert leftovers(tmp_path) == []


async def test_dropped_connections_are_retried(tmp_path: Path) -> None:
    """A connection dropped twice mid-response is retried; the third attempt lands the file."""
    calls = Counter[str]()

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, content=PNG)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        got = await download(
            client, "http://cdn.test/x.png", tmp_path / "x.png", media="image", backoff_s=0.001
        )
    assert (got.bytes, calls["n"]) == (len(PNG), 3)


async def test_dropped_every_time_names_the_last_error(tmp_path: Path) -> None:
    """When every attempt is dropped, the TransientError says so and nothing is left behind."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(TransientError, match="after 2 attempts: ReadTimeout: timed out"):
            await download(
                client,
                "http://cdn.test/x.png",
                tmp_path / "x.png",
                media="image",
                attempts=2,
                backoff_s=0.001,
            )
    assert leftovers(tmp_path) == []


async def test_encoded_body_is_checked_against_its_encoded_length(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A gzip-encoded response is whole when its encoded bytes match the Content-Length."""
    got = await download(client, "http://cdn.test/gzipped.png", tmp_path / "0.png", media="image")
    assert (got.bytes, (tmp_path / "0.png").read_bytes()) == (len(PNG), PNG)
