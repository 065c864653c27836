"""The price book: what this account was actually charged, per price class, in its unit.

Leonardo publishes prices for few of its models (the pricing calculator knows none of the v2
ones), so leobatch learns them: every charge a create reports is recorded here, in the
account database (``leobatch.account_store``), under the account's fingerprint (never the API
key) and the job's price class (``leobatch.pricing.classes``). ``plan`` prices a job from the
book when nothing more trusted knows its price, with a label such as ``learned from 3 charges,
last 2026-11-30``.

A class's learned price is the *highest* charge recorded for it: the book serves budgets, and
a budget must hold. Each charge is kept (one row per job attempt, so recording a charge twice,
after a crash for instance, does not count it twice).

Charges are written in batches: :meth:`PriceBook.record` keeps the row, :meth:`PriceBook.flush`
(which a run calls with its journal's flush) and :meth:`PriceBook.close` write every kept row
in one transaction. A killed run loses at most its last batch of lessons, never a charge: the
journal holds those.
"""

from __future__ import annotations

import datetime
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from leobatch import account_store
from leobatch.pricing.money import CREDITS, DOLLARS, Cost, Unit, from_micros, to_micros

__all__ = ["Learned", "PriceBook"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS price_book (
        account TEXT NOT NULL, price_class TEXT NOT NULL, unit TEXT NOT NULL,
        amount_micros INTEGER NOT NULL, job TEXT NOT NULL, charged_at REAL NOT NULL,
        PRIMARY KEY (account, price_class, job))""",
    "CREATE INDEX IF NOT EXISTS price_book_class ON price_book (price_class)",
)


@dataclass(frozen=True, slots=True)
class Learned:
    """A class's learned price: the highest of ``charges`` charges, the last on ``last``."""

    cost: Cost
    charges: int
    last: datetime.date

    @property
    def label(self) -> str:
        """``learned from 3 charges, last 2026-11-30``."""
        plural = "charge" if self.charges == 1 else "charges"
        return f"learned from {self.charges} {plural}, last {self.last.isoformat()}"


class PriceBook:
    """The ``price_book`` table of the account database (a connection per instance)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._conn = account_store.connect(path)
        self._kept: list[tuple[str, str, str, int, str, float]] = []
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self, *, write: bool = True) -> None:
        """Write the rows kept (unless ``write`` is false: they are dropped), then close the
        connection (closed even if the write fails)."""
        try:
            if write:
                self.flush()
        finally:
            self._kept.clear()
            self._conn.close()

    def flush(self) -> None:
        """Write every row :meth:`record` kept, in one transaction (``sqlite3.Error`` if the
        database refuses them: they stay kept, for the next flush)."""
        if not self._kept:
            return
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO price_book (account, price_class, unit, amount_micros, job, "
                "charged_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, price_class, job) "
                "DO UPDATE SET unit = excluded.unit, amount_micros = excluded.amount_micros",
                self._kept,
            )
        self._kept.clear()

    def __enter__(self) -> PriceBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(
        self, account: str, price_class: str, cost: Cost, job: str, at: float | None = None
    ) -> None:
        """Record that ``job`` (a job key and attempt, say) of ``price_class`` cost ``cost``
        (kept until the next :meth:`flush`; :meth:`lookup` and :meth:`unit_of` see it)."""
        at = time.time() if at is None else at
        self._kept.append((account, price_class, cost.unit, to_micros(cost.amount), job, at))

    def lookup(
        self, classes: Iterable[str], *, account: str | None, unit: Unit | None = None
    ) -> Mapping[str, Learned]:
        """The learned price of each of ``classes`` that has one.

        ``account`` None (``plan --offline``: no account is known) uses every account's
        charges. With ``unit``, only charges in that unit count; without, a class charged in
        both units (two accounts) takes the unit of its latest charge.
        """
        wanted = set(classes)
        if not wanted:
            return {}
        self.flush()
        query = (
            "SELECT price_class, unit, max(amount_micros), count(*), max(charged_at) "
            "FROM price_book WHERE (? IS NULL OR account = ?) AND (? IS NULL OR unit = ?) "
            "GROUP BY price_class, unit"
        )
        best: dict[str, tuple[float, Learned]] = {}
        for price_class, row_unit, micros, count, last in self._conn.execute(
            query, (account, account, unit, unit)
        ):
            if price_class not in wanted or row_unit not in (CREDITS, DOLLARS):
                continue
            amount = from_micros(micros)
            if row_unit == CREDITS:
                amount = amount.to_integral_value()
            day = datetime.datetime.fromtimestamp(last, tz=datetime.timezone.utc).date()
            learned = Learned(Cost(amount, row_unit), count, day)
            if price_class not in best or last > best[price_class][0]:
                best[price_class] = (last, learned)
        return {k: v for k, (_, v) in best.items()}

    def unit_of(self, account: str) -> Unit | None:
        """The unit of the account's latest recorded charge (how it is billed), if any."""
        self.flush()
        row = self._conn.execute(
            "SELECT unit FROM price_book WHERE account = ? ORDER BY charged_at DESC LIMIT 1",
            (account,),
        ).fetchone()
        return row[0] if row is not None and row[0] in (CREDITS, DOLLARS) else None

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection (tests inspect the table with it)."""
        return self._conn
