"""The account-level database: what leobatch knows about an account across every recipe.

One SQLite file, ``account.sqlite``, in the user data dir (``platformdirs.user_data_dir
("leobatch")``, or ``$LEOBATCH_DATA_DIR`` when set: tests point it at a temporary directory). It
is shared by the parts of leobatch that remember things per account rather than per recipe: the
price book (``leobatch.pricing.book``: what each price class was charged) and the shared upload
records (issue #12). Each part creates its own tables with ``CREATE TABLE IF NOT EXISTS`` on
connect, so none of them has to know the others' schema, and an older file simply gains tables.

Accounts are keyed by :func:`account_fingerprint` (a hash of the API base URL and the account's
user id), never by the API key: the key is a secret and must never be written to disk.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DATA_DIR_ENV",
    "FILE_NAME",
    "account_fingerprint",
    "connect",
    "data_dir",
    "default_path",
]

#: The environment variable that moves the user data dir (tests set it to a tmp dir).
DATA_DIR_ENV = "LEOBATCH_DATA_DIR"
FILE_NAME = "account.sqlite"

#: Another process (a second run on the same account) may hold the write lock for a moment.
_BUSY_TIMEOUT_MS = 10_000


def data_dir() -> Path:
    """leobatch's user data dir: ``$LEOBATCH_DATA_DIR``, else platformdirs' for "leobatch"."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("leobatch"))


def default_path() -> Path:
    """Where ``account.sqlite`` lives (the file may not exist yet)."""
    return data_dir() / FILE_NAME


def connect(path: Path | str | None = None) -> sqlite3.Connection:
    """Open (creating it and its directory if needed) the account database.

    WAL mode, so readers never wait for a writer and two runs of one account can record at
    once; a busy database is waited for up to 10 s. ``isolation_level=None``: callers write
    with explicit ``BEGIN IMMEDIATE`` / ``with conn:`` blocks or single statements, each its own
    transaction. The caller closes the connection.
    """
    file = Path(path) if path is not None else default_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(file, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def account_fingerprint(base_url: str, user_id: str) -> str:
    """A stable, non-secret name for one account: sha256 of the API base URL and user id.

    The same user id on the real API and on an emulator are different accounts (their prices
    and uploads are not interchangeable), hence the base URL. A loopback URL's port is left
    out: ``--emulator`` starts its emulator on a new port each time, and it is the same
    (emulated) account. Never derived from the API key.
    """
    text = f"{_origin(base_url)}\n{user_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _origin(base_url: str) -> str:
    parts = urlsplit(base_url.rstrip("/"))
    host = parts.hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return f"{parts.scheme}://loopback{parts.path}"
    return base_url.rstrip("/")
