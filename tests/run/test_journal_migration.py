"""Journals of schema versions 1 (before served_sha256), 2 (before costs in their unit) and 3
(before each job's account) keep working: read as they are, upgraded by the next run."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from leobatch.errors import JournalError
from leobatch.plan.jobs import Job
from leobatch.pricing.money import Cost
from leobatch.run.journal import Journal
from leobatch.run.journal_records import DB_NAME, SCHEMA, STATE_DIR

KEY = "a" * 64
#: What versions 3 (costs in their unit) and 4 (each job's account) added to the schema.
_V3_COLUMNS = (
    ", account TEXT",
    ",\n        usd_estimated_micros INTEGER, usd_charged_micros INTEGER",
    "\n        cost_amount TEXT, cost_unit TEXT, usd_micros INTEGER,",
)


def _v2_schema(statement: str) -> str:
    for added in _V3_COLUMNS:
        statement = statement.replace(added, "")
    return statement


def _v1_journal(output_dir: Path, version: int = 1) -> Path:
    """A journal as leobatch wrote it at schema ``version`` (1 or 2): one complete job, one
    output."""
    state = output_dir / STATE_DIR
    state.mkdir(parents=True)
    path = state / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in SCHEMA:
        statement = _v2_schema(statement)
        assert "usd" not in statement and "cost_unit" not in statement
        conn.execute(statement if version == 2 else statement.replace(" served_sha256 TEXT,", ""))
    if version == 1:
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
    if version == 2:
        conn.execute(
            "INSERT INTO attempts (job_key, attempt, status, started_at, credits_charged) "
            "VALUES (?, 1, 'complete', 1.0, 24)",
            (KEY,),
        )
        conn.execute("UPDATE jobs SET credits_charged = 24, attempt = 1 WHERE key = ?", (KEY,))
    conn.execute(f"PRAGMA user_version={version}")
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
    assert _version(path) == 4
    with Journal.open_readonly(tmp_path) as journal:
        assert journal.outputs(KEY)[0].served_sha256 == "3" * 64


def test_a_newer_journal_is_still_refused(tmp_path: Path) -> None:
    """Only versions this leobatch knows how to upgrade are read."""
    path = _v1_journal(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=5")
    conn.close()
    with pytest.raises(JournalError, match="has schema version 5; this leobatch reads version 4"):
        Journal.open(tmp_path)


def test_a_download_recorded_without_a_served_hash_was_written_as_served(tmp_path: Path) -> None:
    """record_download's served_sha256 defaults to sha256 (a file written as served)."""
    _v1_journal(tmp_path)
    with Journal.open(tmp_path) as journal:
        journal.record_download(KEY, 0, sha256="4" * 64, size=5)
        assert journal.outputs(KEY)[0].served_sha256 == "4" * 64


def test_a_version_2_journal_is_read_as_it_is_and_upgraded_with_its_charges_in_credits(
    tmp_path: Path,
) -> None:
    """Read-only, a v2 journal shows its credits and no dollars; a run upgrades it (v2 -> v3),
    its old charges become CREDITS costs, and a dollar charge then counts apart."""
    path = _v1_journal(tmp_path, version=2)
    with Journal.open_readonly(tmp_path) as journal:
        state = journal.job(KEY)
        assert (state.credits_charged, state.usd_charged) == (24, None)
        assert journal.summary().credits_charged == 24
        assert journal.attempts(KEY)[0].cost_unit is None
    assert _version(path) == 2
    with Journal.open(tmp_path) as journal:
        (attempt,) = journal.attempts(KEY)
        assert (attempt.cost_amount, attempt.cost_unit) == ("24", "CREDITS")
        other = Job(key="b" * 64, stage="hero", kind="nobg", endpoint="/v2/generations", body={})
        journal.ensure_jobs([other], {}, {other.key: Decimal("0.1047")})
        journal.mark_submitting(other.key, {"model": "remove-bg"})
        journal.mark_submitted(other.key, "gen-b", None, Cost.usd("0.1047"))
        summary = journal.summary()
    assert _version(path) == 4
    assert (summary.credits_charged, summary.usd_charged) == (24, Decimal("0.1047"))
    assert (summary.usd_estimated, summary.unknown_estimates) == (Decimal("0.1047"), 1)
    with Journal.open_readonly(tmp_path) as journal:
        state = journal.job("b" * 64)
        assert (state.credits_charged, state.usd_charged) == (None, Decimal("0.1047"))
        assert journal.attempts("b" * 64)[0].cost_amount == "0.1047"


def test_a_version_3_journal_is_read_with_no_accounts_and_a_run_records_them(
    tmp_path: Path,
) -> None:
    """A v3 journal (costs in their unit, no account column) reads with no job's account; a
    run upgrades it to v4, keeps its charges, and records the account of every job it sends."""
    path = _v1_journal(tmp_path, version=2)
    with Journal.open(tmp_path):  # v2 -> current, then back to a v3 shape
        pass
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE jobs DROP COLUMN account")
    conn.execute("PRAGMA user_version=3")
    conn.close()
    with Journal.open_readonly(tmp_path) as journal:
        assert (journal.job(KEY).account, journal.job(KEY).credits_charged) == (None, 24)
    with Journal.open(tmp_path) as journal:
        other = Job(key="c" * 64, stage="hero", kind="image", endpoint="/generations", body={})
        journal.ensure_jobs([other], {other.key: 8}, {})
        journal.mark_submitting(other.key, {"prompt": "x"}, "f" * 32)
        journal.mark_absent(other.key)
        journal.mark_submitting(other.key, {"prompt": "x"})  # an account kept when not given
        assert journal.job(other.key).account == "f" * 32
        assert journal.job(KEY).account is None
    assert _version(path) == 4
