"""The exclusive lock a run holds on its output directory.

``filelock`` on ``<output.dir>/.leobatch/lock`` (``flock`` on POSIX, ``msvcrt.locking`` on
Windows): the operating system releases it when the holding process exits or is killed, so a
SIGKILLed run never leaves a stale lock behind. The holder writes its pid, host and start time
into ``lock.holder`` beside it, so that a second run can say who is in the way (on Windows a
locked file cannot be read by others, hence the second file). Neither file is ever deleted
(deleting a lock file races with a process about to lock it); the holder file is emptied on
release.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import filelock

from leobatch.errors import JournalError, LockedError

__all__ = ["DirLock", "LockHolder", "running_holder"]

HOLDER_SUFFIX = ".holder"


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a lock: process id, host name and start time (unix seconds)."""

    pid: int
    host: str
    started_at: float

    def describe(self) -> str:
        """``pid 1234 on host, started 12:03:04``."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return f"pid {self.pid} on {self.host}, started {started}"


class DirLock:
    """An exclusive, non-blocking lock on one output directory; release with :meth:`release`."""

    def __init__(self, lock: filelock.BaseFileLock, path: Path, holder: LockHolder) -> None:
        self._lock: filelock.BaseFileLock | None = lock
        self.path = path
        self.holder = holder

    @classmethod
    def acquire(cls, lock_path: Path, *, output_dir: Path) -> DirLock:
        """Take the lock at ``lock_path`` or raise :class:`LockedError` naming the holder."""
        # thread_local=False: the engine's worker threads share the run's lock.
        lock = filelock.FileLock(lock_path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = _read_holder(_holder_path(lock_path))
            who = holder.describe() if holder else "a process that has not said who it is"
            raise LockedError(f"another leobatch run ({who}) holds {output_dir}") from None
        except OSError as e:
            raise JournalError(f"cannot lock {lock_path}: {e.strerror or e}") from e
        holder = LockHolder(pid=os.getpid(), host=socket.gethostname(), started_at=time.time())
        payload = json.dumps(
            {"pid": holder.pid, "host": holder.host, "started_at": holder.started_at}
        )
        # On a full disk this fails. The lock is held all the same (the holder's name only helps
        # others say who is in the way); the journal, opened next, says what is wrong and stops.
        with contextlib.suppress(OSError):
            _holder_path(lock_path).write_text(payload, encoding="utf-8")
        return cls(lock, lock_path, holder)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._lock is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The files stay, the holder's emptied: nobody holds it."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        try:
            _holder_path(self.path).write_text("", encoding="utf-8")
        except OSError:
            pass  # the next holder overwrites it; a reader checks the pid meanwhile
        finally:
            lock.release()


def running_holder(lock_path: Path) -> LockHolder | None:
    """The run that seems to hold ``lock_path`` now, read without touching the lock itself.

    A reader must never take the lock, even briefly (a run starting at that instant would be
    refused), so this trusts the holder file: empty means free; a holder on this host whose
    process is gone (killed before it could empty the file) is not running.
    """
    holder = _read_holder(_holder_path(lock_path))
    if holder is None:
        return None
    if holder.host == socket.gethostname() and not _alive(holder.pid):
        return None
    return holder


def _holder_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + HOLDER_SUFFIX)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def _read_holder(path: Path) -> LockHolder | None:
    """The holder the file names, or ``None`` if it is empty, missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(
            pid=int(data["pid"]), host=str(data["host"]), started_at=float(data["started_at"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
