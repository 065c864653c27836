"""The journal's file: made whole, checked when opened, and what SQLite's errors on it mean.

A journal is created under a temporary name with its schema, and only then renamed into place:
so ``state.sqlite`` always has its tables, and an empty or table-less one is damage, never a run
killed while it started. A journal is checked (``PRAGMA quick_check``: about 30 ms for 10,000
jobs) before anything writes to it. A damaged one is never repaired, rewritten or deleted: the
message says what is wrong and how to start over by hand.

Every ``sqlite3.Error`` leaves the journal as a :class:`JournalError` made by
:func:`journal_error`, which tells a full disk (SQLite's ``SQLITE_FULL``: what a write that
meets ``ENOSPC`` returns) and damage from other failures.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from leobatch.errors import JournalDamagedError, JournalError
from leobatch.run.journal_records import MIGRATIONS, SCHEMA, SCHEMA_VERSION

__all__ = [
    "check_journal",
    "connect_journal",
    "create_journal",
    "damaged",
    "journal_error",
    "migrate_journal",
]

# SQLite's primary result codes (``sqlite_errorcode`` holds the extended code; Python >= 3.11).
_IOERR, _CORRUPT, _FULL, _NOTADB = 10, 11, 13, 26
_SIDE_FILES = ("-journal", "-wal", "-shm")


def damaged(path: Path, what: str) -> JournalDamagedError:
    """The error for a journal that cannot be trusted: ``what`` is wrong with it."""
    state_dir = path.parent
    return JournalDamagedError(
        f"the journal {path} {what}. It is left untouched: to start over, move its folder "
        f"aside (mv {state_dir} {state_dir}.damaged); the next run then renders, and pays "
        "for, every job again"
    )


def journal_error(e: sqlite3.Error, path: Path, doing: str) -> JournalError:
    """What ``e``, raised while trying to ``doing`` (read, write...) the journal, means."""
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(e)
    if primary == _FULL or "database or disk is full" in text:
        return JournalError(
            f"cannot {doing} the journal {path}: the disk is full ({text}). Free some space and "
            "run again: every step journaled so far is kept, and the run resumes from it"
        )
    if primary in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
        if primary == _NOTADB or "not a database" in text:
            return damaged(path, "is not a SQLite database (damaged, or overwritten)")
        return damaged(path, f"is damaged ({text})")
    if primary == _IOERR or "disk I/O error" in text:
        return JournalError(
            f"cannot {doing} the journal {path}: {text} (the disk may be full, over its quota "
            "or failing). Every step journaled so far is kept: fix the disk and run again"
        )
    return JournalError(f"cannot {doing} the journal {path}: {text}")


def connect_journal(path: Path, mode: str) -> sqlite3.Connection:
    """A connection to the existing journal at ``path``, ``ro`` or ``rw`` (never creating it)."""
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as e:
        raise journal_error(e, path, "open") from e


def check_journal(conn: sqlite3.Connection, path: Path) -> int:
    """Refuse, before anything writes to it, a journal that is empty, not SQLite, damaged, or of
    a schema version this leobatch cannot read; returns its schema version (an older one is
    read as it is, and migrated by :func:`migrate_journal` when a run opens it)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise JournalError(f"cannot read the journal {path}: {e.strerror}") from e
    if size == 0:
        raise damaged(path, "is empty (0 bytes): it was damaged, or cut short")
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA quick_check(1)")]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
        ).fetchone()[0]
    except sqlite3.Error as e:
        raise journal_error(e, path, "open") from e
    if verdict != ["ok"]:
        raise damaged(path, f"is damaged (SQLite's check says: {verdict[0] if verdict else '?'})")
    if version == 0 or not tables:
        raise damaged(path, "has no leobatch tables (damaged, or not a leobatch journal)")
    if version != SCHEMA_VERSION and version not in MIGRATIONS:
        raise JournalError(
            f"the journal {path} has schema version {version}; this leobatch reads "
            f"version {SCHEMA_VERSION} (written by a different leobatch version?)"
        )
    return int(version)


def migrate_journal(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a journal of schema ``version`` up to :data:`SCHEMA_VERSION`, in one transaction
    (a crash leaves it at its old version, whole). The caller holds the directory's lock."""
    if version == SCHEMA_VERSION:
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as e:
        raise journal_error(e, path, "upgrade") from e


def create_journal(path: Path) -> None:
    """Make a new, empty journal at ``path`` (which must not exist), whole or not at all.

    The caller holds the directory's lock, so nobody else creates it meanwhile.
    """
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        # Its journal was moved or deleted without it: it may hold the only copy of committed
        # steps, and SQLite would replay it into a new journal of the same name.
        raise JournalError(
            f"{wal} is left from a journal that is no longer there: move it aside (with the "
            f"journal it belongs to, if you have it) and run again"
        )
    tmp = path.with_name(f".{path.name}.new")
    for leftover in (tmp, *(tmp.with_name(tmp.name + side) for side in _SIDE_FILES)):
        leftover.unlink(missing_ok=True)  # made by a run killed while it created the journal
    try:
        # Rollback-journal mode here (the opener switches to WAL): when this commit returns, the
        # schema is in the file itself, with no WAL beside it to lose in the rename.
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        finally:
            conn.close()
        tmp.replace(path)
    except sqlite3.Error as e:
        raise journal_error(e, path, "create") from e
    except OSError as e:
        raise JournalError(f"cannot create the journal {path}: {e.strerror}") from e
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + side) for side in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)
