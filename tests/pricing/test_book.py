"""The price book: charges per account and price class, each in its unit, in a real SQLite."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

from leobatch.pricing.book import PriceBook
from leobatch.pricing.money import Cost

DAY = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.timezone.utc).timestamp()


def test_learned_price_is_the_highest_charge_with_count_and_date(tmp_path: Path) -> None:
    """Three charges of one class: the highest is the price, labelled with count and last day."""
    with PriceBook(tmp_path / "a.sqlite") as book:
        book.record("acct", "c1", Cost.credits(400), "j1:1", at=DAY - 86400)
        book.record("acct", "c1", Cost.credits(420), "j2:1", at=DAY - 3600)
        book.record("acct", "c1", Cost.credits(410), "j3:1", at=DAY)
        found = book.lookup(["c1", "c2"], account="acct")
    assert set(found) == {"c1"}
    assert found["c1"].cost == Cost.credits(420)
    assert found["c1"].label == "learned from 3 charges, last 2026-11-30"


def test_a_charge_recorded_twice_counts_once(tmp_path: Path) -> None:
    """The same job attempt recorded again (a resumed run) is one charge, not two."""
    with PriceBook(tmp_path / "a.sqlite") as book:
        book.record("acct", "c1", Cost.credits(50), "j1:1", at=DAY)
        book.record("acct", "c1", Cost.credits(50), "j1:1", at=DAY)
        assert book.lookup(["c1"], account="acct")["c1"].charges == 1


def test_accounts_and_units_are_kept_apart(tmp_path: Path) -> None:
    """Another account's charges are not this one's; dollars stay dollars, to the cent."""
    path = tmp_path / "a.sqlite"
    with PriceBook(path) as book:
        book.record("credits-acct", "c1", Cost.credits(70), "j1:1", at=DAY - 10)
        book.record("payg-acct", "c1", Cost.usd("0.1047"), "j2:1", at=DAY)
    with PriceBook(path) as book:  # a new connection: it was written to disk
        assert book.lookup(["c1"], account="credits-acct")["c1"].cost == Cost.credits(70)
        payg = book.lookup(["c1"], account="payg-acct")["c1"].cost
        assert payg == Cost.usd(Decimal("0.1047")) and str(payg) == "USD 0.1047"
        assert book.lookup(["c1"], account="nobody") == {}
        # offline (no account known): every account's, the latest unit wins unless one is asked
        assert book.lookup(["c1"], account=None)["c1"].cost.unit == "DOLLARS"
        assert book.lookup(["c1"], account=None, unit="CREDITS")["c1"].cost == Cost.credits(70)
        assert book.unit_of("payg-acct") == "DOLLARS"
        assert book.unit_of("credits-acct") == "CREDITS"
        assert book.unit_of("nobody") is None


def test_charges_are_written_in_one_batch_by_flush_and_by_close(tmp_path: Path) -> None:
    """``record`` keeps the row (this book sees it at once); another connection sees it only
    after ``flush`` (one transaction for the batch), and ``close`` writes what is left."""
    path = tmp_path / "a.sqlite"
    book = PriceBook(path)
    other = PriceBook(path)
    try:
        book.record("acct", "c1", Cost.credits(30), "j1:1", at=DAY)
        book.record("acct", "c1", Cost.credits(32), "j2:1", at=DAY)
        count = "SELECT count(*) FROM price_book"
        assert other.connection.execute(count).fetchone() == (0,)
        book.flush()
        assert other.connection.execute(count).fetchone() == (2,)
        book.record("acct", "c2", Cost.credits(7), "j3:1", at=DAY)
        assert book.lookup(["c2"], account="acct")["c2"].cost == Cost.credits(7)  # flushes
        book.record("acct", "c3", Cost.credits(9), "j4:1", at=DAY)
    finally:
        book.close()
    try:
        assert other.lookup(["c1", "c2", "c3"], account="acct").keys() == {"c1", "c2", "c3"}
    finally:
        other.close()


def test_a_batch_the_database_refuses_stays_kept(tmp_path: Path) -> None:
    """While another connection holds the write lock, ``flush`` raises and loses nothing: the
    next flush writes the batch."""
    import sqlite3

    from leobatch import account_store

    path = tmp_path / "a.sqlite"
    with PriceBook(path) as book:
        book.connection.execute("PRAGMA busy_timeout=50")
        book.record("acct", "c1", Cost.credits(30), "j1:1", at=DAY)
        holder = account_store.connect(path)
        try:
            holder.execute("PRAGMA busy_timeout=50")
            holder.execute("BEGIN IMMEDIATE")
            try:
                book.flush()
            except sqlite3.OperationalError as e:
                assert "locked" in str(e)
            else:
                raise AssertionError("flush wrote through another connection's write lock")
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        book.flush()
        assert book.connection.execute("SELECT count(*) FROM price_book").fetchone() == (1,)
