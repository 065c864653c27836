"""What a downloaded file is: verification that it decodes, and its provenance label.

Split from :mod:`leobatch.run.download`, which streams, places and guards the files; this module
only reads and writes the open file objects it is given.
"""

from __future__ import annotations

import hashlib
import struct
from typing import IO, Literal

from leobatch.run.provenance import Provenance, embed_image, embed_video

__all__ = [
    "Media",
    "Retry",
    "digest_of",
    "label_video",
    "labelled_image",
    "sniff",
    "verify",
    "verify_image",
    "verify_video",
]

Media = Literal["image", "video"]
_CHUNK = 1 << 16


class Retry(Exception):
    """One attempt failed in a way another attempt may fix."""


def labelled_image(body: bytes, provenance: Provenance) -> bytes | None:
    """``body`` with ``provenance`` spliced in, or ``None`` for a format that is not labelled
    (or a structure the splice misreads: better unlabelled than broken)."""
    try:
        return embed_image(body, provenance)
    except (ValueError, IndexError, struct.error):
        return None


def label_video(source: IO[bytes], target: IO[bytes], provenance: Provenance) -> bool:
    """Remux the MP4 ``source`` into ``target`` with ``provenance`` in its tags; whether the
    result plays (``False``: PyAV could not remux it, and ``target`` is to be dropped)."""
    import av

    try:
        source.seek(0)
        embed_video(source, target, provenance)
        target.flush()
        verify(target, "video")  # the remux is a new file: it must play like the old one
    except (Retry, ValueError, av.error.FFmpegError):
        return False
    return True


def digest_of(file: IO[bytes]) -> tuple[str, int]:
    """The sha256 and size of the whole open ``file``."""
    file.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := file.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sniff(path: IO[bytes], media: Media) -> str:
    """The media type from the file's header alone (no decoding)."""
    if media == "video":
        return "video/mp4"
    from PIL import Image

    try:
        with Image.open(path) as img:
            return Image.MIME.get(img.format or "", "application/octet-stream")
    except (OSError, SyntaxError, ValueError):
        return "application/octet-stream"


def verify(file: IO[bytes], media: Media) -> str:
    """The media type of a file that decodes as ``media``; :class:`Retry` when it does not."""
    file.seek(0)
    return verify_image(file) if media == "image" else verify_video(file)


def verify_image(path: IO[bytes]) -> str:
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
        raise Retry(f"not a decodable image: {e}") from e
    return Image.MIME.get(fmt or "", "application/octet-stream")


def verify_video(file: IO[bytes]) -> str:
    head = file.read(64)
    if len(head) < 12 or head[4:8] != b"ftyp":
        raise Retry("not an MP4 file (no ftyp box at the start)")
    file.seek(0)
    import av

    try:
        with av.open(file) as container:
            if not container.streams.video:
                raise Retry("the MP4 has no video stream")
            next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, ValueError) as e:
        raise Retry(f"not a playable MP4: {e}") from e
    return "video/mp4"
