"""The account database: where it lives, that it is shared, and what names an account."""

from __future__ import annotations

from pathlib import Path

import pytest

from leobatch import account_store


def test_data_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``LEOBATCH_DATA_DIR`` moves the file; connect creates the directory and the file."""
    monkeypatch.setenv("LEOBATCH_DATA_DIR", str(tmp_path / "deep" / "dir"))
    assert account_store.default_path() == tmp_path / "deep" / "dir" / "account.sqlite"
    conn = account_store.connect()
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert (tmp_path / "deep" / "dir" / "account.sqlite").is_file()


def test_tables_of_two_parts_share_one_file(tmp_path: Path) -> None:
    """Two connections, each adding its own table, see each other's rows."""
    path = tmp_path / "account.sqlite"
    a, b = account_store.connect(path), account_store.connect(path)
    try:
        a.execute("CREATE TABLE IF NOT EXISTS one (x INTEGER)")
        b.execute("CREATE TABLE IF NOT EXISTS two (y INTEGER)")
        a.execute("INSERT INTO two VALUES (7)")
        assert b.execute("SELECT y FROM two").fetchall() == [(7,)]
    finally:
        a.close()
        b.close()


def test_fingerprint_names_the_account_not_the_key() -> None:
    """Same account, same name; another user or API, another; emulator ports do not matter."""
    real = account_store.account_fingerprint("https://cloud.leonardo.ai/api/rest/v1", "u1")
    assert real == account_store.account_fingerprint("https://cloud.leonardo.ai/api/rest/v1/", "u1")
    assert real != account_store.account_fingerprint("https://cloud.leonardo.ai/api/rest/v1", "u2")
    emu1 = account_store.account_fingerprint("http://127.0.0.1:4001/api/rest/v1", "u1")
    emu2 = account_store.account_fingerprint("http://127.0.0.1:5002/api/rest/v1", "u1")
    assert emu1 == emu2 != real
    assert len(real) == 32 and "u1" not in real
