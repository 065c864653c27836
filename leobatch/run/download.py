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

Nothing is written through a symbolic link, even one planted after planning: from ``root`` (the
output folder) the destination's folder is opened one name at a time with ``O_NOFOLLOW``, the
temporary file is created in that open folder with ``O_EXCL | O_NOFOLLOW``, and the rename happens
inside it too, so a link swapped in at any moment cannot redirect the write. A link (or a file)
in the way is a :class:`DestinationError`: a failed download with a clear message, not retried.

The request never carries an ``Authorization`` header, even when the caller passes the API client:
CDN URLs need none, and the API key must never leave for another host.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import anyio
import anyio.to_thread
import httpx

from leobatch.api.http11 import send
from leobatch.errors import ApiError, NotFoundError, TransientError
from leobatch.plan.outputs import PART_TOKEN_CHARS, part_name

__all__ = ["DestinationError", "Downloaded", "Media", "download"]

Media = Literal["image", "video"]

_CHUNK = 1 << 16
#: Images up to this size are verified from memory, inline, instead of re-read in a thread.
_INLINE_VERIFY_BYTES = 2 << 20
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PART_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


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


class DestinationError(TransientError):
    """The file cannot be put at its destination: a symbolic link or a file is in the way (the
    output folder changed after planning), or the file system refused. A failed download, like
    every TransientError; another attempt would not help, so none is made."""


async def download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    media: Media,
    root: Path | None = None,
    expected_sha256: str | None = None,
    attempts: int = 4,
    backoff_s: float = 0.25,
) -> Downloaded:
    """Fetch ``url`` into ``dest`` (directories created as needed), verified, atomically.

    ``root`` is the output folder (default: ``dest``'s folder): ``dest`` must be inside it, and
    nothing from it down to ``dest`` may be a symbolic link. Retries up to ``attempts`` times,
    sleeping ``backoff_s``, then twice that, ... between them. Raises :class:`TransientError`
    when every attempt failed, :class:`DestinationError` (not retried) when the file cannot be
    put in place, :class:`NotFoundError` on 404 and :class:`ApiError` on other client errors
    (not retried: asking again cannot help).
    """
    dest = Path(dest)
    root = dest.parent if root is None else Path(root)
    if expected_sha256 is not None:
        kept = await anyio.to_thread.run_sync(_check_existing, root, dest, media, expected_sha256)
        if kept is not None:
            return kept
    where = url.split("?", 1)[0]
    reason = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            return await _fetch_once(client, url, root, dest, media, expected_sha256)
        except _Retry as e:
            reason = str(e)
        except httpx.TransportError as e:
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if attempt < attempts:
            await anyio.sleep(backoff_s * 2 ** (attempt - 1))
    raise TransientError(f"download of {where} failed after {attempts} attempts: {reason}")


async def _fetch_once(
    client: httpx.AsyncClient, url: str, root: Path, dest: Path, media: Media, expected: str | None
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
        folder = _open_folder(root, dest, create=True)
        assert folder is not None  # created when missing
        try:
            return await _stream_into(response, folder, dest, media, expected)
        finally:
            os.close(folder)
    finally:
        await response.aclose()


async def _stream_into(
    response: httpx.Response, folder: int, dest: Path, media: Media, expected: str | None
) -> Downloaded:
    """Stream the body into a temporary file in the open ``folder``, verify it, rename it."""
    name, fd = _create_part(folder, dest)
    placed = False
    try:
        digest = hashlib.sha256()
        received = 0
        kept: list[bytes] = []  # small bodies stay in memory too, to verify without a re-read
        with os.fdopen(fd, "w+b") as out:
            async for chunk in response.aiter_bytes(_CHUNK):
                digest.update(chunk)
                _write(out, chunk, dest)
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
                # The very bytes that will be renamed: the open temporary file, not a path.
                _flush(out, dest)
                media_type = await anyio.to_thread.run_sync(_verify, out, media)
        _place(folder, name, dest)
        placed = True
    except OSError as e:  # closing the file flushes its buffer: a full disk shows up here too
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e
    finally:
        if not placed:
            with contextlib.suppress(OSError):  # never created, or already gone
                os.unlink(name, dir_fd=folder)
    return Downloaded(sha256=sha256, bytes=received, media_type=media_type)


def _open_folder(root: Path, dest: Path, *, create: bool) -> int | None:
    """A descriptor of ``dest``'s folder, reached from ``root`` one name at a time without
    following a link (folders made when missing and ``create``, else ``None``)."""
    try:
        names = dest.parent.relative_to(root).parts
    except ValueError:
        raise DestinationError(f"not written: {dest} is not inside {root}") from None
    if ".." in names:
        raise DestinationError(f"not written: {dest} leaves {root}")
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        if not create:
            return None
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root, _DIR_FLAGS)
        except OSError as e:
            raise _refusal(e, root, root, None) from e
    except OSError as e:
        raise _refusal(e, root, root, None) from e
    for i, name in enumerate(names):
        try:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                with contextlib.suppress(FileExistsError):  # made by a parallel download
                    os.mkdir(name, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            refusal = _refusal(e, root, Path(*names[: i + 1]), (fd, name))
            os.close(fd)
            raise refusal from e
        os.close(fd)
        fd = child
    return fd


def _refusal(e: OSError, root: Path, rel: Path, at: tuple[int, str] | None) -> DestinationError:
    """The DestinationError for ``e``, raised opening folder ``rel`` (under ``root``)."""
    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        try:
            if at is None:
                mode = os.lstat(root).st_mode
            else:
                mode = os.stat(at[1], dir_fd=at[0], follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
        where = f"{root}" if at is None else f"{str(rel)!r} in {root}"
        suffix = "; leobatch does not write through links" if stat.S_ISLNK(mode) else ""
        return DestinationError(f"not written: {where} is {what}{suffix}")
    return DestinationError(f"cannot write into {root / rel if at else root}: {e.strerror or e}")


def _create_part(folder: int, dest: Path) -> tuple[str, int]:
    """A new temporary file beside ``dest`` in the open ``folder``: its name and descriptor."""
    for _ in range(8):
        name = part_name(dest.name, secrets.token_hex(PART_TOKEN_CHARS // 2))
        try:
            return name, os.open(name, _PART_FLAGS, 0o600, dir_fd=folder)
        except FileExistsError:
            continue  # that random name is taken: draw another
        except OSError as e:
            raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e
    raise DestinationError(f"cannot write {dest}: no free temporary name beside it")


def _write(out: IO[bytes], chunk: bytes, dest: Path) -> None:
    try:
        out.write(chunk)
    except OSError as e:
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e


def _flush(out: IO[bytes], dest: Path) -> None:
    try:
        out.flush()
    except OSError as e:
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e


def _place(folder: int, name: str, dest: Path) -> None:
    """Rename the verified temporary file ``name`` to ``dest`` inside the open ``folder``."""
    try:
        mode = os.stat(dest.name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        mode = 0
    except OSError as e:
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e
    if stat.S_ISLNK(mode):
        # Renaming would replace the link, not follow it; still, a link there was planted
        # after planning, and the plan refuses links: refuse it here as well.
        raise DestinationError(
            f"not written: {dest} is a symbolic link; leobatch does not write through links"
        )
    try:
        os.replace(name, dest.name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as e:
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e


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


def _check_existing(root: Path, dest: Path, media: Media, expected: str) -> Downloaded | None:
    """The regular file already at ``dest`` (reached without following a link) if it has the
    expected sha256."""
    folder = _open_folder(root, dest, create=False)
    if folder is None:
        return None
    try:
        fd = os.open(dest.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None  # missing, or a link: fetched (and refused, for a link) as usual
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != expected:
            return None
        # The same bytes as the file verified when it was journaled: only the type is needed.
        f.seek(0)
        return Downloaded(expected, info.st_size, _sniff(f, media), fetched=False)


def _sniff(path: IO[bytes], media: Media) -> str:
    """The media type from the file's header alone (no decoding)."""
    if media == "video":
        return "video/mp4"
    from PIL import Image

    try:
        with Image.open(path) as img:
            return Image.MIME.get(img.format or "", "application/octet-stream")
    except (OSError, SyntaxError, ValueError):
        return "application/octet-stream"


def _verify(file: IO[bytes], media: Media) -> str:
    """The media type of a file that decodes as ``media``; :class:`_Retry` when it does not."""
    file.seek(0)
    return _verify_image(file) if media == "image" else _verify_video(file)


def _verify_image(path: IO[bytes]) -> str:
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


def _verify_video(file: IO[bytes]) -> str:
    head = file.read(64)
    if len(head) < 12 or head[4:8] != b"ftyp":
        raise _Retry("not an MP4 file (no ftyp box at the start)")
    file.seek(0)
    import av

    try:
        with av.open(file) as container:
            if not container.streams.video:
                raise _Retry("the MP4 has no video stream")
            next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, ValueError) as e:
        raise _Retry(f"not a playable MP4: {e}") from e
    return "video/mp4"
