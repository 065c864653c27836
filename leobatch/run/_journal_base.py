"""The journal's connection handling, transition helper and every query (no writes)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from leobatch.errors import JournalError
from leobatch.pricing.money import from_micros
from leobatch.run._journal_file import journal_error
from leobatch.run.journal_records import (
    _ATTEMPT_COLUMNS,
    _CHARGED,
    _CHARGED_USD,
    _JOB_COLUMNS,
    _OUTPUT_COLUMNS,
    API_KEY_ENV,
    STATUSES,
    AttemptState,
    GroupSummary,
    JobState,
    NewOutput,
    OutputState,
    Status,
    Summary,
    _attempt,
    _job,
    _output,
)
from leobatch.run.lock import DirLock


class JournalBase:
    """Reads over an open journal connection; :class:`~leobatch.run.journal.Journal` adds the
    writes. Read-only journals (``Journal.open_readonly``) use only these."""

    _conn: sqlite3.Connection
    _clock: Callable[[], float]
    _lock: DirLock | None
    path: Path

    #: The outputs' columns as this journal's schema version has them (see journal_records).
    _output_columns = _OUTPUT_COLUMNS
    _job_columns = _JOB_COLUMNS
    _attempt_columns = _ATTEMPT_COLUMNS
    _usd_estimated = "usd_estimated_micros"
    _usd_charged = "usd_charged_micros"
    _grouping = False  # see Journal.grouped
    _group_depth = 0
    _open = False  # a write transaction is open (grouped writes not yet committed)

    @contextmanager
    def _tx(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write, atomic (rolled back alone on error) and committed on exit, unless the
        journal is grouping writes and the write is not ``durable``: then it is committed with
        the next durable write or :meth:`flush`, whichever comes first."""
        if self._lock is None:
            raise JournalError(f"the journal {self.path} was opened read-only")
        try:
            if not self._open:
                self._conn.execute("BEGIN IMMEDIATE")
                self._open = True
            self._conn.execute("SAVEPOINT write")
        except sqlite3.Error as e:
            self._undo(savepoint=False)
            raise self._error(e, "write") from e
        try:
            yield self._conn
            self._conn.execute("RELEASE write")
        except sqlite3.Error as e:
            self._undo()
            raise self._error(e, "write") from e
        except BaseException:
            self._undo()
            raise
        if durable or not self._grouping:
            self.flush()

    def _undo(self, *, savepoint: bool = True) -> None:
        """Take back the write that failed (and, unless grouping, its transaction).

        Never raises: the error being handled says why the write failed. On some errors (a full
        disk: ``SQLITE_FULL``) SQLite has already rolled the whole transaction back, grouped
        writes included (as a crash would have lost them); then there is nothing left to undo.
        """
        conn = self._conn
        try:
            if conn.in_transaction:
                if savepoint:
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                if not self._grouping:
                    conn.execute("ROLLBACK")
        except sqlite3.Error:
            with suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        self._open = conn.in_transaction

    def flush(self) -> None:
        """Commit the writes not committed yet (grouped ones); a no-op when there are none."""
        if not self._open:
            return
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as e:
            # A failed COMMIT may have rolled back already (a full disk does): roll back only
            # what is still open, so that this error, the real one, is the one raised.
            with suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            raise self._error(e, "write") from e
        finally:
            self._open = self._conn.in_transaction

    def _error(self, e: sqlite3.Error, doing: str) -> JournalError:
        """``e`` as the :class:`JournalError` it means for this journal."""
        return journal_error(e, self.path, doing)

    def _clean(self, text: str) -> str:
        """``text``, unless it contains the API key: that is refused, never journaled."""
        secret = os.environ.get(API_KEY_ENV, "")
        if len(secret) >= 8 and secret in text:
            raise JournalError(f"refusing to journal a value that contains {API_KEY_ENV}")
        return text

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self._query(sql, params)
        return rows[0][0] if rows else None

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._error(e, "read") from e

    def _expect(self, key: str, allowed: tuple[Status, ...], action: str) -> tuple[Status, int]:
        """The job's status and attempt, or :class:`JournalError` if ``action`` is illegal now."""
        rows = self._query("SELECT status, attempt FROM jobs WHERE key = ?", (key,))
        if not rows:
            raise JournalError(f"cannot {action} job {key[:12]}: it is not in the journal")
        status, attempt = cast("tuple[Status, int]", rows[0])
        if status not in allowed:
            want = " or ".join(allowed)
            raise JournalError(f"cannot {action} job {key[:12]}: it is {status} (must be {want})")
        return status, attempt

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
            self._apply(conn, key, allowed, action, now, attempt=attempt, job=job)

    def _apply(
        self,
        conn: sqlite3.Connection,
        key: str,
        allowed: tuple[Status, ...],
        action: str,
        now: float,
        *,
        attempt: tuple[str, tuple[Any, ...]] | None,
        job: tuple[str, tuple[Any, ...]] | None,
    ) -> None:
        """:meth:`_move` inside the caller's transaction."""
        _, number = self._expect(key, allowed, action)
        if attempt is not None:
            conn.execute(
                f"UPDATE attempts SET {attempt[0]} WHERE job_key = ? AND attempt = ?",
                (*attempt[1], key, number),
            )
        sets, values = job if job is not None else ("", ())
        conn.execute(
            f"UPDATE jobs SET {sets}{', ' if sets else ''}updated_at = ?, "
            f"credits_charged = {_CHARGED}, usd_charged_micros = {_CHARGED_USD} WHERE key = ?",
            (*values, now, key, key, key),
        )

    @staticmethod
    def _put_output(conn: sqlite3.Connection, key: str, o: NewOutput) -> None:
        """Insert or update one output row (the caller holds the transaction)."""
        conn.execute(
            "INSERT INTO outputs (job_key, idx, remote_id, url, path, media_type, nsfw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_key, idx) DO UPDATE SET "
            "sha256 = CASE WHEN remote_id IS excluded.remote_id THEN sha256 END, "
            "bytes = CASE WHEN remote_id IS excluded.remote_id THEN bytes END, "
            "served_sha256 = CASE WHEN remote_id IS excluded.remote_id THEN served_sha256 END, "
            "downloaded_at = CASE WHEN remote_id IS excluded.remote_id THEN downloaded_at END, "
            "remote_id = excluded.remote_id, url = excluded.url, path = excluded.path, "
            "media_type = CASE WHEN remote_id IS excluded.remote_id AND sha256 IS NOT NULL "
            "THEN media_type ELSE excluded.media_type END, nsfw = excluded.nsfw",
            (key, o.index, o.remote_id, o.url, o.path, o.media_type, int(o.nsfw)),
        )

    def __contains__(self, key: object) -> bool:
        return self._scalar("SELECT 1 FROM jobs WHERE key = ?", (key,)) is not None

    def job(self, key: str) -> JobState:
        """The journaled state of one job (:class:`JournalError` if it is not journaled)."""
        rows = self._query(f"SELECT {self._job_columns} FROM jobs WHERE key = ?", (key,))
        if not rows:
            raise JournalError(f"job {key[:12]} is not in the journal")
        return _job(rows[0])

    def attempt_of(self, key: str) -> int:
        """The number of the job's current attempt (:class:`JournalError` if not journaled)."""
        attempt = self._scalar("SELECT attempt FROM jobs WHERE key = ?", (key,))
        if attempt is None:
            raise JournalError(f"job {key[:12]} is not in the journal")
        return int(attempt)

    def jobs(self) -> tuple[JobState, ...]:
        """Every journaled job, in the order they were first journaled."""
        return tuple(map(_job, self._query(f"SELECT {self._job_columns} FROM jobs ORDER BY rowid")))

    def in_state(self, *statuses: Status) -> tuple[JobState, ...]:
        """The jobs whose status is one of ``statuses``, in journal order."""
        marks = ", ".join("?" * len(statuses))
        sql = f"SELECT {self._job_columns} FROM jobs WHERE status IN ({marks}) ORDER BY rowid"
        return tuple(map(_job, self._query(sql, tuple(statuses))))

    @property
    def seq(self) -> int:
        """The latest change number: pass it to :meth:`changed_since` next time."""
        return int(self._scalar("SELECT coalesce(max(seq), 0) FROM jobs"))

    def changed_since(self, seq: int) -> tuple[JobState, ...]:
        """Jobs whose state or outputs changed after change number ``seq`` (0: every changed job).

        Jobs journaled but never touched since (still *planned*, no outputs) are not included.
        """
        sql = f"SELECT {self._job_columns} FROM jobs WHERE seq > ? ORDER BY seq"
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
        rows = self._query(
            f"SELECT {self._job_columns} FROM jobs WHERE remote_id = ?", (remote_id,)
        )
        return _job(rows[0]) if rows else None

    def attempts(self, key: str) -> tuple[AttemptState, ...]:
        """Every submission attempt of a job, oldest first."""
        sql = f"SELECT {self._attempt_columns} FROM attempts WHERE job_key = ? ORDER BY attempt"
        return tuple(map(_attempt, self._query(sql, (key,))))

    def output_at(self, key: str, index: int, url: str) -> bool:
        """Whether ``key`` is complete and its output ``index`` is (still) the one at ``url``."""
        return (
            self._scalar(
                "SELECT 1 FROM outputs JOIN jobs ON jobs.key = outputs.job_key "
                "WHERE job_key = ? AND idx = ? AND url = ? AND jobs.status = 'complete'",
                (key, index, url),
            )
            is not None
        )

    def outputs(self, key: str) -> tuple[OutputState, ...]:
        """The recorded outputs of a job, by index."""
        sql = f"SELECT {self._output_columns} FROM outputs WHERE job_key = ? ORDER BY idx"
        return tuple(map(_output, self._query(sql, (key,))))

    def all_outputs(self) -> dict[str, tuple[OutputState, ...]]:
        """Every recorded output, grouped by job key (one query: for the manifest)."""
        return self._grouped_outputs("", ())

    def _grouped_outputs(
        self, where: str, params: tuple[Any, ...]
    ) -> dict[str, tuple[OutputState, ...]]:
        grouped: dict[str, list[OutputState]] = {}
        sql = f"SELECT {self._output_columns} FROM outputs {where} ORDER BY job_key, idx"
        for row in self._query(sql, params):
            grouped.setdefault(row[0], []).append(_output(row))
        return {key: tuple(outs) for key, outs in grouped.items()}

    def pending_downloads(self) -> tuple[OutputState, ...]:
        """Outputs recorded with a url but not yet downloaded and verified."""
        sql = (
            f"SELECT {self._output_columns} FROM outputs "
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
            GroupSummary(
                stage,
                model,
                jobs,
                complete,
                failed,
                est or 0,
                unknown,
                charged or 0,
                from_micros(usd_est or 0),
                from_micros(usd_charged or 0),
            )
            for (
                stage,
                model,
                jobs,
                complete,
                failed,
                est,
                unknown,
                charged,
                usd_est,
                usd_charged,
            ) in self._query(
                "SELECT stage, model, count(*), sum(status = 'complete'), sum(status = 'failed'), "
                "sum(credits_estimated), "
                f"count(*) - count(coalesce(credits_estimated, {self._usd_estimated})), "
                f"sum(credits_charged), sum({self._usd_estimated}), sum({self._usd_charged}) "
                "FROM jobs GROUP BY stage, model ORDER BY min(rowid)"
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
            usd_estimated=sum((g.usd_estimated for g in groups), Decimal(0)),
            usd_charged=sum((g.usd_charged for g in groups), Decimal(0)),
        )
