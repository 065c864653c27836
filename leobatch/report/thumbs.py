"""Thumbnails and video poster frames, made once per file content and cached by sha256.

``<report>/thumbs/<sha256>.jpg`` is the thumbnail of every output with that content (a video's
is its first frame). A file that cannot be shown (unreadable, or above Pillow's
``Image.MAX_IMAGE_PIXELS``: a decompression bomb) gets ``<sha256>.err`` holding the reason
instead, so a rebuild neither retries it nor crashes on it. A page never inlines a full file.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from leobatch.report.files import write_atomic

__all__ = ["THUMB_PX", "Thumb", "make_thumbs", "open_image"]

#: Longest side of a thumbnail, in pixels: a 188 px cell, a little sharper on dense screens;
#: 1024 and 512 px outputs decode straight to it (JPEG draft at 1/4 and 1/2 scale).
THUMB_PX = 256
_QUALITY = 82
#: Transparent outputs (background removal) are flattened onto this light grey.
_MATTE = (236, 236, 236)


@dataclass(frozen=True, slots=True)
class Thumb:
    """The thumbnail of one file content: its name under ``thumbs/``, or why there is none."""

    name: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A file to thumbnail: its content hash, where it is, and whether it is a video."""

    sha256: str
    path: Path
    is_video: bool


class _Unshowable(Exception):
    """A file that cannot be thumbnailed; the message is shown in its cell."""


def make_thumbs(sources: Iterable[Source], thumbs_dir: Path) -> tuple[dict[str, Thumb], int]:
    """The thumbnail of every source, making the missing ones; returns them by sha256 and how
    many were made (or failed) in this call."""
    thumbs_dir.mkdir(parents=True, exist_ok=True)
    existing = {p.name for p in thumbs_dir.iterdir()}  # one directory read, not a stat each
    found: dict[str, Thumb] = {}
    todo: dict[str, Source] = {}
    for source in sources:
        sha = source.sha256
        if sha in found or sha in todo:
            continue
        if f"{sha}.jpg" in existing:
            found[sha] = Thumb(f"{sha}.jpg")
        elif f"{sha}.err" in existing:
            reason = (thumbs_dir / f"{sha}.err").read_text(encoding="utf-8").strip()
            found[sha] = Thumb(None, reason or "cannot be shown")
        else:
            todo[sha] = source
    if todo:
        # Pillow's bomb check only warns between 1x and 2x MAX_IMAGE_PIXELS: make it an error
        # for the whole pool (warning filters are process-wide, so set them around it).
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            workers = min(len(todo), os.cpu_count() or 1, 8)
            with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL
                made = pool.map(lambda s: (s.sha256, _make(s, thumbs_dir)), todo.values())
                found.update(made)
    return found, len(todo)


def _make(source: Source, thumbs_dir: Path) -> Thumb:
    try:
        image = _poster(source.path) if source.is_video else open_image(source.path, THUMB_PX)
        image.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
        image = _flatten(image)
    except _Unshowable as e:
        write_atomic(thumbs_dir / f"{source.sha256}.err", str(e).encode())
        return Thumb(None, str(e))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=_QUALITY)
    write_atomic(thumbs_dir / f"{source.sha256}.jpg", buffer.getvalue())
    return Thumb(f"{source.sha256}.jpg")


def open_image(path: Path, fit_px: int) -> Image.Image:
    """Decode the image at ``path``, at a reduced scale when the format allows (JPEG draft
    mode), refusing images above ``Image.MAX_IMAGE_PIXELS`` before decoding them."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > (Image.MAX_IMAGE_PIXELS or 1 << 62):
                raise _too_large(image.width, image.height)
            # JPEG: decode straight at a reduced scale (1/2, 1/4, 1/8) no smaller than the
            # thumbnail, which costs a fraction of a full decode and a resize.
            scale = min(1.0, fit_px / max(image.width, image.height))
            image.draft(
                "RGB", (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            )
            image.load()
            return image.copy() if image.mode in ("RGB", "RGBA", "L", "LA") else _rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _Unshowable(_bomb_message()) from e
    except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
        raise _Unshowable(f"cannot read the image: {e}") from e


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGBA" if "transparency" in image.info else "RGB")


def _poster(path: Path) -> Image.Image:
    """The first frame of the video at ``path``."""
    import av  # imported here: only reports with video need it
    import av.error

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.width * stream.height > (Image.MAX_IMAGE_PIXELS or 1 << 62):
                raise _too_large(stream.width, stream.height)
            for frame in container.decode(stream):
                image: Image.Image = frame.to_image()
                return image
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as e:
        raise _Unshowable(f"cannot read the video: {e}") from e
    raise _Unshowable("cannot read the video: it has no frame")


def _too_large(width: int, height: int) -> _Unshowable:
    return _Unshowable(f"{width}x{height} px: {_bomb_message()}")


def _bomb_message() -> str:
    return (
        f"too large to open safely: over Pillow's decompression-bomb limit of "
        f"{Image.MAX_IMAGE_PIXELS:,} pixels; open the file itself to look at it"
    )


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA"):
        matte = Image.new("RGB", image.size, _MATTE)
        matte.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return matte
    return image if image.mode == "RGB" else image.convert("RGB")
