"""Report build time for 1,000 and 10,000 outputs, and the size of the largest contact sheet.

Run: ``python benchmarks/report_scale.py`` (``--sizes 1000,10000``, ``--image-px 512``). Each
size is a synthetic finished run in a temporary folder: a model x style x seed grid of JPEG
outputs (``--image-px`` on the long side, each with its own colour, so each has its own sha256)
and a manifest in leobatch's shape, 1% of the jobs failed. For each size it times, in this
process, ``build_report`` from nothing (thumbnails + pages), the same with nothing new, a build
with contact sheets (sheets drawn, thumbnails reused) and that again with nothing new; then
``leobatch report DIR`` in a fresh interpreter with nothing new (what a user waits for).
Target (DESIGN section 9): 1,000 outputs in < 10 s; a re-run with nothing new < 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from leobatch.report import build_report

#: (models, styles, seeds) per size: the grid's columns, rows and sections.
GRIDS = {1000: (5, 5, 40), 10000: (10, 10, 100)}


def make_run(folder: Path, outputs: int, image_px: int) -> Path:
    """A finished run of ``outputs`` single-image jobs in ``folder``; returns the folder."""
    models, styles, seeds = GRIDS.get(outputs, (10, 10, max(1, outputs // 100)))
    size = (image_px, image_px * 3 // 4)
    jobs: list[dict[str, Any]] = []
    n = 0
    for m in range(models):
        for s in range(styles):
            for seed in range(seeds):
                key = hashlib.sha256(f"job{n}".encode()).hexdigest()
                failed = n % 100 == 99
                job_outputs = [] if failed else [_output(folder, key, n, size)]
                jobs.append(
                    _job(
                        key,
                        {"model": f"model-{m}", "style": f"STYLE_{s}", "seed": seed},
                        job_outputs,
                        failed,
                    )
                )
                n += 1
    manifest = {
        "leobatch": "bench",
        "recipe": {"name": f"scale-{outputs}", "path": "../scale.yaml", "sha256": "0" * 64},
        "totals": {"jobs": len(jobs)},
        "jobs": jobs,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def _output(folder: Path, key: str, n: int, size: tuple[int, int]) -> dict[str, Any]:
    buffer = io.BytesIO()
    # A gradient with the output's number written on it: every file has its own bytes (flat
    # colours can encode to identical JPEGs) and some detail to decode, like a real image.
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(image, Image.new("RGB", size, ((n * 67) % 256, (n * 131) % 256, 160)), 0.6)
    ImageDraw.Draw(image).text((size[0] // 8, size[1] // 3), f"output {n}", fill=(255, 255, 255))
    image.save(buffer, "JPEG", quality=85)
    data = buffer.getvalue()
    rel = f"hero/{key[:12]}-0.jpg"
    (folder / "hero").mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(data)
    return {
        "index": 0,
        "remote_id": None,
        "url": None,
        "path": rel,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "media_type": "image/jpeg",
        "nsfw": False,
    }


def _job(
    key: str, matrix: dict[str, Any], outputs: list[dict[str, Any]], failed: bool
) -> dict[str, Any]:
    return {
        "key": key,
        "stage": "hero",
        "kind": "image",
        "matrix": matrix,
        "prompt": f"a ceramic mug, {matrix['style'].lower()} light, take {matrix['seed']}",
        "request": {"modelId": "b24e16ff-06e3-43eb-8d33-4416c2d75876", "seed": matrix["seed"]},
        "status": "failed" if failed else "complete",
        "remote_id": None,
        "credits_estimated": 11,
        "credits_charged": None if failed else 11,
        "attempts": 1,
        "error": "HTTP 403: content moderation filter" if failed else None,
        "upstream": None,
        "outputs": outputs,
    }


def _timed(**kwargs: Any) -> tuple[str, Any]:
    """``build_report(**kwargs)`` and its wall and CPU seconds (CPU of all threads: on a
    shared machine wall time depends on the load, CPU time much less)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = build_report(**kwargs)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return f"{wall:.2f} s (cpu {cpu:.2f} s)", result


def bench(outputs: int, image_px: int) -> None:
    """Print the figures of one size."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_run(Path(tmp), outputs, image_px)
        shown = sum(1 for p in (folder / "hero").iterdir())
        first, result = _timed(output_dir=folder)
        again, rerun = _timed(output_dir=folder)
        sheets_s, with_sheets = _timed(output_dir=folder, sheets=True)
        sheets_again, _ = _timed(output_dir=folder, sheets=True)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "leobatch", "report", str(folder)],
            check=True,
            capture_output=True,
        )
        cli = time.perf_counter() - start
        largest = max(with_sheets.sheets, key=lambda s: s.width * s.height)
        html_mb = sum(p.stat().st_size for p in (folder / "report").glob("*.html")) / 1e6
        print(
            f"{outputs:>6} outputs ({shown} files, {result.jobs} jobs): first build {first} "
            f"({result.thumbs_made} thumbnails, {result.pages_written} files), "
            f"no-change rebuild {again} ({rerun.pages_written} files written)"
        )
        print(
            f"{'':>6} sheets: {len(with_sheets.sheets)} drawn in {sheets_s}, "
            f"no-change {sheets_again}; largest sheet {largest.width}x{largest.height} px "
            f"({largest.tiles} tiles); pages {html_mb:.1f} MB; "
            f"`leobatch report DIR` with nothing new: {cli:5.2f} s"
        )


def main() -> None:
    """Parse the arguments and run each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated output counts")
    parser.add_argument("--image-px", type=int, default=512, help="long side of each output")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for size in (int(s) for s in args.sizes.split(",")):
        bench(size, args.image_px)


if __name__ == "__main__":
    main()
