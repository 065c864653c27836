"""Real output files, drawn on demand: JPEGs, PNGs (transparent or not), WebPs and small
playable MP4s of the requested length.

Files are rendered on the first CDN request, not when a job completes, so ten thousand jobs
cost nothing until someone downloads them. Rendering is deterministic: the same asset always
gives the same bytes, and recent results are kept in a small cache.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import textwrap
import threading
from functools import lru_cache

import av
from PIL import Image, ImageDraw, ImageFont

from leobatch.emulator.records import Asset

__all__ = ["MEDIA_TYPES", "render"]

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "png-opaque": "image/png",
               "webp": "image/webp", "mp4": "video/mp4"}  # fmt: skip
_VIDEO_SIDE = 64
_VIDEO_FRAMES = 12
_mp4_lock = threading.Lock()


def _colour(key: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(key.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    r, g, b = colorsys.hsv_to_rgb(hue, 0.45 + digest[2] / 1024, 0.55 + digest[3] / 1024)
    return round(r * 255), round(g * 255), round(b * 255)


def _draw_text(image: Image.Image, lines: tuple[str, ...], fill: tuple[int, ...]) -> None:
    width, height = image.size
    size = max(10, min(width, height) // 24)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    chars = max(8, int(width / (size * 0.6)) - 2)
    y = size
    for line in lines:
        for part in textwrap.wrap(line, chars) or [""]:
            if y + size > height:
                return
            draw.text((size, y), part, fill=fill, font=font)
            y += int(size * 1.3)


def _picture(asset: Asset) -> bytes:
    width, height = asset.width, asset.height
    colour = _colour(asset.colour_key)
    out = io.BytesIO()
    if asset.kind == "png":
        image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.ellipse((width // 8, height // 8, width * 7 // 8, height * 7 // 8), (*colour, 255))
        _draw_text(image, asset.lines, (255, 255, 255, 255))
        image.save(out, "PNG", compress_level=1)
    elif asset.kind in ("png-opaque", "webp"):
        image = Image.new("RGB", (width, height), colour)
        _draw_text(image, asset.lines, (255, 255, 255))
        # large v2 outputs (an 8x upscale) are drawn quickly rather than compressed well
        image.save(out, "PNG" if asset.kind == "png-opaque" else "WEBP", compress_level=1)
    else:
        image = Image.new("RGB", (width, height), colour)
        _draw_text(image, asset.lines, (255, 255, 255))
        image.save(out, "JPEG", quality=85)
    return out.getvalue()


@lru_cache(maxsize=16)
def _mp4(width: int, height: int, duration_s: int = 1) -> bytes:
    scale = _VIDEO_SIDE / max(width, height)
    w = max(16, round(width * scale / 2) * 2)
    h = max(16, round(height * scale / 2) * 2)
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        frames = _VIDEO_FRAMES * max(1, duration_s)  # 12 frames per second
        for i in range(frames):
            image = Image.new("RGB", (w, h), _colour(f"{width}x{height}"))
            ImageDraw.Draw(image).rectangle((i * w // frames, 0, w, h // 2), (255, 255, 255))
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@lru_cache(maxsize=64)
def _cached(asset: Asset) -> bytes:
    if asset.kind == "mp4":
        with _mp4_lock:
            return _mp4(asset.width, asset.height, asset.duration_s)
    return _picture(asset)


def render(asset: Asset) -> bytes:
    """The bytes of a JPEG, PNG or MP4 asset (uploads are served as stored, not rendered)."""
    return _cached(asset)
