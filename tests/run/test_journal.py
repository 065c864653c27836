"""The run journal: state machine, durability, the output-directory lock, read-only readers."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leobatch.errors import JournalError, LockedError
from leobatch.plan.jobs import Job
from leobatch.run.journal import Journal, NewOutput

REPO = Path(__file__).resolve().parents[2]


def make_job(n: int, *, stage: str = "hero", model: str | None = "phoenix-1.0") -> Job:
    """A rendered image job with a distinct key."""
    return Job(
        key=f"{n:064x}",
        stage=stage,
        kind="image",
        endpoint="/generations",
        body={"prompt": f"mug {n}", "seed": n},
        model=model,
        outputs=1,
        paths=(f"{stage}/{n}-0.png",),
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A writer journal with three planned jobs (estimates 10, 20, unknown)."""
    with Journal.open(tmp_path / "out") as j:
        jobs = [make_job(1), make_job(2), make_job(3, stage="clean", model=None)]
        j.ensure_jobs(jobs, {jobs[0].key: 10, jobs[1].key: 20, jobs[2].key: None})
        yield j


K1, K2, K3 = make_job(1).key, make_job(2).key, make_job(3).key


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python child running ``code`` with leobatch importable; it prints 'ready'."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_open_creates_state_dir_in_wal_mode(tmp_path: Path) -> None:
    """Opening creates .leobatch/state.sqlite in WAL mode with the schema version set."""
    with Journal.open(tmp_path / "a" / "b"):
        pass
    db = tmp_path / "a" / "b" / ".leobatch" / "state.sqlite"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    finally:
        conn.close()


def test_ensure_jobs_adds_only_new_keys_and_refreshes_estimates(journal: Journal) -> None:
    """ensure_jobs is idempotent: known keys keep their state, estimates follow the new price."""
    journal.mark_submitting(K1, {"prompt": "mug 1"})
    added = journal.ensure_jobs([make_job(1), make_job(4)], {K1: 12})
    assert added == 1
    assert journal.job(K1).status == "submitting"
    assert journal.job(K1).credits_estimated == 12
    assert journal.job(make_job(4).key).status == "planned"
    assert len(journal.jobs()) == 4


def test_happy_path_journals_each_transition(journal: Journal) -> None:
    """planned -> submitting -> submitted -> complete, with request, remote id and charge."""
    assert journal.mark_submitting(K1, {"prompt": "mug 1", "seed": 1}) == 1
    state = journal.job(K1)
    assert (state.status, state.attempt, state.request) == (
        "submitting",
        1,
        {"prompt": "mug 1", "seed": 1},
    )
    journal.mark_submitted(K1, "gen-1", 24)
    assert journal.find_remote("gen-1") == journal.job(K1)
    journal.mark_complete(K1)
    state = journal.job(K1)
    assert (state.status, state.remote_id, state.credits_charged) == ("complete", "gen-1", 24)
    assert state.submitted_at is not None and state.completed_at is not None
    assert [(a.attempt, a.status, a.remote_id) for a in journal.attempts(K1)] == [
        (1, "complete", "gen-1")
    ]


@pytest.mark.parametrize(
    ("prepare", "action", "message"),
    [
        (
            (),
            lambda j: j.mark_complete(K1),
            "cannot mark complete job 000000000000: it is planned",
        ),
        ((), lambda j: j.mark_submitted(K1, "g", 1), "it is planned (must be submitting)"),
        (("submit",), lambda j: j.mark_submitting(K1, {}), "cannot submit job"),
        (("submit", "done"), lambda j: j.mark_absent(K1), "it is submitted (must be submitting)"),
        (("submit", "done", "complete"), lambda j: j.reopen(K1), "it is complete (must be failed)"),
        (("submit", "done", "complete"), lambda j: j.mark_failed(K1, "x", final=True), "complete"),
        ((), lambda j: j.mark_submitting("f" * 64, {}), "it is not in the journal"),
    ],
)
def test_illegal_transitions_are_refused(
    journal: Journal,
    prepare: tuple[str, ...],
    action: Callable[[Journal], object],
    message: str,
) -> None:
    """Every move outside the state machine raises JournalError and changes nothing."""
    steps: dict[str, Callable[[], object]] = {
        "submit": lambda: journal.mark_submitting(K1, {"prompt": "mug 1"}),
        "done": lambda: journal.mark_submitted(K1, "gen-1", 5),
        "complete": lambda: journal.mark_complete(K1),
    }
    for step in prepare:
        steps[step]()
    before = journal.jobs()
    with pytest.raises(JournalError, match=re.escape(message)):
        action(journal)
    assert journal.jobs() == before


def test_failed_attempt_is_retried_with_history_and_summed_charges(journal: Journal) -> None:
    """A non-final failure returns the job to planned; the retry is attempt 2; charges add up."""
    journal.mark_submitting(K1, {"prompt": "mug 1"})
    journal.mark_submitted(K1, "gen-a", 10)
    journal.mark_failed(K1, "generation FAILED", final=False)
    state = journal.job(K1)
    assert (state.status, state.failures, state.error) == ("planned", 1, "generation FAILED")
    assert journal.mark_submitting(K1, {"prompt": "mug 1"}) == 2
    assert journal.job(K1).error is None
    journal.mark_submitted(K1, "gen-b", 10)
    journal.mark_complete(K1)
    assert journal.job(K1).credits_charged == 20
    assert journal.find_remote("gen-a") is None
    assert [(a.attempt, a.status, a.remote_id, a.error) for a in journal.attempts(K1)] == [
        (1, "failed", "gen-a", "generation FAILED"),
        (2, "complete", "gen-b", None),
    ]


def test_refunded_failure_no_longer_counts_as_charged(journal: Journal) -> None:
    """A refunded FAILED attempt keeps its charge in history but not in the job's total."""
    journal.mark_submitting(K1, {})
    journal.mark_submitted(K1, "gen-a", 10)
    journal.mark_failed(K1, "generation FAILED", final=False, refunded=True)
    assert journal.job(K1).credits_charged is None
    journal.mark_submitting(K1, {})
    journal.mark_submitted(K1, "gen-b", None)
    journal.record_charge(K1, 12)
    assert journal.job(K1).credits_charged == 12
    assert [(a.credits_charged, a.refunded) for a in journal.attempts(K1)] == [
        (10, True),
        (12, False),
    ]
    assert journal.remote_ids() == {"gen-a", "gen-b"}


def test_absent_attempt_may_be_resubmitted(journal: Journal) -> None:
    """A submitting attempt proven absent frees the job without counting a failure."""
    journal.mark_submitting(K2, {"prompt": "mug 2"})
    journal.mark_absent(K2)
    state = journal.job(K2)
    assert (state.status, state.failures, state.attempt) == ("planned", 0, 1)
    assert journal.mark_submitting(K2, {"prompt": "mug 2"}) == 2
    assert [a.status for a in journal.attempts(K2)] == ["absent", "submitting"]


def test_final_failure_is_terminal_until_reopened(journal: Journal) -> None:
    """final=True makes the job failed; only reopen makes it planned again."""
    journal.mark_submitting(K2, {"prompt": "mug 2"})
    journal.mark_failed(K2, "Unexpected variable foo", final=True)
    assert journal.job(K2).status == "failed"
    assert journal.in_state("failed") == (journal.job(K2),)
    with pytest.raises(JournalError):
        journal.mark_submitting(K2, {})
    journal.reopen(K2)
    assert (journal.job(K2).status, journal.job(K2).failures) == ("planned", 0)


def test_complete_with_outputs_is_one_step(journal: Journal) -> None:
    """mark_complete records the outputs with the status; refused, it records neither."""
    first = NewOutput(0, "img-1", "http://cdn/1.png", "hero/1-0.png", "image/png")
    with pytest.raises(JournalError, match="must be submitted"):
        journal.mark_complete(K1, [first])
    assert journal.outputs(K1) == ()
    journal.mark_submitting(K1, {})
    journal.mark_submitted(K1, "gen-1", 5)
    journal.mark_complete(K1, [first])
    assert journal.job(K1).status == "complete"
    assert [(o.index, o.url, o.path) for o in journal.outputs(K1)] == [
        (0, "http://cdn/1.png", "hero/1-0.png")
    ]
    assert journal.output_at(K1, 0, "http://cdn/1.png")
    assert not journal.output_at(K1, 0, "http://cdn/other.png")
    assert not journal.output_at(K1, 1, "http://cdn/1.png")
    journal.mark_lost(K1, "deleted remotely")
    assert not journal.output_at(K1, 0, "http://cdn/1.png")


def test_outputs_and_downloads(journal: Journal) -> None:
    """Outputs are recorded, then downloaded; a new remote id forgets the old download."""
    journal.mark_submitting(K1, {})
    journal.mark_submitted(K1, "gen-1", 5)
    journal.mark_complete(K1)
    journal.record_output(
        K1,
        0,
        remote_id="img-1",
        url="http://cdn/1.png",
        path="hero/1-0.png",
        media_type="image/png",
    )
    assert [o.index for o in journal.pending_downloads()] == [0]
    journal.record_download(K1, 0, sha256="ab" * 32, size=123, media_type="image/jpeg")
    assert journal.pending_downloads() == ()
    journal.record_output(
        K1,
        0,
        remote_id="img-1",
        url="http://cdn/1.png",
        path="hero/1-0.png",
        media_type="image/png",
    )
    (out,) = journal.outputs(K1)
    assert (out.downloaded, out.sha256, out.bytes, out.media_type) == (
        True,
        "ab" * 32,
        123,
        "image/jpeg",
    )
    journal.record_output(
        K1,
        0,
        remote_id="img-2",
        url="http://cdn/2.png",
        path="hero/1-0.png",
        media_type="image/png",
    )
    assert journal.outputs(K1)[0].sha256 is None
    assert journal.all_outputs() == {K1: journal.outputs(K1)}
    with pytest.raises(JournalError, match="no recorded output 3"):
        journal.record_download(K1, 3, sha256="00", size=1)


def test_changed_since_follows_every_visible_change(journal: Journal) -> None:
    """Transitions, outputs and downloads each move a job past the last change number."""
    assert (journal.seq, journal.changed_since(0)) == (0, ())
    journal.mark_submitting(K1, {})
    first = journal.seq
    assert [s.key for s in journal.changed_since(0)] == [K1]
    journal.mark_submitting(K2, {})
    assert [s.key for s in journal.changed_since(first)] == [K2]
    mark = journal.seq
    journal.mark_submitted(K1, "gen-1", 3)
    journal.mark_complete(K1)
    journal.record_output(K1, 0, remote_id="i", url="u", path="p", media_type="image/png")
    assert [s.key for s in journal.changed_since(mark)] == [K1]
    mark = journal.seq
    journal.record_download(K1, 0, sha256="00", size=2)
    assert [s.key for s in journal.changed_since(mark)] == [K1]
    assert journal.outputs_changed_since(mark) == {K1: journal.outputs(K1)}
    assert journal.changed_since(journal.seq) == ()


def test_uploads_texts_and_meta(journal: Journal) -> None:
    """Uploads map a content hash to its init-image id; texts and run facts round-trip."""
    assert journal.upload_for("cd" * 32) is None
    journal.record_upload("cd" * 32, "init-1", "png")
    assert journal.upload_for("cd" * 32) == "init-1"
    journal.record_text(K3, "a better prompt")
    assert journal.text(K3) == "a better prompt"
    assert journal.text(K1) is None
    journal.set_meta({"recipe.name": "mug", "user_id": "u-1"})
    assert journal.meta() == {"recipe.name": "mug", "user_id": "u-1"}


def test_the_api_key_is_never_journaled(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request, error, text or run fact containing the API key is refused, nothing written."""
    key = "9f3c2a10-aaaa-bbbb-cccc-0123456789ab"
    monkeypatch.setenv("LEONARDO_API_KEY", key)
    with pytest.raises(JournalError, match=r"refusing to journal .* LEONARDO_API_KEY"):
        journal.mark_submitting(K1, {"prompt": f"Bearer {key}"})
    assert journal.job(K1).status == "planned"
    with pytest.raises(JournalError, match="refusing"):
        journal.set_meta({"user_id": key})
    with pytest.raises(JournalError, match="refusing"):
        journal.record_text(K3, key)
    journal.mark_submitting(K1, {"prompt": "mug"})
    with pytest.raises(JournalError, match="refusing"):
        journal.mark_failed(K1, f"401 for {key}", final=True)
    for path in journal.path.parent.iterdir():
        assert key.encode() not in path.read_bytes()


def test_summary_counts_statuses_and_credits_per_stage_and_model(journal: Journal) -> None:
    """The summary counts jobs per status and credits estimated vs charged per group."""
    journal.mark_submitting(K1, {})
    journal.mark_submitted(K1, "gen-1", 11)
    journal.mark_complete(K1)
    journal.record_output(K1, 0, remote_id="i", url="u", path="p", media_type="image/png")
    summary = journal.summary()
    assert summary.statuses == {
        "planned": 2,
        "submitting": 0,
        "submitted": 0,
        "complete": 1,
        "failed": 0,
    }
    assert (summary.jobs, summary.outputs, summary.downloaded) == (3, 1, 0)
    assert (summary.credits_estimated, summary.unknown_estimates, summary.credits_charged) == (
        30,
        1,
        11,
    )
    assert [
        (g.stage, g.model, g.jobs, g.complete, g.credits_estimated) for g in summary.groups
    ] == [
        ("hero", "phoenix-1.0", 2, 1, 30),
        ("clean", None, 1, 0, 0),
    ]


def test_reader_sees_committed_writes_while_a_run_holds_the_lock(journal: Journal) -> None:
    """A read-only journal opens without the lock, sees each commit, and refuses writes."""
    reader = Journal.open_readonly(journal.path.parent.parent)
    try:
        assert reader.read_only
        journal.mark_submitting(K1, {"prompt": "mug 1"})
        assert reader.job(K1).status == "submitting"
        with pytest.raises(JournalError, match="read-only"):
            reader.mark_absent(K1)
    finally:
        reader.close()


def test_reader_works_after_the_run_closed(tmp_path: Path) -> None:
    """Once the writer is gone (WAL files checkpointed away) a reader still opens the journal."""
    with Journal.open(tmp_path) as j:
        j.ensure_jobs([make_job(1)], {})
    with Journal.open_readonly(tmp_path) as reader:
        assert [s.key for s in reader.jobs()] == [K1]


def test_reader_without_journal_says_nothing_has_run(tmp_path: Path) -> None:
    """Opening a missing journal read-only fails with a clear message."""
    assert not Journal.exists(tmp_path)
    with pytest.raises(JournalError, match="nothing has run yet"):
        Journal.open_readonly(tmp_path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A journal with an unknown schema version is refused, not misread."""
    Journal.open(tmp_path).close()
    conn = sqlite3.connect(Journal.db_path(tmp_path))
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(JournalError, match="schema version 99"):
        Journal.open(tmp_path)


def test_second_writer_in_same_process_is_locked_out(journal: Journal) -> None:
    """A second writer on the same directory fails fast naming this process."""
    with pytest.raises(LockedError, match=rf"another leobatch run \(pid {os.getpid()} on "):
        Journal.open(journal.path.parent.parent)


def test_lock_names_the_holding_process_and_dies_with_it(tmp_path: Path) -> None:
    """A run held by another process is refused with its pid; killing it frees the lock."""
    child = spawn(
        """
        import sys, time
        from pathlib import Path
        from leobatch.run.journal import Journal
        j = Journal.open(Path(sys.argv[1]))
        print("ready", flush=True)
        time.sleep(60)
        """,
        str(tmp_path),
    )
    with child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(LockedError) as caught:
            Journal.open(tmp_path)
        assert f"pid {child.pid} on " in str(caught.value)
        assert str(tmp_path) in str(caught.value)
        holder = Journal.running(tmp_path)
        assert holder is not None and holder.pid == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert Journal.running(tmp_path) is None  # its pid is gone, though the file still names it
    with Journal.open(tmp_path) as j:
        assert j.jobs() == ()


def _state_after_sigkill(tmp_path: Path, steps: str) -> tuple[object, ...]:
    """Run ``steps`` (using ``j`` and ``job``) in a child that then SIGKILLs itself; the job's
    journaled (status, attempt, remote id, request) afterwards."""
    child = spawn(
        """
        import os, signal, sys
        from pathlib import Path
        from leobatch.plan.jobs import Job
        from leobatch.run.journal import Journal
        j = Journal.open(Path(sys.argv[1]))
        job = Job(key="k" * 64, stage="hero", kind="image", endpoint="/generations", body={})
        j.ensure_jobs([job], {job.key: 7})
        exec(sys.argv[2])
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        str(tmp_path),
        textwrap.dedent(steps),
    )
    with child:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with Journal.open(tmp_path) as j:
        state = j.job("k" * 64)
        return (state.status, state.attempt, state.remote_id, state.request)


def test_transition_survives_sigkill_right_after_it_returns(tmp_path: Path) -> None:
    """A process SIGKILLed right after mark_submitting returned leaves the row journaled."""
    steps = 'j.mark_submitting(job.key, {"prompt": "survive"})'
    assert _state_after_sigkill(tmp_path, steps) == ("submitting", 1, None, {"prompt": "survive"})


def test_grouped_writes_commit_with_the_next_submitting_or_a_flush(journal: Journal) -> None:
    """Grouped, only *submitting* commits at once (taking earlier writes along); a refused
    write is undone alone; flush and the end of the group commit the rest."""
    reader = Journal.open_readonly(journal.path.parent.parent)
    try:
        with journal.grouped():
            journal.mark_submitting(K1, {})
            assert reader.job(K1).status == "submitting"
            journal.mark_submitted(K1, "gen-1", 5)
            with pytest.raises(JournalError, match="must be planned"):
                journal.mark_submitting(K1, {})  # refused: undone alone
            assert journal.job(K1).status == "submitted"  # the writer sees its own writes
            assert reader.job(K1).status == "submitting"  # others see them once committed
            journal.mark_submitting(K2, {})
            assert (reader.job(K1).status, reader.job(K2).status) == ("submitted", "submitting")
            journal.mark_submitted(K2, "gen-2", 5)
            journal.flush()
            assert reader.job(K2).status == "submitted"
            journal.mark_complete(K2)
        assert reader.job(K2).status == "complete"
    finally:
        reader.close()


def test_grouped_writes_lost_to_sigkill_leave_a_consistent_prefix(tmp_path: Path) -> None:
    """SIGKILL with grouped writes pending: the journal holds everything up to the last commit."""
    steps = """
        with j.grouped():
            j.mark_submitting(job.key, {"prompt": "kept"})
            j.mark_submitted(job.key, "gen-lost", 7)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    assert _state_after_sigkill(tmp_path, steps) == ("submitting", 1, None, {"prompt": "kept"})


def test_ensure_jobs_handles_ten_thousand_jobs_quickly(tmp_path: Path) -> None:
    """10,000 jobs are journaled in one transaction, well under a second."""
    jobs = [make_job(n) for n in range(10_000)]
    credits = {job.key: 5 for job in jobs}
    with Journal.open(tmp_path) as j:
        start = time.perf_counter()
        assert j.ensure_jobs(jobs, credits) == 10_000
        elapsed = time.perf_counter() - start
        again = time.perf_counter()
        assert j.ensure_jobs(jobs, credits) == 0
        repeat = time.perf_counter() - again
        assert j.summary().credits_estimated == 50_000
    print(f"ensure_jobs 10,000 new: {elapsed * 1000:.0f} ms; again: {repeat * 1000:.0f} ms")
    assert elapsed < 2.0


def test_journal_writes_per_job_are_cheap(tmp_path: Path) -> None:
    """The five writes a job's life takes (submit .. download) cost well under 5 ms together."""
    jobs = [make_job(n) for n in range(1000)]
    with Journal.open(tmp_path) as j:
        j.ensure_jobs(jobs, {})
        start = time.perf_counter()
        for job in jobs:
            j.mark_submitting(job.key, {"prompt": "mug", "seed": 1, "width": 1024})
            j.mark_submitted(job.key, f"gen-{job.key[-8:]}", 12)
            j.mark_complete(job.key)
            j.record_output(
                job.key, 0, remote_id="i", url="https://cdn/x.jpg", path="x.jpg", media_type=None
            )
            j.record_download(job.key, 0, sha256="0" * 64, size=100)
        per_job_ms = (time.perf_counter() - start) * 1000 / len(jobs)
        assert j.summary().downloaded == 1000
    # The figure is printed for people; the bound only catches a pathology (a full scan or a
    # sync per write), generous enough that a loaded machine cannot trip it.
    print(f"journal: {per_job_ms:.2f} ms per job for its 5 writes")
    assert per_job_ms < 50.0
