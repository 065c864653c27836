"""Journals of schema version 1 (before served_sha256) keep working: read as they are, upgraded
by the next run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from leobatch.errors import JournalError
from leobatch.run.journal import Journal
from leobatch.run.journal_records import DB_NAME, SCHEMA, STATE_DIR

KEY = "a" * 64


def _v1_journal(output_dir: Path) -> Path:
    """A journal as leobatch wrote it at schema version 1: one complete job, one output."""
    state = output_dir / STATE_DIR
    state.mkdir(parents=True)
    path = state / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in SCHEMA:
        conn.execute(statement.replace(" served_sha256 TEXT,", ""))
    assert "served_sha256" not in conn.execute("SELECT sql FROM sqlite_master").fetchall()[0][0]
    conn.execute(
        "INSERT INTO jobs (key, stage, kind, status, updated_at) "
        "VALUES (?, 'hero', 'image', 'complete', 1.0)",
        (KEY,),
    )
    conn.execute(
        "INSERT INTO outputs (job_key, idx, remote_id, url, path, sha256, bytes, media_type) "
        "VALUES (?, 0, 'img-0', 'https://cdn.test/0.png', 'hero/a-0.png', ?, 10, 'image/png')",
        (KEY, "1" * 64),
    )
    conn.execute("PRAGMA user_version=1")
    conn.close()
    return path


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_version_1_journal_is_read_as_it_is(tmp_path: Path) -> None:
    """Read-only (status, plan's diff: no lock, so no upgrade): its files were written as
    served, so their served sha256 is their sha256."""
    path = _v1_journal(tmp_path)
    with Journal.open_readonly(tmp_path) as journal:
        (out,) = journal.outputs(KEY)
        assert (out.sha256, out.served_sha256) == ("1" * 64, "1" * 64)
        assert journal.all_outputs()[KEY] == (out,)
    assert _version(path) == 1


def test_a_run_upgrades_a_version_1_journal_and_keeps_its_outputs(tmp_path: Path) -> None:
    """The writer migrates v1 -> v2 (ALTER TABLE, one transaction) and new downloads record
    both hashes."""
    path = _v1_journal(tmp_path)
    with Journal.open(tmp_path) as journal:
        (out,) = journal.outputs(KEY)
        assert (out.sha256, out.served_sha256, out.bytes) == ("1" * 64, "1" * 64, 10)
        journal.record_download(KEY, 0, sha256="2" * 64, size=12, served_sha256="3" * 64)
        (out,) = journal.outputs(KEY)
        assert (out.sha256, out.served_sha256, out.bytes) == ("2" * 64, "3" * 64, 12)
    assert _version(path) == 2
    with Journal.open_readonly(tmp_path) as journal:
        assert journal.outputs(KEY)[0].served_sha256 == "3" * 64


def test_a_newer_journal_is_still_refused(tmp_path: Path) -> None:
    """Only versions this leobatch knows how to upgrade are read."""
    path = _v1_journal(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=3")
    conn.close()
    with pytest.raises(JournalError, match="has schema version 3; this leobatch reads version 2"):
        Journal.open(tmp_path)


def test_a_download_recorded_without_a_served_hash_was_written_as_served(tmp_path: Path) -> None:
    """record_download's served_sha256 defaults to sha256 (a file written as served)."""
    _v1_journal(tmp_path)
    with Journal.open(tmp_path) as journal:
        journal.record_download(KEY, 0, sha256="4" * 64, size=5)
        assert journal.outputs(KEY)[0].served_sha256 == "4" * 64
