"""Verified downloads: never a partial or corrupt file at its destination.

Each output is streamed into a temporary file *in the destination's directory* (so the final
``os.replace`` is atomic), hashed while it streams, checked against the Content-Length, verified
(an image must decode completely with Pillow: small ones straight from memory, JPEGs at 1/8 scale,
which still reads every coded byte; a video must be an MP4 that PyAV can open and decode a frame
of), labelled with its provenance (``output.metadata``, on by default: spliced into the temporary
file, pixels untouched; a video is remuxed into a second one), then renamed into place. There is
no fsync: like the journal (``synchronous=NORMAL``), the files survive a killed process, not a
power loss; on resume a file whose size differs from the journal's is fetched again. A file
already at the destination with the journaled sha256 (of the file as written) is not fetched
again. Failures are retried through the client's own retry loop
(:class:`~leobatch.api._backoff.Retries`): network errors, 5xx, truncated bodies and undecodable
media with short exponential backoff under ``attempts``; a 429 waits its ``Retry-After`` under the
separate 429 budget. After the last attempt :class:`TransientError` says why.

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
import random
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import httpx

from leobatch.api._backoff import Retries, RetryPolicy, parse_retry_after
from leobatch.errors import ApiError, NotFoundError, RateLimitedError, TransientError
from leobatch.plan.outputs import PART_TOKEN_CHARS, part_name
from leobatch.run._media import (
    Media,
    digest_of,
    label_video,
    labelled_image,
    sniff,
    verify,
    verify_image,
)
from leobatch.run._media import Retry as _Retry
from leobatch.run.provenance import Provenance

__all__ = ["DestinationError", "Downloaded", "Media", "download"]

_RETRY = RetryPolicy()
_RNG = random.Random()

_CHUNK = 1 << 16
#: Images up to this size are verified from memory, inline, instead of re-read in a thread.
_INLINE_VERIFY_BYTES = 2 << 20
_RETRY_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PART_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A verified file in place: its sha256 and size in ``bytes`` (of the file as written, with
    its provenance inside), media type, whether it was fetched (``False`` when the file already
    there had the expected sha256), and ``served_sha256``, the sha256 of the bytes as the CDN
    served them (the same as ``sha256`` for a file written as served)."""

    sha256: str
    bytes: int
    media_type: str
    fetched: bool = True
    served_sha256: str | None = None


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
    served_sha256: str | None = None,
    provenance: Provenance | None = None,
    attempts: int = 4,
    backoff_s: float = 0.25,
) -> Downloaded:
    """Fetch ``url`` into ``dest`` (directories created as needed), verified, atomically.

    ``root`` is the output folder (default: ``dest``'s folder): ``dest`` must be inside it, and
    nothing from it down to ``dest`` may be a symbolic link. With ``provenance``, the verified
    file is labelled with it (:mod:`leobatch.run.provenance`) before it is renamed into place.
    ``expected_sha256`` is the journaled sha256 of the file as written: one already at ``dest``
    with it is kept. ``served_sha256`` (default: ``expected_sha256``, which it equals for files
    written as served) is that of the bytes as served: a body with another is refused. Tries
    up to ``attempts`` times after transient failures, with the client's backoff between them
    (full jitter under ``backoff_s``, then twice that, ...); 429s have the client's own budget
    and wait their ``Retry-After``. Raises
    :class:`TransientError` when every attempt failed, :class:`DestinationError` (not retried)
    when the file cannot be put in place, :class:`NotFoundError` on 404 and :class:`ApiError` on
    other client errors (not retried: asking again cannot help).
    """
    dest = Path(dest)
    root = dest.parent if root is None else Path(root)
    if expected_sha256 is not None:
        kept = await anyio.to_thread.run_sync(_check_existing, root, dest, media, expected_sha256)
        if kept is not None:
            return Downloaded(
                kept.sha256, kept.bytes, kept.media_type, False, served_sha256 or kept.sha256
            )
    served = served_sha256 if served_sha256 is not None else expected_sha256
    where = url.split("?", 1)[0]
    # The client's retry loop and budgets: a 429 waits its Retry-After and spends the 429
    # budget; 5xx, resets, truncated or undecodable bodies spend the ``attempts`` one.
    policy = RetryPolicy(attempts=attempts, base_s=backoff_s, cap_s=_RETRY.cap_s)
    retries = Retries(policy, _RNG, final=(DestinationError,))

    async def once() -> Downloaded:
        try:
            return await _fetch_once(client, url, root, dest, media, served, provenance)
        except _Retry as e:
            raise TransientError(str(e)) from e
        except httpx.TransportError as e:
            raise TransientError(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e

    try:
        return await retries.run(once, f"download of {where}")
    except DestinationError:
        raise
    except (RateLimitedError, TransientError) as e:
        tries = f"{retries.tries} attempt{'s' if retries.tries != 1 else ''}"
        raise TransientError(f"download of {where} failed after {tries}: {e}") from e


async def _fetch_once(
    client: httpx.AsyncClient,
    url: str,
    root: Path,
    dest: Path,
    media: Media,
    expected: str | None,
    provenance: Provenance | None,
) -> Downloaded:
    request = client.build_request("GET", url)
    request.headers.pop("Authorization", None)
    response = await client.send(request, stream=True)
    try:
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimitedError("HTTP 429", status=429, retry_after_s=retry_after)
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
            return await _stream_into(response, folder, dest, media, expected, provenance)
        finally:
            os.close(folder)
    finally:
        await response.aclose()


async def _stream_into(
    response: httpx.Response,
    folder: int,
    dest: Path,
    media: Media,
    expected: str | None,
    provenance: Provenance | None,
) -> Downloaded:
    """Stream the body into a temporary file in the open ``folder``, verify it, label it with
    its ``provenance`` (if any), rename it."""
    name, fd = _create_part(folder, dest)
    parts = [name]  # temporary files made; the last one is what goes in place
    placed = False
    try:
        digest = hashlib.sha256()
        received = 0
        # An image body stays in memory while it is small: verified, labelled and written
        # once from there. A bigger one, or a video (PyAV reads a file), streams to the disk.
        kept: list[bytes] | None = [] if media == "image" else None
        with os.fdopen(fd, "w+b") as out:
            async for chunk in response.aiter_bytes(_CHUNK):
                digest.update(chunk)
                received += len(chunk)
                if kept is None:
                    _write(out, chunk, dest)
                    continue
                kept.append(chunk)
                if received > _INLINE_VERIFY_BYTES:
                    for piece in kept:
                        _write(out, piece, dest)
                    kept = None
            _check_length(response, received)
            sha256 = digest.hexdigest()
            if expected is not None and sha256 != expected:
                raise _Retry(f"sha256 {sha256[:12]} differs from the journaled {expected[:12]}")
            written = (sha256, received)
            if kept is not None:
                body = b"".join(kept)
                media_type = verify_image(io.BytesIO(body))
                # Labelled after verification: what is verified is what the CDN served.
                labelled = labelled_image(body, provenance) if provenance is not None else None
                if labelled is not None:
                    body = labelled
                    written = (hashlib.sha256(body).hexdigest(), len(body))
                _write(out, body, dest)
            else:
                # The very bytes that will be renamed: the open temporary file, not a path.
                _flush(out, dest)
                media_type = await anyio.to_thread.run_sync(verify, out, media)
                # Labelled after verification, before the rename: the file at ``dest`` is
                # always complete, and what is verified is what the CDN served.
                if provenance is not None and media == "image":
                    written = await anyio.to_thread.run_sync(
                        _label_image_file, out, provenance, dest
                    )
                elif provenance is not None:
                    written = await anyio.to_thread.run_sync(
                        _label_video, folder, dest, out, provenance, parts
                    )
        _place(folder, parts[-1], dest)
        placed = True
    except OSError as e:  # closing the file flushes its buffer: a full disk shows up here too
        raise DestinationError(f"cannot write {dest}: {e.strerror or e}") from e
    finally:
        for part in parts if not placed else parts[:-1]:
            with contextlib.suppress(OSError):  # never created, or already gone
                os.unlink(part, dir_fd=folder)
    return Downloaded(
        sha256=written[0], bytes=written[1], media_type=media_type, served_sha256=sha256
    )


def _label_image_file(out: IO[bytes], provenance: Provenance, dest: Path) -> tuple[str, int]:
    """Rewrite the open temporary file (an image too big to have been kept in memory) with
    ``provenance`` inside: the written file's sha256 and size (as served, for a format not
    labelled)."""
    out.seek(0)
    body = out.read()
    labelled = labelled_image(body, provenance)
    if labelled is None:
        return hashlib.sha256(body).hexdigest(), len(body)
    out.seek(0)
    _write(out, labelled, dest)
    out.truncate()
    _flush(out, dest)
    return hashlib.sha256(labelled).hexdigest(), len(labelled)


def _label_video(
    folder: int, dest: Path, out: IO[bytes], provenance: Provenance, parts: list[str]
) -> tuple[str, int]:
    """Remux the verified MP4 in ``out`` into a second temporary file with its tags, appended
    to ``parts`` (so it is the one renamed); the written file's sha256 and size."""
    name, fd = _create_part(folder, dest)
    parts.append(name)
    with os.fdopen(fd, "w+b") as tagged:
        if label_video(out, tagged, provenance):
            return digest_of(tagged)
    parts.pop()  # PyAV could not remux it: the file is kept as served
    os.unlink(name, dir_fd=folder)
    return digest_of(out)


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
        return Downloaded(expected, info.st_size, sniff(f, media), fetched=False)
