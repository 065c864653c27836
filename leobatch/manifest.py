"""The manifest: every job of a plan and every output it produced, derived from plan + journal.

``<output.dir>/manifest.json`` (DESIGN section 7) is rewritten atomically as a run progresses (a
temporary file in the same directory, then ``os.replace``), so a reader never sees half of one.
Jobs are sorted by stage order, then key; paths are relative to the manifest's directory. It holds
request bodies, ids and CDN urls, never the API key (which the journal never sees either).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leobatch._version import __version__
from leobatch.plan.jobs import Job, Plan
from leobatch.run.journal import JobState, Journal, OutputState

__all__ = ["build_manifest", "write_manifest"]


def build_manifest(
    plan: Plan,
    journal: Journal,
    *,
    credits: Mapping[str, int | None],
    base: Path | None = None,
) -> dict[str, Any]:
    """The manifest of ``plan`` as the journal has it now.

    ``credits`` are the plan's estimates per job key. ``base`` is the manifest's directory (default:
    the plan's output directory); output and recipe paths are written relative to it. Jobs the
    journal does not know yet are *planned*, with their planned request body.
    """
    base = Path(base) if base is not None else Path(plan.output_dir)
    # Output paths are journaled relative to the output dir: one prefix serves them all.
    prefix = _relative(Path(plan.output_dir), base)
    prefix = "" if prefix == "." else prefix + "/"
    states = {state.key: state for state in journal.jobs()}
    outputs = journal.all_outputs()
    order = {stage: n for n, stage in enumerate(plan.stages)}
    jobs = sorted(plan.jobs, key=lambda j: (order.get(j.stage, len(order)), j.stage, j.key))
    entries = [
        _entry(job, states.get(job.key), outputs.get(job.key, ()), credits, prefix) for job in jobs
    ]
    complete = sum(1 for e in entries if e["status"] == "complete")
    failed = sum(1 for e in entries if e["status"] == "failed")
    return {
        "leobatch": __version__,
        "recipe": {
            "name": plan.recipe_name,
            "path": _relative(Path(plan.recipe_path), base),
            "sha256": plan.recipe_sha256,
        },
        "totals": {
            "jobs": len(entries),
            "complete": complete,
            "failed": failed,
            "pending": len(entries) - complete - failed,
            "credits_estimated": sum(e["credits_estimated"] or 0 for e in entries),
            "credits_charged": sum(e["credits_charged"] or 0 for e in entries),
        },
        "jobs": entries,
    }


def _entry(
    job: Job,
    state: JobState | None,
    outputs: tuple[OutputState, ...],
    credits: Mapping[str, int | None],
    prefix: str,
) -> dict[str, Any]:
    request = state.request if state is not None else None
    return {
        "key": job.key,
        "stage": job.stage,
        "kind": job.kind,
        "matrix": dict(job.matrix),
        "prompt": job.prompt,
        "request": request if request is not None else dict(job.body),
        "status": state.status if state is not None else "planned",
        "remote_id": state.remote_id if state is not None else None,
        "credits_estimated": credits.get(job.key),
        "credits_charged": state.credits_charged if state is not None else None,
        "attempts": state.attempt if state is not None else 0,
        "error": state.error if state is not None else None,
        "upstream": (
            {"key": job.upstream.key, "output": job.upstream.output}
            if job.upstream is not None
            else None
        ),
        "outputs": [
            {
                "index": out.index,
                "remote_id": out.remote_id,
                "url": out.url,
                "path": prefix + out.path,
                "sha256": out.sha256,
                "bytes": out.bytes,
                "media_type": out.media_type,
                "nsfw": out.nsfw,
            }
            for out in outputs
        ],
    }


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` with forward slashes (``..`` when it lies outside)."""
    return Path(os.path.relpath(path, base)).as_posix()


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically: a reader sees the old file or the new one.

    One job per line: readable in a diff, and fast (the C JSON encoder only runs without indent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_dumps(manifest))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _dumps(manifest: Mapping[str, Any]) -> str:
    head = {k: v for k, v in manifest.items() if k != "jobs"}
    lines = [f"{_json(k)}: {_json(v)}" for k, v in head.items()]
    if "jobs" in manifest:
        jobs = ",\n  ".join(_json(job) for job in manifest["jobs"])
        lines.append(f'"jobs": [\n  {jobs}\n ]' if jobs else '"jobs": []')
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def _json(value: Any) -> str:
    # default=str: matrix values from YAML may be dates; the manifest must still be written.
    return json.dumps(value, ensure_ascii=False, default=str)
