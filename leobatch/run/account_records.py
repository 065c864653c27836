"""What runs remember per account, beside the price book in ``account.sqlite`` (issue #12).

Two tables, each created on first use (:mod:`leobatch.account_store` lets every part add its own):

- ``shared_uploads``: one row per (account, sha256 of a local file): the init-image id it was
  uploaded as. Any recipe of the account reuses it instead of uploading the same file again; the
  run checks first that the API still knows the id (``GET /init-image/{id}``), and uploads afresh
  when it does not (deleted by ``clean``, or another emulator).
- ``journals``: every output directory a run of the account journaled into, with its recipe, so
  ``history`` can say which recipe, stage and job made a generation, and ``clean`` which other
  recipes still use an upload.

Accounts are named by :func:`leobatch.account_store.account_fingerprint`, never by the key. The
store is a convenience: if it cannot be opened or written (a read-only home, a locked file), a
run goes on as before (each recipe's journal still prevents its own double uploads).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from leobatch import account_store

__all__ = [
    "JournalEntry",
    "forget_upload",
    "journals",
    "register_journal",
    "shared_upload",
    "store_upload",
]

log = logging.getLogger(__name__)

_TABLES = (
    """CREATE TABLE IF NOT EXISTS shared_uploads (
        account TEXT NOT NULL, sha256 TEXT NOT NULL, init_image_id TEXT NOT NULL,
        extension TEXT, uploaded_at REAL NOT NULL, PRIMARY KEY (account, sha256))""",
    """CREATE TABLE IF NOT EXISTS journals (
        account TEXT NOT NULL, output_dir TEXT NOT NULL, recipe_name TEXT,
        recipe_path TEXT, last_run_at REAL NOT NULL, PRIMARY KEY (account, output_dir))""",
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A run journal of the account on this machine: where, and for which recipe."""

    output_dir: Path
    recipe_name: str | None
    recipe_path: str | None
    last_run_at: float


@contextmanager
def _store() -> Iterator[sqlite3.Connection | None]:
    """The account database with this module's tables, or ``None`` when it cannot be opened."""
    try:
        conn = account_store.connect()
    except (OSError, sqlite3.Error) as e:
        log.warning("the account database cannot be opened (%s): shared records skipped", e)
        yield None
        return
    with closing(conn):
        try:
            for statement in _TABLES:
                conn.execute(statement)
        except sqlite3.Error as e:
            log.warning("the account database cannot be written (%s): shared records skipped", e)
            yield None
            return
        yield conn


def _run(sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
    """One statement (its own transaction); no rows when the store is unusable."""
    with _store() as conn:
        if conn is None:
            return []
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            log.warning("the account database refused a statement (%s)", e)
            return []


def shared_upload(account: str, sha256: str) -> str | None:
    """The init-image id a file with this content was uploaded as on ``account``, if recorded."""
    rows = _run(
        "SELECT init_image_id FROM shared_uploads WHERE account = ? AND sha256 = ?",
        (account, sha256),
    )
    return str(rows[0][0]) if rows else None


def store_upload(account: str, sha256: str, init_image_id: str, extension: str | None) -> None:
    """Record (or replace) the account's upload of the file with this content."""
    _run(
        "INSERT OR REPLACE INTO shared_uploads "
        "(account, sha256, init_image_id, extension, uploaded_at) VALUES (?, ?, ?, ?, ?)",
        (account, sha256, init_image_id, extension, time.time()),
    )


def forget_upload(account: str, init_image_id: str) -> None:
    """Drop the record of an upload that was deleted from the account."""
    _run(
        "DELETE FROM shared_uploads WHERE account = ? AND init_image_id = ?",
        (account, init_image_id),
    )


def register_journal(
    account: str, output_dir: Path, recipe_name: str | None, recipe_path: str | None
) -> None:
    """Remember that a run of ``account`` journals into ``output_dir`` (absolute)."""
    _run(
        "INSERT OR REPLACE INTO journals "
        "(account, output_dir, recipe_name, recipe_path, last_run_at) VALUES (?, ?, ?, ?, ?)",
        (account, str(Path(output_dir).resolve()), recipe_name, recipe_path, time.time()),
    )


def journals(account: str) -> tuple[JournalEntry, ...]:
    """The account's registered journals that still exist, most recently run first."""
    from leobatch.run.journal import Journal

    rows = _run(
        "SELECT output_dir, recipe_name, recipe_path, last_run_at FROM journals "
        "WHERE account = ? ORDER BY last_run_at DESC",
        (account,),
    )
    found = []
    for output_dir, name, path, at in rows:
        directory = Path(str(output_dir))
        if Journal.exists(directory):
            found.append(
                JournalEntry(
                    directory,
                    None if name is None else str(name),
                    None if path is None else str(path),
                    float(at),  # type: ignore[arg-type]
                )
            )
    return tuple(found)
