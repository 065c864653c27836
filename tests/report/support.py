"""Synthetic runs for the report tests: real image files and a manifest in leobatch's shape.

The browser test renders a real recipe on the emulator; these smaller runs let the unit tests
choose the exact grid (axes, failures, pending jobs, odd files) they are about.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image


def image_bytes(n: int, size: tuple[int, int] = (48, 36), fmt: str = "JPEG") -> bytes:
    """A small image whose colour depends on ``n`` (so each has its own sha256)."""
    colour = ((n * 67) % 256, (n * 131) % 256, (n * 29 + 80) % 256)
    image = Image.new("RGB", size, colour)
    # Flat colours can encode to identical JPEGs: a few pixels spell n in binary.
    for bit in range(16):
        image.putpixel((bit % image.width, 0), (255, 255, 255) if n >> bit & 1 else (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def job_entry(
    key: str,
    stage: str,
    matrix: Mapping[str, Any],
    outputs: Sequence[Mapping[str, Any]] = (),
    *,
    status: str = "complete",
    estimated: int | None = 10,
    charged: int | None = 10,
    error: str | None = None,
    prompt: str = "a mug",
    upstream: tuple[str, int] | None = None,
    kind: str = "image",
) -> dict[str, Any]:
    """One manifest job entry (``leobatch.manifest`` writes the same keys)."""
    return {
        "key": key,
        "stage": stage,
        "kind": kind,
        "matrix": dict(matrix),
        "prompt": prompt,
        "request": {"prompt": prompt, "modelId": "b24e16ff-06e3-43eb-8d33-4416c2d75876"},
        "status": status,
        "remote_id": None,
        "credits_estimated": estimated,
        "credits_charged": charged,
        "attempts": 1,
        "error": error,
        "upstream": {"key": upstream[0], "output": upstream[1]} if upstream else None,
        "outputs": list(outputs),
    }


def write_output(out_dir: Path, rel: str, data: bytes, index: int = 0) -> dict[str, Any]:
    """Write one output file; returns its manifest entry."""
    path = out_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    media = "video/mp4" if rel.endswith(".mp4") else "image/" + rel.rsplit(".", 1)[-1]
    return {
        "index": index,
        "remote_id": None,
        "url": None,
        "path": rel,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "media_type": media.replace("image/jpg", "image/jpeg"),
        "nsfw": False,
    }


def write_manifest(out_dir: Path, jobs: Sequence[Mapping[str, Any]], name: str = "grid") -> Path:
    """Write ``manifest.json`` (with totals computed as ``leobatch.manifest`` does)."""
    complete = sum(j["status"] == "complete" for j in jobs)
    failed = sum(j["status"] == "failed" for j in jobs)
    manifest = {
        "leobatch": "0.1.0",
        "recipe": {"name": name, "path": f"../{name}.yaml", "sha256": "0" * 64},
        "totals": {
            "jobs": len(jobs),
            "complete": complete,
            "failed": failed,
            "pending": len(jobs) - complete - failed,
            "credits_estimated": sum(j["credits_estimated"] or 0 for j in jobs),
            "credits_charged": sum(j["credits_charged"] or 0 for j in jobs),
        },
        "jobs": list(jobs),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def grid_run(
    out_dir: Path,
    axes: Mapping[str, Sequence[Any]],
    *,
    stage: str = "hero",
    images_per_job: int = 1,
    size: tuple[int, int] = (48, 36),
) -> list[dict[str, Any]]:
    """A finished run of every combination of ``axes``; returns the job entries written."""
    jobs = []
    names = list(axes)
    for n, combo in enumerate(itertools.product(*(axes[a] for a in names))):
        key = hashlib.sha256(f"{stage}{n}".encode()).hexdigest()
        outputs = [
            write_output(out_dir, f"{stage}/{key[:12]}-{i}.jpg", image_bytes(n * 8 + i, size), i)
            for i in range(images_per_job)
        ]
        jobs.append(job_entry(key, stage, dict(zip(names, combo, strict=True)), outputs))
    write_manifest(out_dir, jobs)
    return jobs
