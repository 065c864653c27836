"""Journal.forget (for prune): a job's rows go in one transaction; a job in flight is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leobatch.errors import JournalError
from leobatch.run.journal import Journal, NewOutput
from tests.run.test_journal import K1, K2, K3, make_job


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """K1 complete with an output, an attempt and a text; K2 submitted; K3 planned."""
    with Journal.open(tmp_path / "out") as j:
        j.ensure_jobs([make_job(1), make_job(2), make_job(3)], {})
        j.mark_submitting(K1, {"prompt": "mug 1"})
        j.mark_submitted(K1, "gen-1", 5)
        j.mark_complete(K1, [NewOutput(0, "img-1", "http://cdn/1.png", "hero/1-0.png", None)])
        j.record_text(K1, "a text")
        j.mark_submitting(K2, {"prompt": "mug 2"})
        j.mark_submitted(K2, "gen-2", 5)
        yield j


def _rows(journal: Journal, table: str, key: str) -> int:
    column = "key" if table == "jobs" else "job_key"
    return int(journal._scalar(f"SELECT count(*) FROM {table} WHERE {column} = ?", (key,)))


def test_forget_deletes_every_row_of_the_jobs_and_nothing_else(journal: Journal) -> None:
    """jobs, attempts, outputs and texts rows of K1 and K3 go; K2's stay; unknown keys count 0."""
    assert journal.forget([K1, K3, "f" * 64]) == 2
    for table in ("jobs", "attempts", "outputs", "texts"):
        assert _rows(journal, table, K1) == 0
    assert K1 not in journal and K3 not in journal
    assert [s.key for s in journal.jobs()] == [K2]
    assert len(journal.attempts(K2)) == 1
    assert journal.forget([K1]) == 0  # again: nothing left, no error


def test_forget_refuses_a_job_in_flight_and_then_forgets_none(journal: Journal) -> None:
    """One submitted job among the keys: refused, and not even the others are forgotten."""
    refused = r"cannot forget job 0{12}: it is submitted \(in flight\)"
    with pytest.raises(JournalError, match=refused):
        journal.forget([K1, K2])
    assert K1 in journal and K2 in journal
    assert journal.outputs(K1) and journal.text(K1) == "a text"


def test_forget_needs_a_writer(journal: Journal) -> None:
    """A read-only journal refuses to forget."""
    with Journal.open_readonly(journal.output_dir) as reader, pytest.raises(JournalError):
        reader.forget([K1])
