"""Verified downloads: never a partial or corrupt file at its destination.

Each output is streamed into a temporary file *in the destination's directory* (so the final
``os.replace`` is atomic), hashed while it streams, checked against the Content-Length, verified
(an image must decode completely with Pillow: small ones straight from memory, JPEGs at 1/8 scale,
which still reads every coded byte; a video must be an MP4 that PyAV can open and decode a frame
of), then renamed into place. There is no fsync: like the journal (``synchronous=NORMAL``), the
files survive a killed process, not a power loss; on resume a file whose size differs from the
journal's is fetched again. A file already at the destination with the journaled
sha256 is not fetched again. Failures (network errors, 5xx, truncated bodies, undecodable media) are
retried with short exponential backoff; after the last attempt :class:`TransientError` says why.

The request never carries an ``Authorization`` header, even when the caller passes the API client:
CDN URLs need none, and the API key must never leave for another host.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread
import httpx

from leobatch.api.http11 import send
from leobatch.errors import ApiError, NotFoundError, TransientError

__all__ = ["Downloaded", "Media", "download"]

Media = Literal["image", "video"]

_CHUNK = 1 << 16
#: Images up to this size are verified from memory, inline, instead of re-read in a thread.
_INLINE_VERIFY_BYTES = 2 << 20
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A verified file in place: its sha256, size in ``bytes``, media type, and whether it was
    fetched (``False`` when the file already there had the expected sha256)."""

    sha256: str
    bytes: int
    media_type: str
    fetched: bool = True


class _Retry(Exception):
    """One attempt failed in a way another attempt may fix."""


async def download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    media: Media,
    expected_sha256: str | None = None,
    attempts: int = 4,
    backoff_s: float = 0.25,
) -> Downloaded:
    """Fetch ``url`` into ``dest`` (directories created as needed), verified, atomically.

    Retries up to ``attempts`` times, sleeping ``backoff_s``, then twice that, ... between them.
    Raises :class:`TransientError` when every attempt failed, :class:`NotFoundError` on 404 and
    :class:`ApiError` on other client errors (not retried: asking again cannot help).
    """
    dest = Path(dest)
    if expected_sha256 is not None and dest.is_file():
        kept = await anyio.to_thread.run_sync(_check_existing, dest, media, expected_sha256)
        if kept is not None:
            return kept
    where = url.split("?", 1)[0]
    reason = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            return await _fetch_once(client, url, dest, media, expected_sha256)
        except _Retry as e:
            reason = str(e)
        except httpx.TransportError as e:
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if attempt < attempts:
            await anyio.sleep(backoff_s * 2 ** (attempt - 1))
    raise TransientError(f"download of {where} failed after {attempts} attempts: {reason}")


async def _fetch_once(
    client: httpx.AsyncClient, url: str, dest: Path, media: Media, expected: str | None
) -> Downloaded:
    request = client.build_request("GET", url)
    request.headers.pop("Authorization", None)
    response = await send(client, request, stream=True)
    try:
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code == 404:
            raise NotFoundError(f"{url.split('?', 1)[0]} does not exist (HTTP 404)", status=404)
        if response.status_code >= 400:
            raise ApiError(
                f"download refused: HTTP {response.status_code}", status=response.status_code
            )
        fd, name = _temp_file(dest)
        tmp = Path(name)
        placed = False
        try:
            digest = hashlib.sha256()
            received = 0
            kept: list[bytes] = []  # small bodies stay in memory too, to verify without a re-read
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.aiter_bytes(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    if received <= _INLINE_VERIFY_BYTES:
                        kept.append(chunk)
            _check_length(response, received)
            sha256 = digest.hexdigest()
            if expected is not None and sha256 != expected:
                raise _Retry(f"sha256 {sha256[:12]} differs from the journaled {expected[:12]}")
            if media == "image" and received <= _INLINE_VERIFY_BYTES:
                media_type = _verify_image(io.BytesIO(b"".join(kept)))
            else:
                media_type = await anyio.to_thread.run_sync(_verify, tmp, media)
            tmp.replace(dest)
            placed = True
        finally:
            if not placed:
                tmp.unlink(missing_ok=True)
    finally:
        await response.aclose()
    return Downloaded(sha256=sha256, bytes=received, media_type=media_type)


def _temp_file(dest: Path) -> tuple[int, str]:
    """A new temporary file beside ``dest`` (directories made on first need), open to write."""
    try:
        return tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except FileNotFoundError:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")


def _check_length(response: httpx.Response, received: int) -> None:
    """A body shorter (or longer) than the announced Content-Length is a truncated download.

    ``received`` counts decoded bytes; with a Content-Encoding the length is of the encoded body.
    """
    announced = response.headers.get("Content-Length")
    if announced is None or not announced.isdigit():
        return
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    got = received if encoding == "identity" else response.num_bytes_downloaded
    if got != int(announced):
        raise _Retry(f"truncated: received {got} of {announced} bytes")


def _check_existing(dest: Path, media: Media, expected: str) -> Downloaded | None:
    """The file already at ``dest`` if it has the expected sha256."""
    digest = hashlib.sha256()
    with dest.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        return None
    # The same bytes as the file verified when it was journaled: only the type is needed again.
    return Downloaded(expected, dest.stat().st_size, _sniff(dest, media), fetched=False)


def _sniff(path: Path, media: Media) -> str:
    """The media type from the file's header alone (no decoding)."""
    if media == "video":
        return "video/mp4"
    from PIL import Image

    try:
        with Image.open(path) as img:
            return Image.MIME.get(img.format or "", "application/octet-stream")
    except (OSError, SyntaxError, ValueError):
        return "application/octet-stream"


def _verify(path: Path, media: Media) -> str:
    """The media type of a file that decodes as ``media``; :class:`_Retry` when it does not."""
    return _verify_image(path) if media == "image" else _verify_video(path)


def _verify_image(path: Path | io.BytesIO) -> str:
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                # Decode at 1/8 scale: every entropy-coded byte is still read (a truncated or
                # corrupt file still fails), but the inverse DCT work shrinks 64-fold.
                img.draft("L", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
            fmt = img.format
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _Retry(f"not a decodable image: {e}") from e
    return Image.MIME.get(fmt or "", "application/octet-stream")


def _verify_video(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(64)
    if len(head) < 12 or head[4:8] != b"ftyp":
        raise _Retry("not an MP4 file (no ftyp box at the start)")
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _Retry("the MP4 has no video stream")
            next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, ValueError) as e:
        raise _Retry(f"not a playable MP4: {e}") from e
    return "video/mp4"
