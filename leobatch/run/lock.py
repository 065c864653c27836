"""The exclusive lock a run holds on its output directory.

``fcntl.flock`` on ``<output.dir>/.leobatch/lock``: the kernel releases it when the holding process
exits or is killed, so a SIGKILLed run never leaves a stale lock behind. The holder writes its pid,
host and start time into the file so that a second run can say who is in the way. The file itself
is never deleted (deleting a lock file races with a process about to lock it).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from leobatch.errors import JournalError, LockedError

__all__ = ["DirLock", "LockHolder", "running_holder"]


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

    def __init__(self, fd: int, path: Path, holder: LockHolder) -> None:
        self._fd: int | None = fd
        self.path = path
        self.holder = holder

    @classmethod
    def acquire(cls, lock_path: Path, *, output_dir: Path) -> DirLock:
        """Take the lock at ``lock_path`` or raise :class:`LockedError` naming the holder."""
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise JournalError(f"cannot open the lock file {lock_path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "a process that has not said who it is"
            raise LockedError(f"another leobatch run ({who}) holds {output_dir}") from None
        except OSError as e:
            os.close(fd)
            raise JournalError(f"cannot lock {lock_path}: {e.strerror}") from e
        holder = LockHolder(pid=os.getpid(), host=socket.gethostname(), started_at=time.time())
        payload = json.dumps(
            {"pid": holder.pid, "host": holder.host, "started_at": holder.started_at}
        )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload.encode(), 0)
        except OSError:
            # A full disk. The lock is held all the same (the holder's name only helps others
            # say who is in the way); the journal, opened next, says what is wrong and stops.
            pass
        return cls(fd, lock_path, holder)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays, emptied: nobody holds it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def running_holder(lock_path: Path) -> LockHolder | None:
    """The run that seems to hold ``lock_path`` now, read without touching the lock itself.

    A reader must never take the lock, even briefly (a run starting at that instant would be
    refused), so this trusts the file's content: empty means free; a holder on this host whose
    process is gone (killed before it could empty the file) is not running.
    """
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        holder = _read_holder(fd)
    finally:
        os.close(fd)
    if holder is None:
        return None
    if holder.host == socket.gethostname():
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by someone else
    return holder


def _read_holder(fd: int) -> LockHolder | None:
    """The holder the lock file names, or ``None`` if it is empty or unreadable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode())
        return LockHolder(
            pid=int(data["pid"]), host=str(data["host"]), started_at=float(data["started_at"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
