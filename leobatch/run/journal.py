"""The run journal: every job transition, output, download and upload, in SQLite, before acting.

One file per output directory, ``<output.dir>/.leobatch/state.sqlite``, in WAL mode with
``synchronous=NORMAL``: each call below is one short transaction, committed before it returns, so a
process killed at any instant (SIGKILL included) never loses a transition it was told about. Power
loss is out of scope. A writer (:meth:`Journal.open`) holds the directory's exclusive lock
(:mod:`leobatch.run.lock`); readers (:meth:`Journal.open_readonly`: ``status``, ``plan``'s diff)
take no lock and see committed state while a run writes. Both check the file first
(:mod:`leobatch.run._journal_file`): a damaged journal is refused, never rewritten.

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
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from leobatch.errors import JournalError
from leobatch.plan.jobs import Job
from leobatch.pricing.money import CREDITS, DOLLARS, Cost, to_micros
from leobatch.run._journal_base import JournalBase
from leobatch.run._journal_file import (
    check_journal,
    connect_journal,
    create_journal,
    migrate_journal,
)
from leobatch.run.journal_records import (
    _ATTEMPT_COLUMNS_V2,
    _CHARGED,
    _CHARGED_USD,
    _JOB_COLUMNS_V2,
    _JOB_COLUMNS_V3,
    _OUTPUT_COLUMNS_V1,
    DB_NAME,
    LOCK_NAME,
    STATE_DIR,
    STATUSES,
    AttemptState,
    GroupSummary,
    JobState,
    NewOutput,
    OutputState,
    Status,
    Summary,
)
from leobatch.run.lock import DirLock, LockHolder, running_holder

__all__ = [
    "AttemptState",
    "GroupSummary",
    "JobState",
    "Journal",
    "NewOutput",
    "OutputState",
    "Status",
    "Summary",
]


class Journal(JournalBase):
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
            if not path.exists():
                create_journal(path)
            # mode=rw: never create a file here (a journal is only ever made whole, above).
            conn = connect_journal(path, "rw")
        except BaseException:
            lock.release()
            raise
        journal = cls(conn, path, lock=lock, clock=clock)
        try:
            # Checked before anything writes to it: a damaged one stays as is.
            version = check_journal(conn, path)
            journal._set_pragmas()
            migrate_journal(conn, path, version)  # an older one is upgraded, whole or not at all
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
        journal = cls(connect_journal(path, "ro"), path, lock=None)
        try:
            # An older journal is read as it is (no lock to upgrade it with).
            version = check_journal(journal._conn, path)
            if version < 2:
                journal._output_columns = _OUTPUT_COLUMNS_V1
            if version < 4:
                journal._job_columns = _JOB_COLUMNS_V3
            if version < 3:
                journal._job_columns = _JOB_COLUMNS_V2
                journal._attempt_columns = _ATTEMPT_COLUMNS_V2
                journal._usd_estimated, journal._usd_charged = "NULL", "NULL"
        except BaseException:
            journal.close()
            raise
        return journal

    def _set_pragmas(self) -> None:
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as e:
            raise self._error(e, "open") from e

    @property
    def read_only(self) -> bool:
        """True for a journal opened with :meth:`open_readonly`."""
        return self._lock is None

    @contextmanager
    def grouped(self) -> Iterator[None]:
        """Within this block writes are committed in groups: each :meth:`mark_submitting` (which
        must be durable before its create is sent) commits every write before it, and the caller
        calls :meth:`flush` now and then. A crash loses at most the writes since the last commit:
        a suffix, never a gap, and nothing that cannot be learnt again (a lost *submitted* is
        reconciled, a lost completion polled again, a lost download fetched again).

        Blocks may nest (one engine per account shares the journal): writes stay grouped until
        the outermost one ends."""
        self._group_depth += 1
        self._grouping = True
        try:
            yield
        finally:
            self._group_depth -= 1
            if not self._group_depth:
                self._grouping = False
                self.flush()

    def close(self) -> None:
        """Close the connection and release the lock (idempotent); commits grouped writes."""
        try:
            self.flush()
        finally:
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

    def ensure_jobs(
        self,
        jobs: Iterable[Job],
        credits: Mapping[str, int | None],
        usd: Mapping[str, Decimal] | None = None,
    ) -> int:
        """Journal unknown jobs as *planned* and refresh estimates (in credits, or in dollars
        for the jobs in ``usd``); returns how many were new."""
        now = self._clock()
        usd = usd or {}
        rows = [
            (
                j.key,
                j.stage,
                j.kind,
                j.model,
                credits.get(j.key),
                None if (d := usd.get(j.key)) is None else to_micros(d),
                now,
            )
            for j in jobs
        ]
        with self._tx() as conn:
            before = self._scalar("SELECT count(*) FROM jobs")
            conn.executemany(
                "INSERT INTO jobs (key, stage, kind, model, credits_estimated, "
                "usd_estimated_micros, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "credits_estimated = excluded.credits_estimated, "
                "usd_estimated_micros = excluded.usd_estimated_micros",
                rows,
            )
            after = self._scalar("SELECT count(*) FROM jobs")
        return int(after) - int(before)

    def mark_submitting(
        self, key: str, request: Mapping[str, Any], account: str | None = None
    ) -> int:
        """Journal a new attempt *before* its create POST; returns the attempt number (1, 2, ...).

        ``request`` is the wire body about to be sent (never headers, never the key); ``account``
        the fingerprint of the account it goes to (kept when ``None``). Only a *planned* job may
        start an attempt: this is what makes a double submission impossible.
        """
        now = self._clock()
        body = self._clean(json.dumps(request, sort_keys=True, separators=(",", ":")))
        with self._tx(durable=True) as conn:
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
                "completed_at = NULL, updated_at = ?, account = coalesce(?, account) "
                "WHERE key = ?",
                (attempt, body, now, now, account, key),
            )
        return attempt

    def mark_submitted(
        self,
        key: str,
        remote_id: str | None,
        credits_charged: int | None,
        cost: Cost | None = None,
    ) -> None:
        """The create call returned (or the job was found remotely): journal its id and charge.

        ``cost`` is the charge as reported, in its unit; without it, ``credits_charged``
        credits. A charge in dollars counts in ``usd_charged``, never in ``credits_charged``.
        """
        now = self._clock()
        if cost is None and credits_charged is not None:
            cost = Cost.credits(credits_charged)
        if cost is not None and cost.unit != CREDITS:
            credits_charged = None
        usd = to_micros(cost.amount) if cost is not None and cost.unit == DOLLARS else None
        amount = None if cost is None else str(cost.amount)
        self._move(
            key,
            ("submitting",),
            "mark submitted",
            now,
            attempt=(
                "status = 'submitted', remote_id = ?, credits_charged = ?, cost_amount = ?, "
                "cost_unit = ?, usd_micros = ?",
                (remote_id, credits_charged, amount, None if cost is None else cost.unit, usd),
            ),
            job=("status = 'submitted', remote_id = ?, submitted_at = ?", (remote_id, now)),
        )

    def record_charge(
        self, key: str, credits_charged: int | None, cost: Cost | None = None
    ) -> None:
        """Settle the current attempt's charge once known (an adopted job's, for instance).

        With ``cost`` (in its unit) the attempt's cost columns are set too, as by
        :meth:`mark_submitted`; a charge in dollars counts in ``usd_charged`` only.
        """
        allowed: tuple[Status, ...] = ("submitted", "complete", "failed")
        if cost is None:
            attempt: tuple[str, tuple[Any, ...]] = ("credits_charged = ?", (credits_charged,))
        else:
            if cost.unit != CREDITS:
                credits_charged = None
            usd = to_micros(cost.amount) if cost.unit == DOLLARS else None
            attempt = (
                "credits_charged = ?, cost_amount = ?, cost_unit = ?, usd_micros = ?",
                (credits_charged, str(cost.amount), cost.unit, usd),
            )
        self._move(key, allowed, "record a charge of", self._clock(), attempt=attempt, job=None)

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

    def mark_complete(self, key: str, outputs: Sequence[NewOutput] = ()) -> None:
        """The API reported the submitted job done, with ``outputs`` (one transaction)."""
        now = self._clock()
        with self._tx() as conn:
            self._apply(
                conn,
                key,
                ("submitted",),
                "mark complete",
                now,
                attempt=("status = 'complete', ended_at = ?", (now,)),
                job=("status = 'complete', error = NULL, completed_at = ?", (now,)),
            )
            for output in outputs:
                self._put_output(conn, key, output)

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
                f"completed_at = NULL, updated_at = ?, credits_charged = {_CHARGED}, "
                f"usd_charged_micros = {_CHARGED_USD} WHERE key = ?",
                (why, now, key, key, key),
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

    def forget(self, keys: Iterable[str]) -> int:
        """Delete jobs and everything journaled of them (attempts, outputs, texts), all in one
        transaction; returns how many were journaled. For ``prune``: refused, for all of them,
        if one is in flight (*submitting*/*submitted*), since its remote result may still come."""
        wanted = sorted(set(keys))
        with self._tx() as conn:
            for key in wanted:
                status = self._scalar("SELECT status FROM jobs WHERE key = ?", (key,))
                if status in ("submitting", "submitted"):
                    raise JournalError(f"cannot forget job {key[:12]}: it is {status} (in flight)")
            rows = [(key,) for key in wanted]
            for table in ("attempts", "outputs", "texts"):  # children first (foreign keys)
                conn.executemany(f"DELETE FROM {table} WHERE job_key = ?", rows)
            before = conn.total_changes
            conn.executemany("DELETE FROM jobs WHERE key = ?", rows)
            return conn.total_changes - before

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
        output = NewOutput(index, remote_id, url, path, media_type, nsfw)
        with self._tx() as conn:
            self._expect(key, STATUSES, "record an output of")
            self._put_output(conn, key, output)

    def record_download(
        self,
        key: str,
        index: int,
        *,
        sha256: str,
        size: int,
        media_type: str | None = None,
        served_sha256: str | None = None,
    ) -> None:
        """Output ``index`` of a job is in place and verified: ``sha256`` of its ``size`` bytes
        (the file as written), ``served_sha256`` of the bytes as served (default: ``sha256``).

        ``media_type``, when given (the type the verification found), replaces the recorded one.
        """
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE outputs SET sha256 = ?, bytes = ?, downloaded_at = ?, served_sha256 = ?, "
                "media_type = coalesce(?, media_type) WHERE job_key = ? AND idx = ?",
                (sha256, size, self._clock(), served_sha256 or sha256, media_type, key, index),
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
