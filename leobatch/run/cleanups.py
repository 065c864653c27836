"""What ``clean`` did, in the run journal: one row per thing it deleted (or chose to keep).

Table ``cleanups`` in ``state.sqlite``, created by the first clean (``CREATE TABLE IF NOT
EXISTS``: a journal that was never cleaned has none, and readers treat that as "nothing
cleaned", so the journal's schema version is unchanged). A row is keyed by (target, ident):
``target`` is ``generation``, ``variation``, ``motion-variation``, ``init-image`` or ``file``;
``ident`` the remote id or the output's path inside output.dir. ``status``:

- ``deleting``: written and committed before the DELETE is sent; a clean killed there finds it
  on its next run and asks the API (a GET) whether the id still exists before deleting it, so no
  id is ever deleted twice;
- ``deleted``: gone because clean deleted it (or, for a variation, its generation);
- ``gone``: already gone when clean came to it (not an error);
- ``kept``: clean decided to keep it (``detail`` says why); a later clean looks again.

Each write bumps the job's change number, so a running manifest writer picks the change up.
These functions read and write through the journal's own transaction helpers (same package).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leobatch.run.journal import Journal
from leobatch.run.journal_records import _BUMP

__all__ = [
    "DONE",
    "Cleanup",
    "CleanupStatus",
    "Target",
    "cleaned_summary",
    "cleanups",
    "record_cleanup",
    "uploads",
]

Target = Literal["generation", "variation", "motion-variation", "init-image", "file"]
CleanupStatus = Literal["deleting", "deleted", "gone", "kept"]
#: Statuses after which nothing is left to do.
DONE: frozenset[str] = frozenset({"deleted", "gone"})

_TABLE = """CREATE TABLE IF NOT EXISTS cleanups (
    target TEXT NOT NULL, ident TEXT NOT NULL, job_key TEXT, status TEXT NOT NULL,
    detail TEXT, at REAL NOT NULL, PRIMARY KEY (target, ident))"""


@dataclass(frozen=True, slots=True)
class Cleanup:
    """One journaled clean step."""

    target: Target
    ident: str
    job_key: str | None
    status: CleanupStatus
    detail: str | None
    at: float


def record_cleanup(
    journal: Journal,
    target: Target,
    ident: str,
    job_key: str | None,
    status: CleanupStatus,
    detail: str | None = None,
) -> None:
    """Journal a clean step, committed before this returns."""
    with journal._tx(durable=True) as conn:
        conn.execute(_TABLE)
        conn.execute(
            "INSERT OR REPLACE INTO cleanups (target, ident, job_key, status, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (target, ident, job_key, status, detail, journal._clock()),
        )
        if job_key is not None:
            conn.execute(_BUMP.format(key="?"), (job_key,))


def _has_table(journal: Journal) -> bool:
    return bool(
        journal._scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cleanups'"
        )
    )


def cleanups(journal: Journal) -> dict[tuple[str, str], Cleanup]:
    """Every journaled clean step, by (target, ident)."""
    if not _has_table(journal):
        return {}
    rows = journal._query(
        "SELECT target, ident, job_key, status, detail, at FROM cleanups ORDER BY at"
    )
    return {(r[0], r[1]): Cleanup(*r) for r in rows}


def uploads(journal: Journal) -> dict[str, str]:
    """The journal's uploads: sha256 of the local file -> init-image id."""
    rows = journal._query("SELECT sha256, init_image_id FROM uploads ORDER BY uploaded_at")
    return {str(sha): str(image_id) for sha, image_id in rows}


def cleaned_summary(journal: Journal) -> dict[str, Any] | None:
    """What the manifest and ``status`` say was cleaned (``None``: never cleaned)."""
    steps = cleanups(journal)
    if not steps:
        return None
    return summarise(steps)


def summarise(steps: Mapping[tuple[str, str], Cleanup]) -> dict[str, Any]:
    """Counts of what is off the account and off the disk, what was kept, and which jobs."""
    done = [s for s in steps.values() if s.status in DONE]
    remote = {
        target: sum(1 for s in done if s.target == target)
        for target in ("generation", "variation", "motion-variation", "init-image")
    }
    return {
        "remote": remote,
        "files": sum(1 for s in done if s.target == "file"),
        "kept": sum(1 for s in steps.values() if s.status == "kept"),
        "unfinished": sum(1 for s in steps.values() if s.status == "deleting"),
        "jobs": sorted({s.job_key for s in done if s.job_key is not None}),
        "last_at": max(s.at for s in steps.values()),
    }
