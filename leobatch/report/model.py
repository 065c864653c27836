"""The report's input: a manifest read into values, and the few facts derived from each job.

The report is derived from ``manifest.json`` and the files beside it, never from the network
(DESIGN section 1). Everything a page shows about a job comes from here: its model and style
(from the request the job sent), its axis values as labels, and the command that re-renders it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leobatch.errors import ReportError

__all__ = [
    "MISSING",
    "JobEntry",
    "Manifest",
    "OutputFile",
    "canonical",
    "label",
    "read_manifest",
    "rerun_command",
]

#: The label of an axis a job does not carry (an ``include`` entry that leaves it out).
MISSING = "\u2014"

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Statuses of a job that is neither done nor failed, and what a cell says about them.
PENDING_WORDS = {
    "planned": "pending: not rendered yet",
    "submitting": "pending: being submitted",
    "submitted": "pending: rendering",
}


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One media file of a job. ``path`` is relative to the manifest's folder (POSIX);
    ``sha256`` is ``None`` when the manifest's value is not a sha256 (the file is not shown)."""

    index: int
    path: str
    sha256: str | None
    media_type: str

    @property
    def is_video(self) -> bool:
        """Whether the file is a video (played inline, thumbnailed from a poster frame)."""
        return self.media_type.startswith("video/")


@dataclass(frozen=True, slots=True)
class JobEntry:
    """One job of the manifest, as the report needs it."""

    key: str
    stage: str
    kind: str
    matrix: Mapping[str, Any]
    prompt: str | None
    status: str
    credits_estimated: int | None
    credits_charged: int | None
    error: str | None
    upstream: tuple[str, int] | None
    outputs: tuple[OutputFile, ...]
    model: str | None
    style: str | None
    seed: Any
    request: Mapping[str, Any] = field(default_factory=dict, compare=False)  # drift's price class

    @property
    def anchor(self) -> str:
        """The id of the job's first cell on its page (16 hex digits of the key are unique
        enough for one report and keep pages small)."""
        return cell_id(self.key, self.outputs[0].index if self.outputs else None)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest: where it lies, the recipe it came from, its jobs in manifest order."""

    path: Path
    recipe_name: str
    recipe_file: str
    jobs: tuple[JobEntry, ...]
    totals: Mapping[str, Any]
    #: a merged manifest's shard folders (``leobatch collect``), relative to its folder: the
    #: only places outside it that its output paths may lead
    roots: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        """The output directory: output paths are relative to it."""
        return self.path.parent

    @property
    def stages(self) -> tuple[str, ...]:
        """Stage names in manifest order (the recipe's stage order)."""
        return tuple(dict.fromkeys(job.stage for job in self.jobs))


def cell_id(key: str, index: int | None) -> str:
    """The HTML id of one output's cell, or of a job's only cell when it has no output."""
    return f"c-{key[:16]}" if index is None else f"c-{key[:16]}-{index}"


def read_manifest(path: Path) -> Manifest:
    """Read ``path`` (a ``manifest.json``); :class:`ReportError` says what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ReportError(f"no manifest at {path}: nothing has been rendered there yet") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ReportError(f"cannot read the manifest {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise ReportError(f"{path} is not a leobatch manifest (no list of jobs)")
    recipe = _mapping(data.get("recipe"))
    try:
        jobs = tuple(_job(entry) for entry in data["jobs"])
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(
            f"{path} is not a leobatch manifest: a job entry is malformed ({e})"
        ) from e
    recipe_path = str(recipe.get("path") or "recipe.yaml")
    totals = _mapping(data.get("totals"))
    collected = data.get("collected")
    roots = tuple(
        str(c["dir"])
        for c in (collected if isinstance(collected, list) else ())
        if isinstance(c, dict) and isinstance(c.get("dir"), str)
    )
    return Manifest(
        path=path,
        recipe_name=str(recipe.get("name") or path.parent.name),
        recipe_file=Path(recipe_path).name,
        jobs=jobs,
        totals=totals,
        roots=roots,
    )


def _job(entry: Mapping[str, Any]) -> JobEntry:
    request = _mapping(entry.get("request"))
    upstream = entry.get("upstream")
    matrix = entry.get("matrix") or {}
    if not isinstance(matrix, dict):
        raise ValueError("matrix is not a mapping")
    return JobEntry(
        key=str(entry["key"]),
        stage=str(entry["stage"]),
        kind=str(entry.get("kind") or ""),
        matrix=matrix,
        prompt=entry.get("prompt") if isinstance(entry.get("prompt"), str) else None,
        status=str(entry.get("status") or "planned"),
        credits_estimated=_int(entry.get("credits_estimated")),
        credits_charged=_int(entry.get("credits_charged")),
        error=str(entry["error"]) if entry.get("error") else None,
        upstream=(str(upstream["key"]), int(upstream["output"])) if upstream else None,
        outputs=tuple(_output(out) for out in entry.get("outputs") or ()),
        model=_model(request),
        style=_first_str(request, ("presetStyle", "ultraUpscaleStyle", "upscalerStyle")),
        seed=_seed(request),
        request=request,
    )


def _output(out: Mapping[str, Any]) -> OutputFile:
    sha = out.get("sha256")
    return OutputFile(
        index=int(out["index"]),
        path=str(out["path"]),
        sha256=sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None,
        media_type=str(out.get("media_type") or "application/octet-stream"),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_str(body: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        if isinstance(body.get(name), str):
            return str(body[name])
    return None


def _model(request: Mapping[str, Any]) -> str | None:
    """The catalogue slug of the request's model (v1 ``modelId``, v2 and video ``model``)."""
    wire = _first_str(request, ("modelId", "model"))
    if wire is None:
        return None
    from leobatch.catalog import find_model

    found = find_model(wire)
    return found.slug if found is not None else wire


def _seed(request: Mapping[str, Any]) -> Any:
    params = request.get("parameters")
    if isinstance(params, dict) and "seed" in params:
        return params["seed"]
    return request.get("seed")


def canonical(value: Any) -> str:
    """A value's identity on an axis: equal values (mappings too) give equal strings."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def label(value: Any) -> str:
    """How an axis value is shown: a mapping by its ``name`` when it has one."""
    if isinstance(value, dict):
        if "name" in value:
            return label(value["name"])
        return ", ".join(f"{k}={label(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(label(v) for v in value) + "]"
    return str(value)


def rerun_command(recipe_file: str, job: JobEntry) -> str:
    """The command that re-renders just ``job``, typed from the recipe's folder.

    ``leobatch run RECIPE --where stage=NAME --where AXIS=VALUE ...``, one ``--where`` per matrix
    axis the job carries. A mapping value is selected by its ``name`` (``shot.name=wide``) or,
    without one, by each of its scalar entries (``item.prop=fork``).
    """
    words = ["leobatch", "run", recipe_file, "--where", f"stage={job.stage}"]
    for axis, value in job.matrix.items():
        for where_key, where_value in _where_pairs(axis, value):
            words += ["--where", f"{where_key}={where_value}"]
    return shlex.join(words)


def _where_pairs(axis: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        if "name" in value and not isinstance(value["name"], dict | list):
            return [(f"{axis}.name", label(value["name"]))]
        return [
            (f"{axis}.{k}", label(v)) for k, v in value.items() if not isinstance(v, dict | list)
        ]
    return [(axis, label(value))]
