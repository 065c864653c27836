"""Contact sheets: paginated along the grid, capped in pixels, labelled, redrawn only on change."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from leobatch.errors import ReportError
from leobatch.report import build_report
from tests.report.support import grid_run, job_entry, write_manifest


def test_a_large_grid_becomes_many_sheets_each_within_the_cap(tmp_path: Path) -> None:
    """20 x 20 cells with a 1024 px cap: every cell on exactly one sheet, none over the cap."""
    out = tmp_path / "out"
    grid_run(out, {"model": [f"m{i}" for i in range(20)], "seed": list(range(20))})
    result = build_report(out, sheets=True, sheet_max_px=1024)
    assert len(result.sheets) > 10
    assert sum(s.tiles for s in result.sheets) == 400
    for sheet in result.sheets:
        with Image.open(out / "report" / sheet.file) as image:
            assert image.size == (sheet.width, sheet.height)
            assert image.width <= 1024 and image.height <= 1024
    index = (out / "report" / "index.html").read_text()
    assert all(f'href="{s.file}"' in index for s in result.sheets)


def test_sheets_follow_sections_and_show_failures(tmp_path: Path) -> None:
    """A section axis splits sheets; a failed job is a tile too (with its status)."""
    out = tmp_path / "out"
    jobs = grid_run(out, {"model": ["a", "b", "c"], "style": ["x", "y"], "seed": [1, 2]})
    jobs.append(
        job_entry(
            "f" * 64,
            "hero",
            {"model": "a", "style": "x", "seed": 3},
            status="failed",
            charged=None,
            error="HTTP 403: moderated",
        )
    )
    write_manifest(out, jobs)
    result = build_report(out, sheets=True)
    # columns: model and rows: seed (3 values each), sections: style; each fits on one sheet
    assert [s.tiles for s in result.sheets] == [7, 6]


def test_a_slot_with_more_cells_than_a_sheet_holds_is_capped_not_overflowed(tmp_path: Path) -> None:
    """40 outputs in one slot under a 640 px cap: the sheet stays within the cap."""
    out = tmp_path / "out"
    grid_run(out, {"seed": [1]}, images_per_job=40)
    result = build_report(out, sheets=True, sheet_max_px=640)
    assert all(s.width <= 640 and s.height <= 640 for s in result.sheets)
    assert 0 < sum(s.tiles for s in result.sheets) < 40


def test_a_cap_below_one_tile_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid_run(out, {"seed": [1, 2]})
    with pytest.raises(ReportError, match="contact sheets need at least 640 px per side, not 100"):
        build_report(out, sheets=True, sheet_max_px=100)


def test_an_unchanged_sheet_is_not_redrawn_and_a_changed_one_is(tmp_path: Path) -> None:
    out = tmp_path / "out"
    jobs = grid_run(out, {"seed": [1, 2]})
    assert build_report(out, sheets=True).sheets_drawn == 1
    assert build_report(out, sheets=True).sheets_drawn == 0
    jobs[0]["credits_charged"] = 12
    write_manifest(out, jobs)
    assert build_report(out, sheets=True).sheets_drawn == 1


def test_sheets_a_smaller_grid_no_longer_needs_are_removed(tmp_path: Path) -> None:
    """Only sheets the report itself drew (listed in its signatures) are ever removed."""
    out = tmp_path / "out"
    jobs = grid_run(out, {"model": [f"m{i}" for i in range(6)], "seed": list(range(6))})
    first = build_report(out, sheets=True, sheet_max_px=1024)
    mine = out / "report" / "sheets" / "notes.jpg"
    mine.write_bytes(b"kept")
    write_manifest(out, jobs[:2])
    second = build_report(out, sheets=True, sheet_max_px=1024)
    assert len(second.sheets) == 1 < len(first.sheets)
    left = sorted(p.name for p in (out / "report" / "sheets").iterdir())
    assert left == ["notes.jpg", "signatures.json", "stage-hero-001.jpg"]
