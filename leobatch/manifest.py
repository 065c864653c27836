"""The manifest: every job of a plan and every output it produced, derived from plan + journal.

``<output.dir>/manifest.json`` (DESIGN section 7) is rewritten atomically as a run progresses (a
temporary file in the same directory, then ``os.replace``), so a reader never sees half of one.
Jobs are sorted by stage order, then key; paths are relative to the manifest's directory. An
output's ``sha256`` and ``bytes`` are of the file as written (its provenance inside),
``served_sha256`` of the bytes as the CDN served them (the same with ``output.metadata:
false``). It holds request bodies, ids and CDN urls, never the API key (which the journal
never sees either).

The file has one job per line: readable in a diff, and fast to write (Python's C JSON encoder
only runs without indentation). During a run, :class:`ManifestWriter` keeps it current by
re-serialising only the jobs whose journal state changed since its last write.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from leobatch._version import __version__
from leobatch.errors import ManifestError
from leobatch.plan.jobs import Job, Plan
from leobatch.run.journal import JobState, Journal, OutputState

__all__ = ["ManifestWriter", "build_manifest", "manifest_totals", "write_manifest"]

#: (status, credits estimated, credits charged, dollars estimated, dollars charged) of one
#: job: what the totals are made of. Dollars are decimal strings, never added to credits.
_Figures = tuple[str, "int | None", "int | None", "str | None", "str | None"]


def build_manifest(
    plan: Plan,
    journal: Journal,
    *,
    credits: Mapping[str, int | None],
    base: Path | None = None,
    usd: Mapping[str, Decimal] | None = None,
) -> dict[str, Any]:
    """The manifest of ``plan`` as the journal has it now.

    ``credits`` are the plan's estimates per job key, ``usd`` those of jobs priced in dollars.
    ``base`` is the manifest's directory (default: the plan's output directory); output and
    recipe paths are written relative to it. Jobs the journal does not know yet are *planned*,
    with their planned request body.
    """
    base = Path(base) if base is not None else Path(plan.output_dir)
    prefix = _prefix(plan, base)
    states = {state.key: state for state in journal.jobs()}
    outputs = journal.all_outputs()
    entries = [
        _entry(job, states.get(job.key), outputs.get(job.key, ()), credits, prefix, usd or {})
        for job in _ordered(plan)
    ]
    figures = [_figures(entry) for entry in entries]
    return {**_head(plan, base, figures), **_cleaned(journal), "jobs": entries}


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically: a reader sees the old file or the new one."""
    head = {k: v for k, v in manifest.items() if k != "jobs"}
    _write_text(Path(path), _render(head, [_json(job) for job in manifest.get("jobs", ())]))


class ManifestWriter:
    """Keeps one run's manifest current cheaply: each :meth:`write` re-serialises only the jobs
    whose journal state changed since the previous one (the journal's change numbers say which).

    What it writes is what :func:`build_manifest` then :func:`write_manifest` would write.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        credits: Mapping[str, int | None],
        path: Path | None = None,
        usd: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.plan = plan
        self.credits = credits
        self.usd = usd or {}
        self.path = Path(path) if path is not None else Path(plan.output_dir) / "manifest.json"
        self._base = self.path.parent
        self._prefix = _prefix(plan, self._base)
        self._jobs = {job.key: job for job in plan.jobs}
        # Jobs never changed since they were journaled (change number 0) are planned, as set below.
        self._seq = 0
        self._lines: dict[str, str] = {}
        self._figures: dict[str, _Figures] = {}
        self._clean: dict[str, Any] = {}
        self.size = 0  # characters in the last manifest written
        for job in _ordered(plan):  # until the journal says otherwise, every job is planned
            self._set(job, None, ())

    def refresh(self, journal: Journal) -> int:
        """Take in what changed in ``journal``; returns how many jobs were re-serialised."""
        seq = journal.seq
        outputs = journal.outputs_changed_since(self._seq)
        changed = 0
        for state in journal.changed_since(self._seq):
            job = self._jobs.get(state.key)
            if job is not None:
                self._set(job, state, outputs.get(state.key, ()))
                changed += 1
        self._seq = seq
        self._clean = _cleaned(journal)
        return changed

    def text(self) -> str:
        """The manifest as it stands, serialised."""
        head = _head(self.plan, self._base, list(self._figures.values())) | self._clean
        return _render(head, list(self._lines.values()))

    def write(self, journal: Journal) -> None:
        """Refresh from ``journal`` and rewrite the manifest file atomically."""
        self.refresh(journal)
        text = self.text()
        _write_text(self.path, text)
        self.size = len(text)

    def _set(self, job: Job, state: JobState | None, outputs: tuple[OutputState, ...]) -> None:
        entry = _entry(job, state, outputs, self.credits, self._prefix, self.usd)
        self._lines[job.key] = _json(entry)
        self._figures[job.key] = _figures(entry)


def _ordered(plan: Plan) -> list[Job]:
    """Jobs by stage order, then key."""
    order = {stage: n for n, stage in enumerate(plan.stages)}
    return sorted(plan.jobs, key=lambda j: (order.get(j.stage, len(order)), j.stage, j.key))


def _entry(
    job: Job,
    state: JobState | None,
    outputs: tuple[OutputState, ...],
    credits: Mapping[str, int | None],
    prefix: str,
    usd: Mapping[str, Decimal],
) -> dict[str, Any]:
    request = state.request if state is not None else None
    usd_estimated = usd.get(job.key) if credits.get(job.key) is None else None
    usd_charged = state.usd_charged if state is not None else None
    return {
        "key": job.key,
        "stage": job.stage,
        "kind": job.kind,
        "matrix": dict(job.matrix),
        "prompt": job.prompt,
        "request": request if request is not None else dict(job.body),
        "status": state.status if state is not None else "planned",
        "remote_id": state.remote_id if state is not None else None,
        # the fingerprint of the account holding remote_id (ids are per account), never a key
        "account": state.account if state is not None else None,
        "credits_estimated": credits.get(job.key),
        "credits_charged": state.credits_charged if state is not None else None,
        "usd_estimated": None if usd_estimated is None else str(usd_estimated),
        "usd_charged": None if usd_charged is None else str(usd_charged),
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
                "served_sha256": out.served_sha256,
                "bytes": out.bytes,
                "media_type": out.media_type,
                "nsfw": out.nsfw,
            }
            for out in outputs
        ],
    }


def _figures(entry: Mapping[str, Any]) -> _Figures:
    return (
        entry["status"],
        entry["credits_estimated"],
        entry["credits_charged"],
        entry.get("usd_estimated"),  # absent from manifests before issue 10
        entry.get("usd_charged"),
    )


def manifest_totals(jobs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``totals`` of a manifest whose job entries are ``jobs`` (``collect`` recomputes a
    merged manifest's with it)."""
    return _totals([_figures(job) for job in jobs])


def _cleaned(journal: Journal) -> dict[str, Any]:
    """``{"cleaned": ...}`` once ``leobatch clean`` deleted something (issue #12), else ``{}``."""
    from leobatch.run.cleanups import cleaned_summary

    summary = cleaned_summary(journal)
    return {} if summary is None else {"cleaned": summary}


def _head(plan: Plan, base: Path, figures: list[_Figures]) -> dict[str, Any]:
    """Everything but the jobs."""
    return {
        "leobatch": __version__,
        "recipe": {
            "name": plan.recipe_name,
            "path": _relative(Path(plan.recipe_path), base),
            "sha256": plan.recipe_sha256,
        },
        "totals": _totals(figures),
    }


def _totals(figures: list[_Figures]) -> dict[str, Any]:
    complete = sum(1 for f in figures if f[0] == "complete")
    failed = sum(1 for f in figures if f[0] == "failed")
    credits_estimated = sum(f[1] or 0 for f in figures)
    credits_charged = sum(f[2] or 0 for f in figures)
    usd_estimated = sum((Decimal(f[3]) for f in figures if f[3] is not None), Decimal(0))
    usd_charged = sum((Decimal(f[4]) for f in figures if f[4] is not None), Decimal(0))
    return {
        "jobs": len(figures),
        "complete": complete,
        "failed": failed,
        "pending": len(figures) - complete - failed,
        "credits_estimated": credits_estimated,
        "credits_charged": credits_charged,
        # issue 10: each unit on its own (credits_* above are the CREDITS figures, kept as they
        # were); a job priced in neither unit is counted in unknown_estimates, never as 0
        "cost": {
            "CREDITS": {"estimated": credits_estimated, "charged": credits_charged},
            "DOLLARS": {"estimated": str(usd_estimated), "charged": str(usd_charged)},
            "unknown_estimates": sum(1 for f in figures if f[1] is None and f[3] is None),
        },
    }


def _prefix(plan: Plan, base: Path) -> str:
    """Output paths are journaled relative to the output dir: one prefix serves them all."""
    prefix = _relative(Path(plan.output_dir), base)
    return "" if prefix == "." else prefix + "/"


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` with forward slashes (``..`` when it lies outside)."""
    return Path(os.path.relpath(path, base)).as_posix()


def _render(head: Mapping[str, Any], job_lines: list[str]) -> str:
    """The manifest text: the head's keys one per line, then ``"jobs"``, one job per line."""
    lines = [f"{_json(k)}: {_json(v)}" for k, v in head.items()]
    jobs = ",\n  ".join(job_lines)
    lines.append(f'"jobs": [\n  {jobs}\n ]' if jobs else '"jobs": []')
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def _json(value: Any) -> str:
    # default=str: matrix values from YAML may be dates; the manifest must still be written.
    return json.dumps(value, ensure_ascii=False, default=str)


def _write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file in the same directory).

    On failure (a full disk, say) the previous manifest is left whole, the temporary file is
    removed, and :class:`ManifestError` says why.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _manifest_error(path, e) from e
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)  # a full disk may show only when closing: still inside this try
        tmp.replace(path)
    except OSError as e:
        raise _manifest_error(path, e) from e
    finally:
        tmp.unlink(missing_ok=True)


def _manifest_error(path: Path, e: OSError) -> ManifestError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full" if e.errno == errno.ENOSPC else "the disk quota is exceeded"
        return ManifestError(
            f"cannot write the manifest {path}: {why}. The previous manifest, if any, is left as "
            "it was; free some space and run again (the journal keeps every step done so far)"
        )
    return ManifestError(f"cannot write the manifest {path}: {e.strerror or e}")
