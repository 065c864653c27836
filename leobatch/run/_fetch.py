"""Downloads: every output fetched, verified and put in place; a lost one rendered again."""

from __future__ import annotations

import errno
from typing import Literal

import anyio

from leobatch.errors import (
    NotFoundError,
    TransientError,
)
from leobatch.plan.jobs import Job
from leobatch.run._state import EngineState, is_video
from leobatch.run.events import Event
from leobatch.run.provenance import Provenance


class Downloading(EngineState):
    """The engine's download pool."""

    def _start_download(
        self, job: Job, idx: int, url: str, path: str, expected_sha256: str | None
    ) -> None:
        self.downloads_pending += 1
        self.tg.start_soon(self._download, job, idx, url, path, expected_sha256)

    async def _download(
        self, job: Job, idx: int, url: str, path: str, expected_sha256: str | None
    ) -> None:
        from leobatch.run.download import download

        try:
            await self._children_sent(job)
            async with self.downloads:
                # Journal first: the output's row (its path) is committed before the file can
                # appear, so a file at a planned path is always one the journal knows it wrote.
                self.journal.flush()
                media: Literal["image", "video"] = "video" if is_video(job) else "image"
                got = await download(
                    self.http,
                    url,
                    self.plan.output_dir / path,
                    media=media,
                    root=self.plan.output_dir,
                    expected_sha256=expected_sha256,
                    served_sha256=self._served_sha256(job, idx, expected_sha256),
                    provenance=self._provenance(job, idx),
                )
            if self._current(job, idx, url):
                self.journal.record_download(
                    job.key, idx, sha256=got.sha256, size=got.bytes, served_sha256=got.served_sha256
                )
                self.emit(
                    Event("downloaded", job.key, job.stage, {"path": path, "bytes": got.bytes})
                )
        except (TransientError, NotFoundError) as e:
            if _disk_full(e):
                # Every output after this one would fail too, and each job sent meanwhile is
                # paid for: stop submitting now (the next run fetches what is missing).
                self._stop(f"the disk is full: {e}")
            if not self._current(job, idx, url):
                pass  # the job was rendered again meanwhile: this output is not its any more
            elif await self._remote_gone(job):
                if self._current(job, idx, url):
                    self._lost(job, f"output {path} could not be fetched and the job is gone")
            else:
                self.missing_downloads += 1
                self.emit(
                    Event("download-failed", job.key, job.stage, {"error": f"download {path}: {e}"})
                )
        finally:
            self.downloads_pending -= 1
            self._poke()

    async def _children_sent(self, job: Job) -> None:
        """Wait, a quarter of ``job``'s expected duration at most, until the creates of the jobs
        downstream of it are answered.

        The next stage's create is on the way to the final output, the upstream's file is not:
        sent together, the downloads (fetched, verified, labelled) slow those creates down, at
        the client and at the server alike (measured on the emulator: a listing that saw eight
        shots finish got its eight cutouts created within 50 ms with the downloads held back,
        120-140 ms without).
        """
        children = self.downstream.get(job.key)
        if not children:
            return
        with anyio.move_on_after(0.25 * self._expected_s(job.kind)):
            while not self.stopping and any(
                c.key not in self.tracked_keys and c.key not in self.terminal for c in children
            ):
                await self.changed.wait()  # (set by every create answered, among others)

    def _served_sha256(self, job: Job, idx: int, written: str | None) -> str | None:
        """The journaled sha256 of output ``idx`` as served, when it was downloaded before
        (``written``, its sha256 as written, is known): a fetch again must serve those bytes."""
        if written is None:
            return None
        for out in self.journal.outputs(job.key):
            if out.index == idx and out.sha256 == written:
                return out.served_sha256
        return None

    def _provenance(self, job: Job, idx: int) -> Provenance | None:
        """What output ``idx`` of ``job`` carries inside it (``None``: ``output.metadata`` off)."""
        if not self.plan.output_metadata:
            return None
        return Provenance.of(
            job,
            idx,
            jobs=self.jobs,
            recipe=self.plan.recipe_name,
            recipe_sha256=self.plan.recipe_sha256,
            credits_charged=self.journal.job(job.key).credits_charged,
            credits_estimated=self.priced.credits.get(job.key),
        )

    def _current(self, job: Job, idx: int, url: str) -> bool:
        """Whether output ``idx`` of a complete ``job`` is still the one at ``url``."""
        return self.journal.output_at(job.key, idx, url)


def _disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is the file system running out of room."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
