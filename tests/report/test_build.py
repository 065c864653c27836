"""build_report on synthetic runs: what pages show, what a rebuild writes, where it may write."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from PIL import Image

from leobatch.errors import ReportError
from leobatch.report import build_report
from leobatch.report.model import read_manifest, rerun_command
from tests.report.support import grid_run, image_bytes, job_entry, write_manifest, write_output


def _files(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def test_a_rebuild_with_nothing_new_writes_nothing(tmp_path: Path) -> None:
    """Second build: same files, same mtimes, no thumbnail made, no page written."""
    out = tmp_path / "out"
    grid_run(out, {"model": ["a", "b", "c"], "seed": [1, 2, 3, 4]}, images_per_job=2)
    first = build_report(out, sheets=True, sheet_max_px=1024)
    assert first.thumbs_made == 24 and first.pages_written >= 4
    before = _files(out / "report")
    second = build_report(out, sheets=True, sheet_max_px=1024)
    assert (second.thumbs_made, second.pages_written, second.sheets_drawn) == (0, 0, 0)
    assert _files(out / "report") == before


def test_a_new_output_rewrites_only_what_shows_it(tmp_path: Path) -> None:
    """One more job in stage hero: its page and the index change, the other stage's page not."""
    out = tmp_path / "out"
    jobs = grid_run(out, {"seed": [1, 2]})
    jobs.append(
        job_entry(
            "c" * 64, "clean", {"seed": 1}, [write_output(out, "clean/c.jpg", image_bytes(50))]
        )
    )
    write_manifest(out, jobs)
    build_report(out)
    before = _files(out / "report")
    jobs.append(
        job_entry("d" * 64, "hero", {"seed": 3}, [write_output(out, "hero/d.jpg", image_bytes(51))])
    )
    write_manifest(out, jobs)
    result = build_report(out)
    after = _files(out / "report")
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {
        "index.html",
        "stage-hero.html",
        f"thumbs/{jobs[-1]['outputs'][0]['sha256']}.jpg",
    }
    assert result.thumbs_made == 1


def test_a_prompt_is_text_never_markup(tmp_path: Path) -> None:
    """A prompt or error holding <script> is escaped in every page."""
    out = tmp_path / "out"
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    write_manifest(
        out,
        [
            job_entry(
                "a" * 64,
                "hero",
                {"seed": 1, "style": evil},
                [write_output(out, "hero/a.jpg", image_bytes(1))],
                prompt=evil,
            ),
            job_entry(
                "b" * 64,
                "hero",
                {"seed": 2, "style": "ok"},
                status="failed",
                charged=None,
                error=evil,
                prompt=evil,
            ),
        ],
    )
    build_report(out)
    for page in ("index.html", "stage-hero.html"):
        html = (out / "report" / page).read_text()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert re.findall(r"<script\b[^>]*>", html) == ['<script src="assets/report.js">']
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
        in (out / "report" / "stage-hero.html").read_text()
    )


def test_thumbnails_are_made_once_per_content_and_never_inline_the_file(tmp_path: Path) -> None:
    """Two outputs with the same bytes share one thumbnail, at most 256 px, linked not inlined."""
    out = tmp_path / "out"
    data = image_bytes(3, size=(1200, 800))
    write_manifest(
        out,
        [
            job_entry("a" * 64, "hero", {"seed": 1}, [write_output(out, "hero/a.jpg", data)]),
            job_entry("b" * 64, "hero", {"seed": 2}, [write_output(out, "hero/b.jpg", data)]),
        ],
    )
    result = build_report(out)
    sha = hashlib.sha256(data).hexdigest()
    assert result.thumbs_made == 1
    assert sorted(p.name for p in (out / "report" / "thumbs").iterdir()) == [f"{sha}.jpg"]
    with Image.open(out / "report" / "thumbs" / f"{sha}.jpg") as thumb:
        assert thumb.size == (256, 171)
    html = (out / "report" / "stage-hero.html").read_text()
    assert f'src="thumbs/{sha}.jpg"' in html and 'href="../hero/a.jpg"' in html
    assert "data:image" not in html


def test_a_decompression_bomb_is_an_error_cell_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output above Image.MAX_IMAGE_PIXELS is never decoded; its cell says why, once."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    out = tmp_path / "out"
    big = image_bytes(4, size=(150, 100), fmt="PNG")  # 15,000 px: between 1x and 2x the limit
    huge = image_bytes(5, size=(400, 300), fmt="PNG")  # above 2x: Pillow raises at once
    broken = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
    write_manifest(
        out,
        [
            job_entry("a" * 64, "hero", {"seed": 1}, [write_output(out, "hero/a.png", big)]),
            job_entry("b" * 64, "hero", {"seed": 2}, [write_output(out, "hero/b.png", huge)]),
            job_entry("c" * 64, "hero", {"seed": 3}, [write_output(out, "hero/c.png", broken)]),
        ],
    )
    first = build_report(out)
    html = (out / "report" / "stage-hero.html").read_text()
    limit = (
        "too large to open safely: over Pillow&#39;s decompression-bomb limit of 10,000 pixels; "
        "open the file itself to look at it"
    )
    assert html.count(limit) == 2
    assert "cannot read the image:" in html
    assert first.thumbs_made == 3
    assert build_report(out).thumbs_made == 0  # the reasons are cached too


def test_missing_and_pending_cells_say_so(tmp_path: Path) -> None:
    """A recorded output whose file is gone, and a job not rendered yet, each get a cell."""
    out = tmp_path / "out"
    gone = write_output(out, "hero/gone.jpg", image_bytes(6))
    (out / "hero" / "gone.jpg").unlink()
    write_manifest(
        out,
        [
            job_entry("a" * 64, "hero", {"seed": 1}, [gone]),
            job_entry("b" * 64, "hero", {"seed": 2}, status="planned", charged=None),
            job_entry("c" * 64, "hero", {"seed": 3}, status="submitted", charged=None),
        ],
    )
    result = build_report(out)
    html = (out / "report" / "stage-hero.html").read_text()
    assert "file missing: hero/gone.jpg" in html
    assert "pending: not rendered yet" in html and "pending: rendering" in html
    assert result.cells == 3


def test_select_and_stage_restrict_the_report(tmp_path: Path) -> None:
    """Only the selected jobs are shown and counted."""
    out = tmp_path / "out"
    jobs = grid_run(out, {"seed": [1, 2, 3]})
    result = build_report(out, select={jobs[0]["key"], jobs[2]["key"]})
    assert (result.jobs, result.outputs, result.credits.charged) == (2, 2, 20)
    with pytest.raises(
        ReportError, match=r"--stage: no stage 'nope' in .*manifest.json \(its stages: hero\)"
    ):
        build_report(out, stage="nope")


def test_unknown_axes_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid_run(out, {"seed": [1, 2], "model": ["a", "b"]})
    with pytest.raises(ReportError) as e:
        build_report(out, rows="colour")
    assert (
        str(e.value) == "--rows: no stage has an axis 'colour' with more than one value "
        "(axes that vary: model, seed)"
    )
    with pytest.raises(ReportError, match="--rows and --cols name the same axis 'seed'"):
        build_report(out, rows="seed", cols="seed")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (".", "refusing to write the report into the recipe's folder itself"),
        ("out", "refusing to write the report into the output folder itself"),
        ("out/.leobatch", "refusing to write into a .leobatch folder"),
        ("out/.leobatch/report", "refusing to write into a .leobatch folder"),
    ],
)
def test_the_report_never_writes_where_it_must_not(
    tmp_path: Path, where: str, message: str
) -> None:
    out = tmp_path / "out"
    grid_run(out, {"seed": [1, 2]})
    (out / ".leobatch").mkdir()
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(ReportError, match=re.escape(message)):
        build_report(out, report_dir=tmp_path / where, recipe_dir=tmp_path)
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_a_report_elsewhere_links_back_to_the_files(tmp_path: Path) -> None:
    """-o DIR: links are relative from there to the output folder."""
    out = tmp_path / "out"
    grid_run(out, {"seed": [1, 2]})
    result = build_report(out, report_dir=tmp_path / "review" / "r1")
    html = result.index.with_name("stage-hero.html").read_text()
    link = re.search(r'href="([^"#]+\.jpg)"', html)
    assert link is not None and link.group(1).startswith("../../out/hero/")
    assert (result.index.parent / link.group(1)).is_file()
    assert not (out / "report").exists()


def test_a_manifest_path_outside_the_output_folder_is_never_read(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "secret.jpg").write_bytes(image_bytes(9))
    entry = write_output(out, "hero/a.jpg", image_bytes(9))
    entry["path"] = "../secret.jpg"
    write_manifest(out, [job_entry("a" * 64, "hero", {"seed": 1}, [entry])])
    result = build_report(out)
    assert result.thumbs_made == 0
    assert "file missing: ../secret.jpg" in (out / "report" / "stage-hero.html").read_text()


def test_no_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ReportError, match=r"no manifest at .*manifest\.json: nothing has been rendered there yet"
    ):
        build_report(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ReportError, match=r"cannot read the manifest .*manifest\.json: Expecting"):
        build_report(tmp_path)


def test_the_rerun_command_selects_the_cell_and_quotes_values(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_manifest(
        out,
        [
            job_entry(
                "a" * 64,
                "hero",
                {"subject": "a naked mug", "seed": 7, "shot": {"name": "wide", "w": 1}},
            )
        ],
    )
    job = read_manifest(out / "manifest.json").jobs[0]
    assert rerun_command("grid.yaml", job) == (
        "leobatch run grid.yaml --where stage=hero --where 'subject=a naked mug' "
        "--where seed=7 --where shot.name=wide"
    )


def test_the_report_writes_nothing_outside_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    grid_run(out, {"seed": [1, 2]})
    before = {p for p in tmp_path.rglob("*") if "report" not in p.parts}
    build_report(out, sheets=True, sheet_max_px=1024)
    assert {p for p in tmp_path.rglob("*") if "report" not in p.parts} == before
    assert all(not name.startswith(".") for name in (p.name for p in (out / "report").iterdir()))


def test_a_job_whose_upstream_failed_says_so_instead_of_pending(tmp_path: Path) -> None:
    """A nobg job below a refused image will never render: its cell names the failed stage."""
    out = tmp_path / "out"
    write_manifest(
        out,
        [
            job_entry("a" * 64, "hero", {"seed": 1}, status="failed", charged=None, error="no"),
            job_entry(
                "b" * 64,
                "cutout",
                {"seed": 1},
                status="planned",
                charged=None,
                upstream=("a" * 64, 0),
            ),
            job_entry(
                "c" * 64, "big", {"seed": 1}, status="planned", charged=None, upstream=("b" * 64, 0)
            ),
        ],
    )
    result = build_report(out)
    for stage in ("cutout", "big"):
        html = (out / "report" / result.files[stage]).read_text()
        assert "not rendered: its upstream hero job failed" in html
        assert "pending: not rendered yet" not in html
