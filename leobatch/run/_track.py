"""Completion: batched polling, webhook callbacks, and what a finished or failed job leads to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import anyio

from leobatch.api.client import Generation
from leobatch.errors import TransientError
from leobatch.plan.jobs import Job
from leobatch.pricing.money import parse_cost
from leobatch.run._fetch import Downloading
from leobatch.run._state import (
    _media_type,
    _Tracked,
    is_generation,
    is_variation,
    is_video,
    json_amount,
)
from leobatch.run.events import Event
from leobatch.run.journal import NewOutput
from leobatch.run.webhook import Callback


class Tracking(Downloading):
    """The engine's tracker: which submitted jobs are done, and what follows from each."""

    def _track(self, job: Job, remote_id: str) -> None:
        parent = self._root_generation(job) if is_variation(job) else None
        self._claim(job, remote_id)  # a job never waits on a remote id another job tracks
        self.tracked[remote_id] = _Tracked(job, remote_id, anyio.current_time(), parent)
        self.tracked_keys.add(job.key)
        self.tracker_wake.set()  # a new due time for the tracker's schedule
        self._poke()

    def _poll_interval(self) -> float:
        if not self.tracked:
            return 0.05 * self.options.time_scale + 0.01
        # One listing covers every slot's job: polling every 0.3 job durations costs about
        # 1 / (0.3 * slots) status requests per job (0.33 at 10 slots), while the headroom keeps
        # the server's queue fed through the detection delay.
        shortest = self._shortest_expected_s()
        low = 0.02 * self.options.time_scale
        # With webhooks, polling is only a sweep for callbacks that never came.
        factor = 3.0 if self.webhooks else 0.3
        return min(max(shortest * factor, low), self.options.max_poll_interval_s)

    def _shortest_expected_s(self) -> float:
        if not self.tracked:
            return self._expected_s("image")
        return min(self._expected_s(t.job.kind) for t in self.tracked.values())

    async def _tracker(self) -> None:
        """Ask about the jobs in flight: a listing of generations every poll interval, and each
        job polled by id (a variation, an upscale) when it is due.

        The tracker sleeps until the earlier of the two, not the listing's rhythm alone, and the
        listing is a task of its own (one at a time): a downstream job, whose output the next
        stage (or the user) waits for, is asked about at its due time, never held up by a
        listing interval or by a slow listing.
        """
        while True:
            wake_at = min(self.listing_at, self._next_due())
            with anyio.move_on_after(max(0.0, wake_at - anyio.current_time())):
                await self.tracker_wake.wait()
            self.tracker_wake = anyio.Event()
            if self.hinted.is_set() and not self.listing:
                # A callback came: list soon, after a moment that lets its neighbours arrive
                # (a tenth of a job: about one listing per two or three callbacks).
                soon = anyio.current_time() + 0.1 * self._shortest_expected_s()
                self.listing_at = min(self.listing_at, soon)
            await self._status_request(self._poll_others)
            if not self.listing and anyio.current_time() >= self.listing_at:
                self.hinted = anyio.Event()
                self.listing = True
                self.listing_at = float("inf")  # the next is due once this one is answered
                self.tg.start_soon(self._listing)

    async def _listing(self) -> None:
        """One listing of the generations in flight; the next is due a poll interval later."""
        try:
            if self.tracked:
                await self._status_request(self._poll_generations)
        finally:
            self.listing = False
            self.listing_at = anyio.current_time() + self._poll_interval()
            self.tracker_wake.set()

    async def _status_request(self, request: Callable[[], Awaitable[None]]) -> None:
        """Run status ``request``; a transient failure is reported and tried next time."""
        try:
            await request()
        except TransientError as e:
            self.emit(Event("retry", data={"reason": f"status poll: {e}"}))

    def _due(self, tracked: _Tracked) -> float:
        """When a job polled by id is next asked about (anyio clock).

        At 0.9 of its kind's expected duration, then every 0.15 of it: about one poll per job
        when the expectation holds, and a late job seen within a sixth of a job. A kind not yet
        seen finishing this run has only a guess for its duration (the image's): its jobs are
        first asked at half of the guess, so the first downstream output is not held up by a
        guess that is too long.
        """
        kind = tracked.job.kind
        first = 0.9 if self.durations.get(kind) else 0.5
        return tracked.submitted_at + self._expected_s(kind) * (first + 0.15 * tracked.polls)

    def _next_due(self) -> float:
        """The earliest due time of the jobs polled by id (``inf`` when there are none)."""
        return min(
            (self._due(t) for t in self.tracked.values() if not is_generation(t.job)),
            default=float("inf"),
        )

    async def _poll_generations(self) -> None:
        pending = {rid: t for rid, t in self.tracked.items() if is_generation(t.job)}
        if not pending:
            return
        seen: set[str] = set()
        offset = 0
        # The listing is newest first and the jobs in flight are among the newest: a page a
        # little longer than their number usually holds them all (a next page is read if not).
        limit = min(50, len(pending) + 10)
        for _page in range(4):
            await self.global_limit.acquire()
            found, size = await self.client.find_generations(
                self.user_id, pending, offset=offset, limit=limit
            )
            for gen in found:
                if gen.id not in seen:  # (a shifting listing can show one on two pages)
                    seen.add(gen.id)
                    await self._observe_generation(pending[gen.id], gen)
            if len(seen) == len(pending) or size < limit:
                break
            offset += limit
        # Stragglers the listing did not show (older than the pages read): ask one by one.
        for rid, tracked in pending.items():
            if rid not in seen and rid in self.tracked:
                await self.global_limit.acquire()
                single = await self.client.get_generation(rid)
                if single is not None:
                    await self._observe_generation(tracked, single)
                else:
                    self._missing(tracked)

    async def _poll_others(self) -> None:
        now = anyio.current_time()
        for rid, tracked in list(self.tracked.items()):
            if is_generation(tracked.job) or now < self._due(tracked):
                continue
            if self.tracked.get(rid) is not tracked:
                continue  # settled while an earlier poll was out
            tracked.polls += 1
            await self.global_limit.acquire()
            if tracked.job.kind == "video-upscale":
                var = await self.client.get_motion_variation(rid)
            else:
                var = await self.client.get_variation(rid)
            if self.tracked.get(rid) is not tracked:
                continue  # settled meanwhile (lost, or failed by another path)
            if var is None:
                self._missing(tracked)
                continue
            if var.status == "PENDING":
                continue
            if var.status == "COMPLETE" and var.url:
                await self._completed(tracked, [(var.id, var.url, False)])
            else:
                await self._failed_remote(tracked)

    def _missing(self, tracked: _Tracked) -> None:
        """A poll by id found no such job; twice in a row means the server lost it."""
        tracked.misses += 1
        if tracked.misses < 2 or self.tracked.get(tracked.remote_id) is not tracked:
            return
        job = tracked.job
        del self.tracked[tracked.remote_id]
        self.tracked_keys.discard(job.key)
        self._free_slot(job)
        self._lost(job, f"the server no longer knows job {tracked.remote_id}")

    async def _on_callback(self, callback: Callback) -> None:
        """A webhook said a generation finished: a hint to look now, never a source of truth.

        Status and URLs come from the API (the tracker's next listing, brought forward), never
        from the callback's body: a forged FAILED would otherwise make us pay again, a forged
        COMPLETE save an attacker's file as our output. Callbacks that arrive together are
        verified by one listing request.
        """
        key = self.claimed.get(callback.generation_id)
        job = self.jobs.get(key) if key else None
        if job is None:
            return  # not one of ours (or a forgery naming an id we never had)
        self.emit(Event("callback", job.key, job.stage))
        tracked = self.tracked.get(callback.generation_id)
        if tracked is not None and is_generation(tracked.job):
            self.hinted.set()
            self.tracker_wake.set()

    async def _observe_generation(self, tracked: _Tracked, gen: Generation) -> None:
        if gen.status == "PENDING" or self.tracked.get(tracked.remote_id) is not tracked:
            return  # still running, or already settled (a callback and a poll both saw it)
        if gen.status != "COMPLETE":
            await self._failed_remote(tracked)
            return
        job = tracked.job
        outputs: list[tuple[str, str, bool]] = []
        for image in gen.images:
            url = _video_url(image.motion_mp4_url, image.url) if is_video(job) else image.url
            if url:
                outputs.append((image.id, url, image.nsfw))
        if len(outputs) < job.outputs:
            await self._failed_remote(tracked, f"{len(outputs)} of {job.outputs} outputs")
            return
        await self._completed(tracked, outputs[: job.outputs])

    async def _completed(self, tracked: _Tracked, outputs: list[tuple[str, str, bool]]) -> None:
        job = tracked.job
        self.durations[job.kind].append(anyio.current_time() - tracked.submitted_at)
        records = [
            NewOutput(
                idx,
                remote_id,
                url,
                job.paths[idx] if idx < len(job.paths) else f"{job.stage}/{job.key[:12]}-{idx}",
                _media_type(job, url),
                nsfw,
            )
            for idx, (remote_id, url, nsfw) in enumerate(outputs)
        ]
        self.journal.mark_complete(job.key, records)
        self.fresh.add(job.key)
        del self.tracked[tracked.remote_id]
        self.tracked_keys.discard(job.key)
        self._free_slot(job)
        self.emit(Event("complete", job.key, job.stage, {"outputs": len(outputs)}))
        self._done(job)
        for idx, (_rid, url, _nsfw) in enumerate(outputs):
            self._start_download(job, idx, url, job.paths[idx], None)

    async def _failed_remote(self, tracked: _Tracked, why: str = "the job ended FAILED") -> None:
        job = tracked.job
        del self.tracked[tracked.remote_id]
        self.tracked_keys.discard(job.key)
        self._free_slot(job)
        failures = self.journal.job(job.key).failures + 1
        final = failures > self.retries
        last = self.journal.attempts(job.key)[-1]
        amount = _charged_in(last.cost_amount, last.cost_unit, last.credits_charged, self.unit)
        charged = json_amount(amount, self.unit) if amount else 0
        # The API refunds a FAILED job (pricing-facts §5): the attempt's charge goes back.
        self.journal.mark_failed(job.key, why, final=final, refunded=True)
        self.charged_this_run -= amount
        if final:
            self._fail(job, why, final=True, refunded=charged)
        else:
            data = {"reason": why, "failures": failures, "refunded": charged}
            self.emit(Event("retry", job.key, job.stage, data))
            self._enqueue(job)
        self._poke()


def _video_url(motion_mp4_url: str | None, url: str | None) -> str | None:
    """A video output's file: ``motionMP4URL`` (api-v2-facts 1.5); a ``url`` ending in ``.mp4``
    when that is missing (what a video item's ``url`` holds is not documented: 3P clients read
    it only when it is an MP4), never a poster frame."""
    if motion_mp4_url:
        return motion_mp4_url
    if url and url.lower().split("?")[0].endswith(".mp4"):
        return url
    return None


def _charged_in(
    amount: str | None, unit: str | None, credits: int | None, run_unit: str
) -> Decimal:
    """An attempt's charge in the run's unit (0 when it was charged in another, or nothing)."""
    cost = parse_cost(amount, unit, credits)
    return cost.amount if cost is not None and cost.unit == run_unit else Decimal(0)
