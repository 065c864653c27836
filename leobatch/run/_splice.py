"""Metadata spliced into media files without touching the pixels (see ``provenance``).

PNG: text chunks inserted before the first ``IDAT`` (readers that do not decode the image, as
most prompt viewers do, only see the chunks before it), each with its CRC. JPEG: an APP1 XMP
segment after the JFIF/Exif segments. WebP: an ``XMP `` chunk, and the extended-format header
(``VP8X``) that announces it, made from the bitstream's own size when the file has none. MP4: a
stream-copy remux with container tags. A structure these functions do not recognise gives
``None`` (the file is then kept as served): a verified file is never broken to label it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import IO

__all__ = ["PNG_SIGNATURE", "jpeg", "mp4", "png", "png_size", "webp"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")
_OUR_KEYS = (b"parameters", b"XML:com.adobe.xmp")
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
_EXIF_JPEG = b"Exif\x00"
_SEGMENT_MAX = 0xFFFF


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def png(data: bytes, parameters: str, xmp: bytes) -> bytes | None:
    """``data`` with a ``parameters`` text chunk (tEXt, or iTXt when not Latin-1, as Pillow and
    A1111 write it) and an iTXt XMP chunk before the first IDAT; earlier ``parameters`` and XMP
    chunks are replaced."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=False)
    ours = b"".join(_png_chunk(cid, body) for cid, body, *_ in info.chunks)
    kept = [data[:8]]
    at = 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        cid = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            return None
        if cid == b"IDAT":
            return b"".join([*kept, ours, data[at:]])
        if not (cid in _TEXT_CHUNKS and data[at + 8 : end].split(b"\x00", 1)[0] in _OUR_KEYS):
            kept.append(data[at:end])
        at = end
    return None  # no IDAT: not a PNG this splice understands


def _png_chunk(cid: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + cid + body + struct.pack(">I", zlib.crc32(cid + body))


def jpeg(data: bytes, xmp: bytes) -> bytes | None:
    """``data`` with an APP1 XMP segment after the leading JFIF (APP0) and Exif segments; an
    XMP segment already there is replaced (readers take one)."""
    payload = _XMP_JPEG + xmp
    if len(payload) + 2 > _SEGMENT_MAX:
        return None
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    parts = [data[:2]]
    insert = 1  # after SOI, unless JFIF / Exif segments come first
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break  # the first table or frame segment: metadata segments come before it
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        end = at + 2 + length
        if length < 2 or end > len(data):
            return None
        body = data[at + 4 : end]
        if marker == 0xE1 and body.startswith(_XMP_JPEG):
            at = end
            continue  # the served XMP: ours replaces it
        parts.append(data[at:end])
        if marker == 0xE0 or (marker == 0xE1 and body.startswith(_EXIF_JPEG)):
            insert = len(parts)
        at = end
    if at + 2 > len(data) or data[at] != 0xFF:
        return None
    parts.insert(insert, segment)
    parts.append(data[at:])
    return b"".join(parts)


def webp(data: bytes, xmp: bytes) -> bytes | None:
    """``data`` with an ``XMP `` chunk last and the ``VP8X`` XMP flag set (a ``VP8X`` header made
    from the ``VP8 ``/``VP8L`` bitstream's size and alpha when the file is in the simple format)."""
    chunks: list[tuple[bytes, bytes]] = []
    at = 12
    while at + 8 <= len(data):
        cid = data[at : at + 4]
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        body = data[at + 8 : at + 8 + length]
        if len(body) != length:
            return None
        if cid != b"XMP ":
            chunks.append((cid, body))
        at += 8 + length + (length & 1)
    if not chunks:
        return None
    first, body = chunks[0]
    if first == b"VP8X":
        if len(body) < 10:
            return None
        chunks[0] = (first, bytes([body[0] | 0x04]) + body[1:])
    else:
        header = _vp8x_for(first, body)
        if header is None:
            return None
        chunks.insert(0, (b"VP8X", header))
    chunks.append((b"XMP ", xmp))
    out = b"".join(
        cid + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for cid, b in chunks
    )
    return b"RIFF" + struct.pack("<I", len(out) + 4) + b"WEBP" + out


def _vp8x_for(cid: bytes, body: bytes) -> bytes | None:
    """The ``VP8X`` payload (flags, canvas size) of a simple-format WebP's only image chunk."""
    if cid == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
        flags = 0x04
    elif cid == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        flags = 0x04 | (0x10 if bits >> 28 & 1 else 0)
    else:
        return None
    return (
        bytes([flags, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )


def mp4(source: IO[bytes], target: IO[bytes], tags: Mapping[str, str]) -> None:
    """Remux ``source`` into ``target`` (an MP4), copying its audio and video packets as they
    are and setting ``tags`` on the container (over the ones it had)."""
    import av

    with av.open(source, "r") as inp, av.open(target, "w", format="mp4") as out:
        out.metadata.update({k: v for k, v in inp.metadata.items() if k not in _MUXER_TAGS})
        out.metadata.update(tags)
        streams = [s for s in inp.streams if s.type in ("video", "audio")]
        copies = {s.index: out.add_stream_from_template(s) for s in streams}
        for packet in inp.demux(*streams):
            if packet.dts is None:
                continue  # the flush packet demux yields at each stream's end
            packet.stream = copies[packet.stream.index]
            out.mux(packet)


#: Tags the MP4 muxer writes itself (copying them would only duplicate or contradict it).
_MUXER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})
