"""The run journal: every job transition, output, download and upload, in SQLite, before acting.

One file per output directory, ``<output.dir>/.leobatch/state.sqlite``, in WAL mode with
``synchronous=NORMAL``: each call below is one short transaction, committed before it returns, so a
process killed at any instant (SIGKILL included) never loses a transition it was told about. Power
loss is out of scope. A writer (:meth:`Journal.open`) holds the directory's exclusive lock
(:mod:`leobatch.run.lock`); readers (:meth:`Journal.open_readonly`: ``status``, ``plan``'s diff)
take no lock and see committed state while a run writes.

Job state machine (anything else raises :class:`JournalError`)::

    planned ─mark_submitting─▶ submitting ──mark_submitted──▶ submitted ──mark_complete──▶ complete
       ▲                           │    │                         │
       │◀──────mark_absent─────────┘    │                         │
       │◀──mark_failed(final=False)─────┴─────────────────────────┤
       │                                                          │
       └──────────reopen─────────── failed ◀──mark_failed(final=True)

- *submitting* is written before the create POST; a crash leaves the job there, and the next run
  must reconcile it (adopt the remote job with :meth:`mark_submitted`, or prove it absent with
  :meth:`mark_absent`) before it may be submitted again: a new attempt starts only from *planned*,
  so the journal itself refuses a double submission.
- *submitted* carries the remote id (generation id or variation id; ``None`` for synchronous
  improve-prompt calls). *complete* means the API reported the job done and its outputs were
  recorded; downloads are tracked per output (``sha256`` set once the file is verified in place).
- *failed* is terminal for this run (retries exhausted, or the request was refused). A later run
  may :meth:`reopen` it.

Every submission is an *attempt* (``attempts`` table, numbered from 1) whose status mirrors the
job's (``submitting``, ``submitted``, ``complete``, ``failed``, ``absent``), so resubmitted jobs
keep their history. The API key is never passed to, nor stored by, this module.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from leobatch.errors import JournalError
from leobatch.plan.jobs import Job
from leobatch.run.lock import DirLock, LockHolder, running_holder

__all__ = [
    "AttemptState",
    "GroupSummary",
    "JobState",
    "Journal",
    "OutputState",
    "Status",
    "Summary",
]

#: Values containing this variable's value (the API key) are refused (belt and braces).
API_KEY_ENV = "LEONARDO_API_KEY"
STATE_DIR = ".leobatch"
DB_NAME = "state.sqlite"
LOCK_NAME = "lock"

Status = Literal["planned", "submitting", "submitted", "complete", "failed"]
STATUSES: tuple[Status, ...] = ("planned", "submitting", "submitted", "complete", "failed")

SCHEMA_VERSION = 1
_BUMP = "UPDATE jobs SET seq = (SELECT coalesce(max(seq), 0) + 1 FROM jobs) WHERE key = {key}"
SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE jobs (
        key TEXT PRIMARY KEY, stage TEXT NOT NULL, kind TEXT NOT NULL, model TEXT,
        status TEXT NOT NULL DEFAULT 'planned', remote_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
        credits_estimated INTEGER, credits_charged INTEGER, error TEXT, request_json TEXT,
        started_at REAL, submitted_at REAL, completed_at REAL, updated_at REAL NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX jobs_status ON jobs (status)",
    "CREATE INDEX jobs_seq ON jobs (seq)",
    "CREATE INDEX jobs_remote_id ON jobs (remote_id)",
    """CREATE TABLE attempts (
        job_key TEXT NOT NULL REFERENCES jobs (key), attempt INTEGER NOT NULL,
        status TEXT NOT NULL, remote_id TEXT, started_at REAL NOT NULL, ended_at REAL,
        error TEXT, credits_charged INTEGER, refunded INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_key, attempt))""",
    """CREATE TABLE outputs (
        job_key TEXT NOT NULL REFERENCES jobs (key), idx INTEGER NOT NULL, remote_id TEXT,
        url TEXT, path TEXT NOT NULL, sha256 TEXT, bytes INTEGER, media_type TEXT,
        nsfw INTEGER NOT NULL DEFAULT 0, downloaded_at REAL, PRIMARY KEY (job_key, idx))""",
    """CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY, init_image_id TEXT NOT NULL, extension TEXT,
        uploaded_at REAL NOT NULL)""",
    "CREATE TABLE texts (job_key TEXT PRIMARY KEY REFERENCES jobs (key), text TEXT NOT NULL)",
    # ``seq`` orders changes: any change a manifest shows bumps the job's seq past every other, so
    # a reader can fetch only what changed since it last looked (``changed_since``).
    f"""CREATE TRIGGER jobs_changed AFTER UPDATE OF status, remote_id, attempt, credits_charged,
        error, request_json ON jobs BEGIN {_BUMP.format(key="NEW.key")}; END""",
    f"""CREATE TRIGGER outputs_inserted AFTER INSERT ON outputs
        BEGIN {_BUMP.format(key="NEW.job_key")}; END""",
    f"""CREATE TRIGGER outputs_updated AFTER UPDATE ON outputs
        BEGIN {_BUMP.format(key="NEW.job_key")}; END""",
)

_JOB_COLUMNS = (
    "key, stage, kind, model, status, remote_id, attempt, failures, credits_estimated, "
    "credits_charged, error, request_json, started_at, submitted_at, completed_at, updated_at"
)
_OUTPUT_COLUMNS = (
    "job_key, idx, remote_id, url, path, sha256, bytes, media_type, nsfw, downloaded_at"
)
#: A job's charge: the sum over its attempts that were not refunded (NULL while none reported).
_CHARGED = "(SELECT sum(credits_charged) FROM attempts WHERE job_key = ? AND NOT refunded)"
_ATTEMPT_COLUMNS = (
    "job_key, attempt, status, remote_id, started_at, ended_at, error, credits_charged, refunded"
)


@dataclass(frozen=True, slots=True)
class JobState:
    """One job as journaled. ``attempt`` counts submissions started (0 = never submitted);
    ``failures`` counts failed attempts since the job was planned or reopened;
    ``credits_charged`` sums the charges of every attempt not refunded (``None`` while none was
    reported); ``request_json`` is the wire body last sent (run-time ids filled, never headers),
    parsed on demand by :attr:`request`."""

    key: str
    stage: str
    kind: str
    model: str | None
    status: Status
    remote_id: str | None
    attempt: int
    failures: int
    credits_estimated: int | None
    credits_charged: int | None
    error: str | None
    request_json: str | None
    started_at: float | None
    submitted_at: float | None
    completed_at: float | None
    updated_at: float

    @property
    def request(self) -> dict[str, Any] | None:
        """The wire body last sent, or ``None`` before the first attempt."""
        if self.request_json is None:
            return None
        return cast("dict[str, Any]", json.loads(self.request_json))


@dataclass(frozen=True, slots=True)
class OutputState:
    """One output file of a job; ``sha256``/``bytes`` are set once it is verified in place."""

    job_key: str
    index: int
    remote_id: str | None
    url: str | None
    path: str
    sha256: str | None
    bytes: int | None
    media_type: str | None
    nsfw: bool
    downloaded_at: float | None

    @property
    def downloaded(self) -> bool:
        """Whether the file was downloaded and verified."""
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class AttemptState:
    """One submission of a job: ``status`` is submitting, submitted, complete, failed or absent.
    ``refunded`` is set when the API gave the attempt's charge back (a FAILED job)."""

    job_key: str
    attempt: int
    status: str
    remote_id: str | None
    started_at: float
    ended_at: float | None
    error: str | None
    credits_charged: int | None
    refunded: bool


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Jobs and credits of one (stage, model) pair."""

    stage: str
    model: str | None
    jobs: int
    complete: int
    failed: int
    credits_estimated: int
    unknown_estimates: int
    credits_charged: int


@dataclass(frozen=True, slots=True)
class Summary:
    """The journal at a glance: jobs per status, outputs, credits, per (stage, model) groups,
    and when a job last changed (unix seconds)."""

    statuses: Mapping[str, int]
    outputs: int
    downloaded: int
    credits_estimated: int
    unknown_estimates: int
    credits_charged: int
    groups: tuple[GroupSummary, ...]
    last_update: float | None = None

    @property
    def jobs(self) -> int:
        """Jobs journaled in all."""
        return sum(self.statuses.values())


def _job(row: tuple[Any, ...]) -> JobState:
    return JobState(*row)


def _output(row: tuple[Any, ...]) -> OutputState:
    args = (*row[:8], bool(row[8]), row[9])
    return OutputState(*args)


def _attempt(row: tuple[Any, ...]) -> AttemptState:
    args = (*row[:8], bool(row[8]))
    return AttemptState(*args)


class Journal:
    """A run's journal. Open with :meth:`open` (writer, locked) or :meth:`open_readonly`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        lock: DirLock | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conn = conn
        self.path = path
        self.output_dir = path.parent.parent
        self._lock = lock
        self._clock = clock

    # -- opening and closing ------------------------------------------------------------------

    @staticmethod
    def db_path(output_dir: Path) -> Path:
        """Where the journal of ``output_dir`` lives."""
        return Path(output_dir) / STATE_DIR / DB_NAME

    @classmethod
    def exists(cls, output_dir: Path) -> bool:
        """Whether a run ever wrote a journal in ``output_dir``."""
        return cls.db_path(output_dir).is_file()

    @classmethod
    def running(cls, output_dir: Path) -> LockHolder | None:
        """The run writing this journal now, if any (read-only check; takes no lock)."""
        return running_holder(Path(output_dir) / STATE_DIR / LOCK_NAME)

    @classmethod
    def open(cls, output_dir: Path, *, clock: Callable[[], float] = time.time) -> Journal:
        """Open (creating it and ``.leobatch/`` if needed) the journal of ``output_dir`` to write.

        Takes the directory's exclusive lock first: raises :class:`LockedError` naming the holder
        when another run has it.
        """
        state_dir = Path(output_dir) / STATE_DIR
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(f"cannot create {state_dir}: {e.strerror}") from e
        lock = DirLock.acquire(state_dir / LOCK_NAME, output_dir=Path(output_dir))
        path = state_dir / DB_NAME
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            lock.release()
            raise JournalError(f"cannot open the journal {path}: {e}") from e
        journal = cls(conn, path, lock=lock, clock=clock)
        try:
            journal._prepare()
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def open_readonly(cls, output_dir: Path) -> Journal:
        """Open the journal of ``output_dir`` to read, without the lock (works during a run)."""
        path = cls.db_path(output_dir)
        if not path.is_file():
            raise JournalError(f"no journal at {path}: nothing has run yet for {output_dir}")
        try:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            raise JournalError(f"cannot open the journal {path}: {e}") from e
        journal = cls(conn, path, lock=None)
        try:
            journal._check_version(journal._scalar("PRAGMA user_version"))
        except BaseException:
            journal.close()
            raise
        return journal

    def _prepare(self) -> None:
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            version = self._scalar("PRAGMA user_version")
            if version == 0:
                with self._tx():
                    for statement in SCHEMA:
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            else:
                self._check_version(version)
        except sqlite3.Error as e:
            raise JournalError(f"cannot use the journal {self.path}: {e}") from e

    def _check_version(self, version: Any) -> None:
        if version != SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.path} has schema version {version}; this leobatch reads "
                f"version {SCHEMA_VERSION} (written by a different leobatch version?)"
            )

    @property
    def read_only(self) -> bool:
        """True for a journal opened with :meth:`open_readonly`."""
        return self._lock is None

    def close(self) -> None:
        """Close the connection and release the lock (idempotent)."""
        self._conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit (rolled back on error)."""
        if self._lock is None:
            raise JournalError(f"the journal {self.path} was opened read-only")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise JournalError(f"cannot write the journal {self.path}: {e}") from e
        try:
            yield self._conn
        except sqlite3.Error as e:
            self._conn.execute("ROLLBACK")
            raise JournalError(f"cannot write the journal {self.path}: {e}") from e
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._conn.execute("ROLLBACK")
            raise JournalError(f"cannot write the journal {self.path}: {e}") from e

    def _clean(self, text: str) -> str:
        """``text``, unless it contains the API key: that is refused, never journaled."""
        secret = os.environ.get(API_KEY_ENV, "")
        if len(secret) >= 8 and secret in text:
            raise JournalError(f"refusing to journal a value that contains {API_KEY_ENV}")
        return text

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise JournalError(f"cannot read the journal {self.path}: {e}") from e

    def _expect(self, key: str, allowed: tuple[Status, ...], action: str) -> tuple[Status, int]:
        """The job's status and attempt, or :class:`JournalError` if ``action`` is illegal now."""
        row = self._conn.execute(
            "SELECT status, attempt FROM jobs WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise JournalError(f"cannot {action} job {key[:12]}: it is not in the journal")
        status, attempt = cast("tuple[Status, int]", tuple(row))
        if status not in allowed:
            want = " or ".join(allowed)
            raise JournalError(f"cannot {action} job {key[:12]}: it is {status} (must be {want})")
        return status, attempt

    # -- writes -------------------------------------------------------------------------------

    def ensure_jobs(self, jobs: Iterable[Job], credits: Mapping[str, int | None]) -> int:
        """Journal unknown jobs as *planned* and refresh estimates; returns how many were new."""
        now = self._clock()
        rows = [(j.key, j.stage, j.kind, j.model, credits.get(j.key), now) for j in jobs]
        with self._tx() as conn:
            before = self._scalar("SELECT count(*) FROM jobs")
            conn.executemany(
                "INSERT INTO jobs (key, stage, kind, model, credits_estimated, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "credits_estimated = excluded.credits_estimated",
                rows,
            )
            after = self._scalar("SELECT count(*) FROM jobs")
        return int(after) - int(before)

    def mark_submitting(self, key: str, request: Mapping[str, Any]) -> int:
        """Journal a new attempt *before* its create POST; returns the attempt number (1, 2, ...).

        ``request`` is the wire body about to be sent (never headers, never the key). Only a
        *planned* job may start an attempt: this is what makes a double submission impossible.
        """
        now = self._clock()
        body = self._clean(json.dumps(request, sort_keys=True, separators=(",", ":")))
        with self._tx() as conn:
            _, attempt = self._expect(key, ("planned",), "submit")
            attempt += 1
            conn.execute(
                "INSERT INTO attempts (job_key, attempt, status, started_at) "
                "VALUES (?, ?, 'submitting', ?)",
                (key, attempt, now),
            )
            conn.execute(
                "UPDATE jobs SET status = 'submitting', attempt = ?, request_json = ?, "
                "remote_id = NULL, error = NULL, started_at = ?, submitted_at = NULL, "
                "completed_at = NULL, updated_at = ? WHERE key = ?",
                (attempt, body, now, now, key),
            )
        return attempt

    def mark_submitted(self, key: str, remote_id: str | None, credits_charged: int | None) -> None:
        """The create call returned (or the job was found remotely): journal its id and charge."""
        now = self._clock()
        self._move(
            key,
            ("submitting",),
            "mark submitted",
            now,
            attempt=(
                "status = 'submitted', remote_id = ?, credits_charged = ?",
                (remote_id, credits_charged),
            ),
            job=("status = 'submitted', remote_id = ?, submitted_at = ?", (remote_id, now)),
        )

    def record_charge(self, key: str, credits_charged: int) -> None:
        """Settle the current attempt's charge once known (an adopted job's, for instance)."""
        allowed: tuple[Status, ...] = ("submitted", "complete", "failed")
        self._move(
            key,
            allowed,
            "record a charge of",
            self._clock(),
            attempt=("credits_charged = ?", (credits_charged,)),
            job=None,
        )

    def mark_absent(self, key: str) -> None:
        """A *submitting* attempt was proven never created remotely: the job may be resubmitted."""
        now = self._clock()
        self._move(
            key,
            ("submitting",),
            "mark absent",
            now,
            attempt=("status = 'absent', ended_at = ?", (now,)),
            job=("status = 'planned'", ()),
        )

    def mark_complete(self, key: str) -> None:
        """The API reported the submitted job done (its outputs go to :meth:`record_output`)."""
        now = self._clock()
        self._move(
            key,
            ("submitted",),
            "mark complete",
            now,
            attempt=("status = 'complete', ended_at = ?", (now,)),
            job=("status = 'complete', error = NULL, completed_at = ?", (now,)),
        )

    def mark_failed(self, key: str, error: str, *, final: bool, refunded: bool = False) -> None:
        """The attempt failed (remote FAILED, or the request was refused).

        ``final=False`` puts the job back to *planned* for a retry; ``final=True`` makes it
        *failed*. ``refunded=True`` records that the API gave the attempt's charge back: it stays
        in the attempt's history but no longer counts in the job's ``credits_charged``.
        """
        now = self._clock()
        error = self._clean(error)
        self._move(
            key,
            ("submitting", "submitted"),
            "mark failed",
            now,
            attempt=(
                "status = 'failed', error = ?, ended_at = ?, refunded = ?",
                (error, now, int(refunded)),
            ),
            job=(
                "status = ?, error = ?, failures = failures + 1, completed_at = ?",
                ("failed" if final else "planned", error, now if final else None),
            ),
        )

    def mark_lost(self, key: str, why: str) -> None:
        """The server no longer has the job (a generation deleted remotely, or an embedded
        emulator that did not outlive its run): back to *planned*, its outputs forgotten, so
        that it is rendered again. Not counted as a failure: nothing went wrong with the job."""
        now = self._clock()
        why = self._clean(why)
        with self._tx() as conn:
            _, number = self._expect(key, ("submitted", "complete"), "mark lost")
            conn.execute(
                "UPDATE attempts SET status = 'lost', error = ?, ended_at = ? "
                "WHERE job_key = ? AND attempt = ?",
                (why, now, key, number),
            )
            conn.execute("DELETE FROM outputs WHERE job_key = ?", (key,))
            conn.execute(
                "UPDATE jobs SET status = 'planned', remote_id = NULL, error = ?, "
                f"completed_at = NULL, updated_at = ?, credits_charged = {_CHARGED} WHERE key = ?",
                (why, now, key, key),
            )

    def reopen(self, key: str) -> None:
        """Give a *failed* job a new chance (a later run retrying it): back to *planned*."""
        self._move(
            key,
            ("failed",),
            "reopen",
            self._clock(),
            attempt=None,
            job=("status = 'planned', failures = 0, completed_at = NULL", ()),
        )

    def _move(
        self,
        key: str,
        allowed: tuple[Status, ...],
        action: str,
        now: float,
        *,
        attempt: tuple[str, tuple[Any, ...]] | None,
        job: tuple[str, tuple[Any, ...]] | None,
    ) -> None:
        """One transition, one transaction: refuse it unless the job's status is in ``allowed``,
        then apply ``attempt`` to its current attempt and ``job`` to its row (each a SET clause
        and its values). The job's ``updated_at`` and ``credits_charged`` follow."""
        with self._tx() as conn:
            _, number = self._expect(key, allowed, action)
            if attempt is not None:
                conn.execute(
                    f"UPDATE attempts SET {attempt[0]} WHERE job_key = ? AND attempt = ?",
                    (*attempt[1], key, number),
                )
            sets, values = job if job is not None else ("", ())
            conn.execute(
                f"UPDATE jobs SET {sets}{', ' if sets else ''}updated_at = ?, "
                f"credits_charged = {_CHARGED} WHERE key = ?",
                (*values, now, key, key),
            )

    def record_output(
        self,
        key: str,
        index: int,
        *,
        remote_id: str | None,
        url: str | None,
        path: str,
        media_type: str | None,
        nsfw: bool = False,
    ) -> None:
        """Journal output ``index`` of a job (its remote id, CDN url and destination path).

        Recording it again with the same remote id keeps its download; a different remote id (a
        resubmitted job) forgets the old download.
        """
        with self._tx() as conn:
            self._expect(key, STATUSES, "record an output of")
            conn.execute(
                "INSERT INTO outputs (job_key, idx, remote_id, url, path, media_type, nsfw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_key, idx) DO UPDATE SET "
                "sha256 = CASE WHEN remote_id IS excluded.remote_id THEN sha256 END, "
                "bytes = CASE WHEN remote_id IS excluded.remote_id THEN bytes END, "
                "downloaded_at = CASE WHEN remote_id IS excluded.remote_id THEN downloaded_at END, "
                "remote_id = excluded.remote_id, url = excluded.url, path = excluded.path, "
                "media_type = CASE WHEN remote_id IS excluded.remote_id AND sha256 IS NOT NULL "
                "THEN media_type ELSE excluded.media_type END, nsfw = excluded.nsfw",
                (key, index, remote_id, url, path, media_type, int(nsfw)),
            )

    def record_download(
        self, key: str, index: int, *, sha256: str, size: int, media_type: str | None = None
    ) -> None:
        """Output ``index`` of a job is in place and verified: ``sha256`` of its ``size`` bytes.

        ``media_type``, when given (the type the verification found), replaces the recorded one.
        """
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE outputs SET sha256 = ?, bytes = ?, downloaded_at = ?, "
                "media_type = coalesce(?, media_type) WHERE job_key = ? AND idx = ?",
                (sha256, size, self._clock(), media_type, key, index),
            )
            if cursor.rowcount != 1:
                raise JournalError(f"job {key[:12]} has no recorded output {index}")

    def record_upload(self, sha256: str, init_image_id: str, extension: str | None) -> None:
        """A local file (by content hash) was uploaded as init image ``init_image_id``."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO uploads (sha256, init_image_id, extension, uploaded_at) "
                "VALUES (?, ?, ?, ?)",
                (sha256, init_image_id, extension, self._clock()),
            )

    def record_text(self, key: str, text: str) -> None:
        """The text an improve-prompt job returned."""
        with self._tx() as conn:
            self._expect(key, STATUSES, "record the text of")
            conn.execute(
                "INSERT OR REPLACE INTO texts (job_key, text) VALUES (?, ?)",
                (key, self._clean(text)),
            )

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Record run facts (recipe name/path/sha256, account user id, plan hash). Never the key."""
        rows = [(name, self._clean(value)) for name, value in values.items()]
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows)

    # -- reads --------------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return self._scalar("SELECT 1 FROM jobs WHERE key = ?", (key,)) is not None

    def job(self, key: str) -> JobState:
        """The journaled state of one job (:class:`JournalError` if it is not journaled)."""
        rows = self._query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE key = ?", (key,))
        if not rows:
            raise JournalError(f"job {key[:12]} is not in the journal")
        return _job(rows[0])

    def jobs(self) -> tuple[JobState, ...]:
        """Every journaled job, in the order they were first journaled."""
        return tuple(map(_job, self._query(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY rowid")))

    def in_state(self, *statuses: Status) -> tuple[JobState, ...]:
        """The jobs whose status is one of ``statuses``, in journal order."""
        marks = ", ".join("?" * len(statuses))
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN ({marks}) ORDER BY rowid"
        return tuple(map(_job, self._query(sql, tuple(statuses))))

    @property
    def seq(self) -> int:
        """The latest change number: pass it to :meth:`changed_since` next time."""
        return int(self._scalar("SELECT coalesce(max(seq), 0) FROM jobs"))

    def changed_since(self, seq: int) -> tuple[JobState, ...]:
        """Jobs whose state or outputs changed after change number ``seq`` (0: every changed job).

        Jobs journaled but never touched since (still *planned*, no outputs) are not included.
        """
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE seq > ? ORDER BY seq"
        return tuple(map(_job, self._query(sql, (seq,))))

    def outputs_changed_since(self, seq: int) -> dict[str, tuple[OutputState, ...]]:
        """The outputs of the jobs :meth:`changed_since` returns, grouped by job key."""
        return self._grouped_outputs(
            "WHERE job_key IN (SELECT key FROM jobs WHERE seq > ?)", (seq,)
        )

    def remote_ids(self) -> frozenset[str]:
        """Every remote id any attempt of any job ever had (none may be adopted twice)."""
        rows = self._query(
            "SELECT remote_id FROM attempts WHERE remote_id IS NOT NULL "
            "UNION SELECT remote_id FROM jobs WHERE remote_id IS NOT NULL"
        )
        return frozenset(r[0] for r in rows)

    def find_remote(self, remote_id: str) -> JobState | None:
        """The job whose current attempt has ``remote_id`` (a generation or variation id)."""
        rows = self._query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE remote_id = ?", (remote_id,))
        return _job(rows[0]) if rows else None

    def attempts(self, key: str) -> tuple[AttemptState, ...]:
        """Every submission attempt of a job, oldest first."""
        sql = f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE job_key = ? ORDER BY attempt"
        return tuple(map(_attempt, self._query(sql, (key,))))

    def outputs(self, key: str) -> tuple[OutputState, ...]:
        """The recorded outputs of a job, by index."""
        sql = f"SELECT {_OUTPUT_COLUMNS} FROM outputs WHERE job_key = ? ORDER BY idx"
        return tuple(map(_output, self._query(sql, (key,))))

    def all_outputs(self) -> dict[str, tuple[OutputState, ...]]:
        """Every recorded output, grouped by job key (one query: for the manifest)."""
        return self._grouped_outputs("", ())

    def _grouped_outputs(
        self, where: str, params: tuple[Any, ...]
    ) -> dict[str, tuple[OutputState, ...]]:
        grouped: dict[str, list[OutputState]] = {}
        sql = f"SELECT {_OUTPUT_COLUMNS} FROM outputs {where} ORDER BY job_key, idx"
        for row in self._query(sql, params):
            grouped.setdefault(row[0], []).append(_output(row))
        return {key: tuple(outs) for key, outs in grouped.items()}

    def pending_downloads(self) -> tuple[OutputState, ...]:
        """Outputs recorded with a url but not yet downloaded and verified."""
        sql = (
            f"SELECT {_OUTPUT_COLUMNS} FROM outputs "
            "WHERE sha256 IS NULL AND url IS NOT NULL ORDER BY job_key, idx"
        )
        return tuple(map(_output, self._query(sql)))

    def upload_for(self, sha256: str) -> str | None:
        """The init-image id a file with this content hash was uploaded as, if any."""
        return cast(
            "str | None",
            self._scalar("SELECT init_image_id FROM uploads WHERE sha256 = ?", (sha256,)),
        )

    def text(self, key: str) -> str | None:
        """The text an improve-prompt job returned, if journaled."""
        return cast("str | None", self._scalar("SELECT text FROM texts WHERE job_key = ?", (key,)))

    def meta(self) -> dict[str, str]:
        """Every recorded run fact."""
        return dict(self._query("SELECT key, value FROM meta ORDER BY key"))

    def summary(self) -> Summary:
        """Counts per status, outputs downloaded, credits estimated vs charged per stage/model."""
        statuses: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for status, n in self._query("SELECT status, count(*) FROM jobs GROUP BY status"):
            statuses[status] = n
        outputs, downloaded = self._query("SELECT count(*), count(sha256) FROM outputs")[0]
        groups = tuple(
            GroupSummary(stage, model, jobs, complete, failed, est or 0, unknown, charged or 0)
            for stage, model, jobs, complete, failed, est, unknown, charged in self._query(
                "SELECT stage, model, count(*), sum(status = 'complete'), sum(status = 'failed'), "
                "sum(credits_estimated), count(*) - count(credits_estimated), "
                "sum(credits_charged) FROM jobs GROUP BY stage, model ORDER BY min(rowid)"
            )
        )
        return Summary(
            statuses=statuses,
            outputs=outputs,
            downloaded=downloaded,
            credits_estimated=sum(g.credits_estimated for g in groups),
            unknown_estimates=sum(g.unknown_estimates for g in groups),
            credits_charged=sum(g.credits_charged for g in groups),
            groups=groups,
            last_update=self._scalar("SELECT max(updated_at) FROM jobs"),
        )
