"""A damaged journal, a full disk: clear errors, nothing journaled lost, no submission after.

A full disk is made two ways. ``PRAGMA max_page_count`` on the journal's own connection makes
SQLite answer ``SQLITE_FULL`` ("database or disk is full"): exactly what SQLite returns when a
write meets ``ENOSPC``, and it rolls the transaction back just as it then does; portable, and
deterministic. Where user namespaces allow it, a real, tiny tmpfs gives the kernel's own
``ENOSPC`` too, at COMMIT time (WAL frames are written then), and to the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from leobatch.api.client import LeonardoClient
from leobatch.errors import JournalDamagedError, JournalError
from leobatch.manifest import write_manifest
from leobatch.plan import expand_plan
from leobatch.plan.jobs import Job
from leobatch.pricing.calculator import price_online
from leobatch.pricing.priced import PricedPlan
from leobatch.recipe import load_recipe
from leobatch.run.engine import RunOptions, run_plan
from leobatch.run.events import Event
from leobatch.run.journal import Journal
from tests.cli.support import leobatch
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

REPO = Path(__file__).resolve().parents[2]


def make_job(n: int) -> Job:
    """An image job with a distinct key and a sizeable body (so rows fill pages)."""
    return Job(
        key=f"{n:064x}",
        stage="hero",
        kind="image",
        endpoint="/generations",
        body={"prompt": f"mug {n} " + "x" * 400},
        model="phoenix-1.0",
        outputs=1,
        paths=(f"hero/{n}-0.png",),
    )


def journaled(output_dir: Path, n: int = 40) -> list[Job]:
    """A closed journal in ``output_dir`` with ``n`` jobs, half of them submitted."""
    jobs = [make_job(i) for i in range(n)]
    with Journal.open(output_dir) as journal:
        journal.ensure_jobs(jobs, {})
        for job in jobs[: n // 2]:
            journal.mark_submitting(job.key, dict(job.body))
            journal.mark_submitted(job.key, f"gen-{job.key[:8]}", 7)
    return jobs


def damage(kind: str, db: Path) -> None:
    """Damage the journal file at ``db`` (its WAL checkpointed first, as a closed one is)."""
    data = db.read_bytes()
    assert len(data) > 16384 and not db.with_name(db.name + "-wal").exists()
    if kind == "empty":
        db.write_bytes(b"")
    elif kind == "random":
        db.write_bytes(os.urandom(len(data)))
    elif kind == "truncated":
        db.write_bytes(data[: len(data) // 2 + 100])
    elif kind == "truncated-at-a-page":
        db.write_bytes(data[:8192])
    elif kind == "no-tables":
        db.unlink()
        sqlite3.connect(db).execute("PRAGMA journal_mode=WAL").fetchall()


def where(db: Path, what: str) -> str:
    """The message for a damaged journal, as a user reads it."""
    return (
        f"the journal {db} {what}. It is left untouched: to start over, move its folder "
        f"aside (mv {db.parent} {db.parent}.damaged); the next run then renders, and pays "
        "for, every job again"
    )


DAMAGE = {
    "empty": "is empty (0 bytes): it was damaged, or cut short",
    "random": "is not a SQLite database (damaged, or overwritten)",
    "truncated": "is damaged (database disk image is malformed)",
    "truncated-at-a-page": "is damaged (database disk image is malformed)",
    "no-tables": "has no leobatch tables (damaged, or not a leobatch journal)",
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
@pytest.mark.parametrize("opener", ["open", "open_readonly"])
def test_a_damaged_journal_is_refused_at_open_and_left_as_it_was(
    tmp_path: Path, kind: str, opener: str
) -> None:
    """Empty, random, truncated or table-less: JournalDamagedError saying so; bytes untouched."""
    journaled(tmp_path)
    db = Journal.db_path(tmp_path)
    damage(kind, db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(JournalDamagedError) as raised:
        getattr(Journal, opener)(tmp_path)
    assert str(raised.value) == where(db, DAMAGE[kind])
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    if opener == "open":  # the lock is released: the next opener gets the same answer
        with pytest.raises(JournalDamagedError):
            Journal.open(tmp_path)


def test_a_run_killed_while_creating_its_journal_leaves_none(tmp_path: Path) -> None:
    """The journal is made under a temporary name, then renamed: a half-made one is not seen."""
    state = tmp_path / ".leobatch"
    state.mkdir()
    (state / ".state.sqlite.new").write_bytes(b"")  # what a kill right after connect leaves
    with Journal.open(tmp_path) as journal:
        journal.ensure_jobs([make_job(1)], {})
    assert sorted(p.name for p in state.iterdir()) == ["lock", "lock.holder", "state.sqlite"]
    with Journal.open_readonly(tmp_path) as journal:
        assert len(journal.jobs()) == 1


def test_a_wal_left_without_its_journal_is_not_replayed_into_a_new_one(tmp_path: Path) -> None:
    """A -wal whose journal was moved away holds committed steps: refused, never reused."""
    db = Journal.db_path(tmp_path)
    with Journal.open(tmp_path) as journal:
        journal.ensure_jobs([make_job(1)], {})
        # A reader keeps the WAL from being checkpointed away when the writer closes.
        holder = sqlite3.connect(db)
        holder.execute("BEGIN")
        holder.execute("SELECT count(*) FROM jobs").fetchall()
        journal.ensure_jobs([make_job(2)], {})
    wal = db.with_name("state.sqlite-wal")
    shutil.copy(wal, tmp_path / "kept-wal")
    holder.close()
    db.rename(tmp_path / "moved.sqlite")
    shutil.copy(tmp_path / "kept-wal", wal)
    with pytest.raises(JournalError) as raised:
        Journal.open(tmp_path)
    assert str(raised.value) == (
        f"{wal} is left from a journal that is no longer there: move it aside (with the "
        "journal it belongs to, if you have it) and run again"
    )
    assert not db.exists()


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
@pytest.mark.parametrize("command", ["status", "plan", "run"])
def test_the_cli_says_the_journal_is_damaged_in_one_line(
    tmp_path: Path, kind: str, command: str
) -> None:
    """run, plan and status on a damaged journal: one `error: ...` line, exit 1, no traceback."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out" / "mugs"
    journaled(out)
    db = Journal.db_path(out)
    damage(kind, db)
    args = {
        "status": ("status", str(recipe)),
        "plan": ("plan", str(recipe), "--offline"),
        "run": ("run", str(recipe), "--emulator", "--yes"),
    }[command]
    result = leobatch(*args)
    assert (result.returncode, result.stderr) == (1, f"error: {where(db, DAMAGE[kind])}\n")
    assert result.stdout == ""


RECIPE = """\
version: 1
name: mugs
output:
  dir: out/mugs
stages:
  shot:
    kind: image
    model: lightning-xl
    prompt: a ceramic coffee mug on a marble table
    params: {width: 512, height: 512, num_images: 1}
"""


def fill(journal: Journal) -> None:
    """From now on, no write that needs a new page fits: SQLite answers SQLITE_FULL."""
    conn = journal._conn  # the journal's own connection: the limit is per connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


FULL = "the disk is full (database or disk is full). Free some space and run again"


def test_a_full_disk_is_reported_as_such_and_the_committed_steps_stay(tmp_path: Path) -> None:
    """The real error, not "cannot rollback": the write is undone, earlier ones kept."""
    jobs = journaled(tmp_path)
    with Journal.open(tmp_path) as journal:
        journal.mark_submitting(jobs[30].key, dict(jobs[30].body))
        fill(journal)
        with pytest.raises(JournalError) as raised:
            journal.ensure_jobs([make_job(n) for n in range(100, 200)], {})
        assert str(raised.value).startswith(f"cannot write the journal {journal.path}: {FULL}")
        assert not journal._conn.in_transaction
        journal.mark_submitted(jobs[30].key, "gen-30", 7)  # a write that fits still works
    with Journal.open_readonly(tmp_path) as journal:
        states = {s.key: s for s in journal.jobs()}
    assert len(states) == 40
    assert sum(s.status == "submitted" for s in states.values()) == 21
    assert states[jobs[30].key].remote_id == "gen-30"


def test_a_full_disk_while_grouping_loses_only_the_uncommitted_suffix(tmp_path: Path) -> None:
    """Grouped writes SQLite rolled back are gone (as a crash loses them); flush and close then
    raise nothing more, and every committed step is still there."""
    jobs = journaled(tmp_path)
    with Journal.open(tmp_path) as journal, journal.grouped():
        journal.mark_submitting(jobs[20].key, dict(jobs[20].body))  # durable: committed
        journal.mark_submitted(jobs[20].key, "gen-20", 7)  # grouped: not yet
        fill(journal)
        with pytest.raises(JournalError) as raised:
            journal.ensure_jobs([make_job(n) for n in range(100, 200)], {})
        assert FULL in str(raised.value)
        journal.flush()  # nothing is left open to commit
    with Journal.open_readonly(tmp_path) as journal:
        assert journal.job(jobs[20].key).status == "submitting"  # the next run reconciles it
        assert len(journal.jobs()) == 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


MANY = """\
version: 1
name: many
matrix:
  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
         21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "a ceramic mug on a table, take {{ seed }}, {{ 'in a long and detailed prompt ' * 20 }}"
    params: {width: 512, height: 512, num_images: 1, seed: "{{ seed }}"}
"""


async def _price(recipe: Path, emu: EmulatorHandle) -> PricedPlan:
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        return await price_online(plan, client, cache=None)


def _leaf(error: BaseException) -> BaseException:
    while isinstance(getattr(error, "exceptions", None), tuple):
        error = error.exceptions[0]  # type: ignore[attr-defined]
    return error


@pytest.mark.anyio
async def test_a_run_that_fills_the_disk_stops_submitting_at_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """The journal's failure ends the run: no create after it, every create journaled first,
    and the next run finishes the plan without paying twice."""
    emu = make_emulator(slots=2)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(MANY)
    priced = await _price(recipe, emu)
    seen: list[Event] = []
    options = RunOptions(time_scale=TEST_TIME_SCALE)
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:

            def sink(event: Event) -> None:
                seen.append(event)
                if event.type == "complete" and sum(e.type == "complete" for e in seen) == 3:
                    fill(journal)

            with pytest.raises(BaseException) as raised:
                await run_plan(priced, client, journal, options=options, on_event=sink)
    error = _leaf(raised.value)
    assert isinstance(error, JournalError) and FULL in str(error), repr(raised.value)
    creates = emu.stats()["creates"]
    await anyio.sleep(0.3)
    stats = emu.stats()
    assert stats["creates"] == creates < 40  # stopped, and nothing went out afterwards
    with Journal.open_readonly(priced.plan.output_dir) as journal:
        bodies = {json.dumps(s.request, sort_keys=True) for s in journal.jobs() if s.attempt}
    sent = {key.split(" ", 1)[1] for key in stats["creates_per_body"]}
    assert {json.dumps(json.loads(b), sort_keys=True) for b in sent} <= bodies
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        with Journal.open(priced.plan.output_dir) as journal:
            result = await run_plan(priced, client, journal, options=options)
    assert (result.complete, result.failed) == (40, 0)
    assert emu.stats()["duplicate_creates"] == 0


def test_a_manifest_that_cannot_be_written_leaves_the_previous_one(tmp_path: Path) -> None:
    """A write refused by the OS (here a file-size limit, EFBIG): ManifestError, the old
    manifest whole, no temporary file left."""
    path = tmp_path / "manifest.json"
    write_manifest(path, {"leobatch": "0", "jobs": []})
    before = path.read_bytes()
    code = f"""
        import resource, signal, sys
        from pathlib import Path
        from leobatch.errors import ManifestError
        from leobatch.manifest import write_manifest
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # or the kernel kills us at the limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_manifest(Path({str(path)!r}), {{"leobatch": "0", "jobs": [{{"k": "x" * 9000}}]}})
        except ManifestError as e:
            print(e)
    """
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert child.stdout == f"cannot write the manifest {path}: File too large\n", child.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


# --- a real full disk: a 512 KiB tmpfs in a user namespace (skipped where none can be made) ---


def _tmpfs_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


tmpfs = pytest.mark.skipif(not _tmpfs_available(), reason="cannot mount a tmpfs here")


def _in_tmpfs(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) with a fresh 512 KiB tmpfs mounted at ``$DISK``."""
    disk = tmp_path / "disk"
    disk.mkdir()
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=512k tmpfs {disk} && {script}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "DISK": str(disk), "PY": sys.executable},
        check=False,
    )


FILL = """$PY -c "
f = open('$DISK/filler', 'wb', buffering=0)
try:
    while True: f.write(b'0' * 4096)
except OSError: pass
" """


@tmpfs
def test_a_really_full_disk_fails_the_commit_clearly(tmp_path: Path) -> None:
    """ENOSPC at COMMIT (grouped writes): the disk-full message; nothing committed is lost."""
    code = """
        import os, sys
        from pathlib import Path
        from leobatch.errors import JournalError
        from leobatch.plan.jobs import Job
        from leobatch.run.journal import Journal
        disk = Path(os.environ["DISK"])
        jobs = [Job(key=f"{n:064x}", stage="s", kind="image", endpoint="/generations",
                    body={}) for n in range(2000)]
        with Journal.open(disk) as journal:
            journal.ensure_jobs(jobs[:10], {})
            journal.mark_submitting(jobs[0].key, {"prompt": "mug"})
            f = open(disk / "filler", "wb", buffering=0)
            try:
                while True:
                    f.write(b"0" * 4096)
            except OSError:
                pass
            try:
                with journal.grouped():
                    journal.mark_submitted(jobs[0].key, "gen-0", 7)
                    journal.ensure_jobs(jobs, {})
                    journal.flush()
            except JournalError as e:
                print(e)
        (disk / "filler").unlink()
        with Journal.open_readonly(disk) as journal:
            print(len(journal.jobs()), journal.job(jobs[0].key).status)
    """
    result = _in_tmpfs(f'$PY -c "{_quoted(code)}"', tmp_path)
    db = tmp_path / "disk" / ".leobatch" / "state.sqlite"
    assert result.stdout.splitlines() == [
        f"cannot write the journal {db}: {FULL}: every step journaled so far is kept, and "
        "the run resumes from it",
        "10 submitting",
    ], result.stderr


@tmpfs
def test_a_run_on_a_full_disk_ends_with_one_clear_line(tmp_path: Path) -> None:
    """`leobatch run` on a full disk: `error: ...the disk is full...`, exit 1, the previous
    manifest and journal intact."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.replace("dir: out/mugs", "dir: disk/mugs"))
    more = recipe.read_text().replace("num_images: 1", "num_images: 2")
    script = (
        f"$PY -m leobatch run {recipe} --emulator --yes >/dev/null && "
        f"cp $DISK/mugs/manifest.json {tmp_path}/manifest.before && "
        f"printf '%s' '{more}' > {recipe} && {FILL} && "
        f"$PY -m leobatch run {recipe} --emulator --yes; echo rc=$?; "
        f"cmp $DISK/mugs/manifest.json {tmp_path}/manifest.before && echo manifest kept; "
        f"rm $DISK/filler; $PY -m leobatch status {recipe}"
    )
    result = _in_tmpfs(script, tmp_path)
    assert "Traceback" not in result.stderr
    # Even reading a WAL journal needs its shared-memory file to grow: SQLite's IOERR then.
    db = tmp_path / "disk" / "mugs" / ".leobatch" / "state.sqlite"
    assert result.stderr == (
        f"error: cannot open the journal {db}: disk I/O error (the disk may be full, over its "
        "quota or failing). Every step journaled so far is kept: fix the disk and run again\n"
    )
    assert "rc=1" in result.stdout and "manifest kept" in result.stdout
    assert "jobs      1: 1 done" in result.stdout  # the first run's step is all there


def _quoted(code: str) -> str:
    return textwrap.dedent(code).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


@tmpfs
def test_a_manifest_on_a_really_full_disk_leaves_the_previous_one(tmp_path: Path) -> None:
    """ENOSPC from the kernel: "the disk is full", the old manifest whole, no temporary file."""
    code = """
        import os
        from pathlib import Path
        from leobatch.errors import ManifestError
        from leobatch.manifest import write_manifest
        disk = Path(os.environ["DISK"])
        write_manifest(disk / "manifest.json", {"leobatch": "0", "jobs": []})
        f = open(disk / "filler", "wb", buffering=0)
        try:
            while True:
                f.write(b"0" * 4096)
        except OSError:
            pass
        try:
            write_manifest(disk / "manifest.json", {"leobatch": "0", "jobs": [{"k": "x" * 9000}]})
        except ManifestError as e:
            print(e)
        print((disk / "manifest.json").read_text() == '{\\n "leobatch": "0",\\n "jobs": []\\n}\\n')
        print(sorted(p.name for p in disk.iterdir()))
    """
    result = _in_tmpfs(f'$PY -c "{_quoted(code)}"', tmp_path)
    path = tmp_path / "disk" / "manifest.json"
    assert result.stdout.splitlines() == [
        f"cannot write the manifest {path}: the disk is full. The previous manifest, if any, is "
        "left as it was; free some space and run again (the journal keeps every step done so far)",
        "True",
        "['filler', 'manifest.json']",
    ], result.stderr


@pytest.mark.parametrize(
    ("raised", "line"),
    [
        (
            JournalError("cannot write the journal j: the disk is full"),
            "error: cannot write the journal j: the disk is full",
        ),
        (
            OSError(28, "No space left on device", "out/a.png"),
            "error: No space left on device "
            "(out/a.png). Free some space and run again: the journal keeps every step done so far",
        ),
    ],
)
def test_tasks_failing_together_on_a_full_disk_give_one_line(
    capsys: pytest.CaptureFixture[str], raised: Exception, line: str
) -> None:
    """Several tasks of one task group failing at once (one full disk fails every writer):
    one `error:` line and exit 1, not a traceback of the exception group."""
    import click

    from leobatch.cli._errors import run_main

    async def fail() -> None:
        raise raised

    async def both() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail)
            tg.start_soon(fail)

    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    def go() -> None:
        anyio.run(both)

    with pytest.raises(SystemExit) as exited:
        run_main(cli, ["go"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == line + "\n"


@tmpfs
def test_opening_a_journal_on_a_really_full_disk_says_so(tmp_path: Path) -> None:
    """The lock's holder note cannot be written either: the journal's own message is given."""
    code = """
        import os
        from pathlib import Path
        from leobatch.errors import JournalError
        from leobatch.run.journal import Journal
        disk = Path(os.environ["DISK"])
        Journal.open(disk).close()
        f = open(disk / "filler", "wb", buffering=0)
        try:
            while True:
                f.write(b"0" * 4096)
        except OSError:
            pass
        try:
            Journal.open(disk)
        except JournalError as e:
            print(e)
    """
    result = _in_tmpfs(f'$PY -c "{_quoted(code)}"', tmp_path)
    db = tmp_path / "disk" / ".leobatch" / "state.sqlite"
    assert result.stdout == (
        f"cannot open the journal {db}: disk I/O error (the disk may be full, over its quota "
        "or failing). Every step journaled so far is kept: fix the disk and run again\n"
    ), result.stderr
