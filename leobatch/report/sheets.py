"""Contact sheets: JPEG pages of a stage's grid, with labels and credits drawn in, for chat.

Each section of a stage's page (see :mod:`leobatch.report.layout`) becomes one or more sheets,
cut along its rows and columns so that no sheet passes ``max_px`` on either side: a
10,000-image grid is many sheets of a few megapixels each, never one decompression bomb. Tiles
are drawn from the report's thumbnails (never from the full files). A sheet is redrawn only when
what it shows changed (a signature per sheet is kept in ``sheets/signatures.json``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from leobatch.errors import ReportError
from leobatch.report.files import write_if_changed
from leobatch.report.layout import Grid, Page
from leobatch.report.views import CellView, Linker, credits_text

__all__ = ["SHEET_MAX_PX", "Sheet", "build_sheets"]

#: Default cap on a sheet's width and height: 4096 px (about 50 MB to draw, 1-3 MB as JPEG).
SHEET_MAX_PX = 4096
#: Smallest cap accepted: one tile with its labels must fit.
SHEET_MIN_PX = 640
TILE_PX = 192
_CAPTION_H = 34
_GAP = 8
_LABEL_W = 180
_TITLE_H = 52
_HEAD_H = 34
_BG = (246, 247, 249)
_INK = (29, 35, 48)
_MUTED = (102, 112, 133)
_FILL = {"failed": (253, 236, 236), "pending": (255, 246, 229), "blocked": (241, 242, 245)}


@dataclass(frozen=True, slots=True)
class Sheet:
    """One contact sheet: its path relative to the report folder and its size in pixels."""

    file: str
    width: int
    height: int
    tiles: int


@dataclass(frozen=True, slots=True)
class _Cut:
    """The part of a section one sheet shows."""

    grid: Grid
    rows: range
    cols: range
    slots: Sequence[Sequence[Sequence[CellView]]]
    per_row: int
    lines: int


def build_sheets(
    pages: Sequence[tuple[Page, str]],
    linker: Linker,
    report_dir: Path,
    *,
    title: str,
    max_px: int = SHEET_MAX_PX,
) -> tuple[dict[str, list[Sheet]], int]:
    """Sheets of every page (each with its file stem); returns them by stage, and how many
    were drawn (the others were already up to date)."""
    if max_px < SHEET_MIN_PX:
        raise ReportError(f"contact sheets need at least {SHEET_MIN_PX} px per side, not {max_px}")
    folder = report_dir / "sheets"
    signatures_path = folder / "signatures.json"
    try:
        old = json.loads(signatures_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    new: dict[str, str] = {}
    out: dict[str, list[Sheet]] = {}
    drawn = 0
    for page, stem in pages:
        cuts = list(_cuts(page, linker, max_px))
        for n, cut in enumerate(cuts, start=1):
            name = f"sheets/{stem}-{n:03d}.jpg"
            heading = _heading(title, page, cut, n, len(cuts))
            width, height = _size(cut)
            signature = _signature(heading, cut, width, height)
            new[name] = signature
            out.setdefault(page.stage, []).append(Sheet(name, width, height, _tiles(cut)))
            if old.get(name) == signature and (report_dir / name).is_file():
                continue
            image = _draw(cut, heading, width, height, report_dir)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=85, optimize=True)
            write_if_changed(report_dir / name, buffer.getvalue())
            drawn += 1
    if new != old:
        for name in set(old) - set(new):  # sheets this report drew before and no longer has
            if isinstance(name, str) and name.startswith("sheets/") and "/" not in name[7:]:
                (report_dir / name).unlink(missing_ok=True)
        write_if_changed(signatures_path, json.dumps(new, indent=1, sort_keys=True).encode())
    return out, drawn


def _cuts(page: Page, linker: Linker, max_px: int) -> Iterator[_Cut]:
    tile_w, tile_h = TILE_PX + _GAP, TILE_PX + _CAPTION_H + _GAP
    room_w, room_h = max_px - _LABEL_W - 2 * _GAP, max_px - _TITLE_H - _HEAD_H - 2 * _GAP
    for grid in page.sections:
        slots = [
            [[c for job in slot for c in linker.cells(job, page.axes)] for slot in row]
            for row in grid.slots
        ]
        most = max((len(s) for row in slots for s in row), default=1) or 1
        per_row = max(1, min(most, room_w // tile_w))
        lines = max(1, min(math.ceil(most / per_row), room_h // tile_h))
        cols_per = max(1, room_w // (per_row * tile_w))
        rows_per = max(1, room_h // (lines * tile_h))
        for r0 in range(0, len(grid.rows), rows_per):
            for c0 in range(0, len(grid.cols), cols_per):
                rows = range(r0, min(r0 + rows_per, len(grid.rows)))
                cols = range(c0, min(c0 + cols_per, len(grid.cols)))
                yield _Cut(grid, rows, cols, slots, per_row, lines)


def _size(cut: _Cut) -> tuple[int, int]:
    slot_w = cut.per_row * (TILE_PX + _GAP)
    slot_h = cut.lines * (TILE_PX + _CAPTION_H + _GAP)
    width = _LABEL_W + len(cut.cols) * slot_w + 2 * _GAP
    height = _TITLE_H + _HEAD_H + len(cut.rows) * slot_h + 2 * _GAP
    return width, height


def _tiles(cut: _Cut) -> int:
    room = cut.per_row * cut.lines
    return sum(min(len(cut.slots[r][c]), room) for r in cut.rows for c in cut.cols)


def _heading(title: str, page: Page, cut: _Cut, n: int, total: int) -> str:
    section = " · ".join(f"{k} = {v}" for k, v in cut.grid.title)
    credits = f"credits: {credits_text(cut.grid.total)}"
    parts = [title, page.stage, section, f"sheet {n} of {total}", credits]
    return "  |  ".join(p for p in parts if p)


def _signature(heading: str, cut: _Cut, width: int, height: int) -> str:
    shown = [
        [cut.grid.rows[r], cut.grid.cols[c], [[*_tile_text(v), v.thumb] for v in cut.slots[r][c]]]
        for r in cut.rows
        for c in cut.cols
    ]
    data = json.dumps([heading, width, height, cut.per_row, cut.lines, shown], default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def _tile_text(cell: CellView) -> list[str]:
    return [" · ".join(v for _, v in cell.values), cell.message or cell.credits]


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> str:
    font = _font(size)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _draw(cut: _Cut, heading: str, width: int, height: int, report_dir: Path) -> Image.Image:
    image = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(image)
    draw.text((_GAP, 14), _fit(draw, heading, width - 2 * _GAP, 18), fill=_INK, font=_font(18))
    slot_w = cut.per_row * (TILE_PX + _GAP)
    slot_h = cut.lines * (TILE_PX + _CAPTION_H + _GAP)
    top = _TITLE_H + _HEAD_H
    for i, c in enumerate(cut.cols):
        x = _LABEL_W + _GAP + i * slot_w
        col = f"{cut.grid.cols[c]}  ({credits_text(cut.grid.col_totals[c])})"
        draw.text((x, _TITLE_H + 8), _fit(draw, col, slot_w - _GAP, 14), fill=_INK, font=_font(14))
    for j, r in enumerate(cut.rows):
        y = top + j * slot_h
        draw.text(
            (_GAP, y + 4),
            _fit(draw, cut.grid.rows[r], _LABEL_W - 2 * _GAP, 14),
            fill=_INK,
            font=_font(14),
        )
        total = credits_text(cut.grid.row_totals[r])
        draw.text(
            (_GAP, y + 24), _fit(draw, total, _LABEL_W - 2 * _GAP, 12), fill=_MUTED, font=_font(12)
        )
        for i, c in enumerate(cut.cols):
            _draw_slot(
                image, draw, cut, cut.slots[r][c], _LABEL_W + _GAP + i * slot_w, y, report_dir
            )
    return image


def _draw_slot(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    cut: _Cut,
    cells: Sequence[CellView],
    x0: int,
    y0: int,
    report_dir: Path,
) -> None:
    room = cut.per_row * cut.lines
    for n, cell in enumerate(cells[:room]):
        x = x0 + (n % cut.per_row) * (TILE_PX + _GAP)
        y = y0 + (n // cut.per_row) * (TILE_PX + _CAPTION_H + _GAP)
        _draw_tile(image, draw, cell, x, y, report_dir)
    if len(cells) > room:
        x = x0 + (room - 1) % cut.per_row * (TILE_PX + _GAP)
        y = y0 + (room - 1) // cut.per_row * (TILE_PX + _CAPTION_H + _GAP)
        draw.rectangle((x, y, x + 70, y + 22), fill=_INK)
        draw.text(
            (x + 6, y + 4), f"+{len(cells) - room} more", fill=(255, 255, 255), font=_font(12)
        )


def _draw_tile(
    image: Image.Image, draw: ImageDraw.ImageDraw, cell: CellView, x: int, y: int, report_dir: Path
) -> None:
    draw.rectangle(
        (x, y, x + TILE_PX - 1, y + TILE_PX - 1), fill=_FILL.get(cell.status, (233, 236, 241))
    )
    if cell.thumb:
        with Image.open(report_dir / cell.thumb) as thumb:  # our own thumbnail: small, safe
            thumb.thumbnail((TILE_PX, TILE_PX))
            image.paste(
                thumb, (x + (TILE_PX - thumb.width) // 2, y + (TILE_PX - thumb.height) // 2)
            )
        if cell.media == "video":
            cx, cy = x + 18, y + 18
            draw.polygon([(cx - 7, cy - 9), (cx - 7, cy + 9), (cx + 9, cy)], fill=(255, 255, 255))
    else:
        words = cell.message.split()
        lines: list[str] = []
        for word in words:  # wrap the status message inside the tile
            if lines and draw.textlength(lines[-1] + " " + word, font=_font(12)) < TILE_PX - 16:
                lines[-1] += " " + word
            else:
                lines.append(word)
        for k, line in enumerate(lines[:9]):
            draw.text(
                (x + 8, y + 10 + 16 * k),
                _fit(draw, line, TILE_PX - 16, 12),
                fill=_INK,
                font=_font(12),
            )
    values = _tile_text(cell)[0]
    draw.text((x, y + TILE_PX + 3), _fit(draw, values, TILE_PX, 12), fill=_INK, font=_font(12))
    credits = cell.credits if not cell.message else cell.status
    draw.text((x, y + TILE_PX + 18), _fit(draw, credits, TILE_PX, 11), fill=_MUTED, font=_font(11))
