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
