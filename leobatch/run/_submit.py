"""Submission: within slots, rate limits and budget, journaled first, reconciled when ambiguous."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio

from leobatch.api.client import Created
from leobatch.errors import (
    ApiValidationError,
    InsufficientCreditsError,
    ModerationError,
    NotFoundError,
    PlanError,
    RateLimitedError,
    TransientError,
)
from leobatch.plan.jobs import Job
from leobatch.run._state import GENERATION_KINDS, VARIATION_KINDS, _backoff_s
from leobatch.run._track import Tracking
from leobatch.run.events import Event
from leobatch.run.inputs import fill_body
from leobatch.run.reconcile import find_generation, find_variation


class Submitting(Tracking):
    """The engine's submitter: ready jobs out to the API, never twice."""

    async def _submitter(self) -> None:
        async for job in self.ready_rx:
            self.queued.discard(job.key)
            if self.stopping:
                continue
            await self.inflight.acquire_on_behalf_of(job.key)
            if self.stopping or not self._reserve(job):
                self.inflight.release_on_behalf_of(job.key)
                continue
            self.tg.start_soon(self._submit, job)

    def _reserve(self, job: Job) -> bool:
        estimate = self.priced.credits.get(job.key) or 0
        committed = self.charged_this_run + sum(self.reserved.values()) + estimate
        already = self.charged_before
        if self.budget is not None and already + committed > self.budget:
            self._stop(
                f"budget: {already + committed} credits would pass the budget of {self.budget}"
            )
            return False
        if self.balance is not None and committed > self.balance:
            self._stop(f"balance: {committed} credits would pass the balance of {self.balance}")
            return False
        self.reserved[job.key] = estimate
        return True

    async def _submit(self, job: Job) -> None:
        if job.upstream is not None and job.upstream.key not in self.fresh:
            # The upstream finished in an earlier run: make sure the server still has it
            # before sending its id (once per upstream; ids do not move).
            upstream = self.jobs[job.upstream.key]
            if await self._remote_gone(upstream):
                self._release(job)
                if self.journal.job(upstream.key).status == "complete":
                    self._lost(upstream, "its outputs are gone from the server")
                return
            self.fresh.add(upstream.key)
        try:
            body = await self._resolve_body(job)
        except TransientError as e:
            self._release(job)
            self._fail(job, f"could not prepare inputs: {e}", final=True)
            return
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self.stopping:
                # Stopping (Ctrl-C, budget): the job was proven absent; the next run sends it.
                self._release(job)
                return
            await self.create_limits[job.endpoint].acquire()
            await self.global_limit.acquire()
            # From here until its outcome is journaled the job is "sending": a stopping run
            # waits for it; a job still waiting for a rate token is simply cancelled.
            self.sending += 1
            try:
                started_at = time.time()
                self.journal.mark_submitting(job.key, body)
                try:
                    created = await self.client.create(job.endpoint, body)
                except RateLimitedError as e:
                    self.journal.mark_absent(job.key)  # a 429 created nothing
                    pause = (
                        e.retry_after_s or _backoff_s(attempt, self.rng) * self.options.time_scale
                    )
                    self.create_limits[job.endpoint].pause(pause)
                    self.emit(Event("rate-limited", job.key, job.stage, {"pause_s": pause}))
                    continue
                except TransientError as e:
                    found = await self._reconcile(job, body, started_at)
                    if found is None:
                        self.journal.mark_absent(job.key)
                        self.emit(Event("retry", job.key, job.stage, {"reason": str(e)}))
                        await anyio.sleep(_backoff_s(attempt, self.rng) * self.options.time_scale)
                        continue
                    created = found
                    self.emit(Event("adopted", job.key, job.stage, {"remote_id": found.id}))
                except InsufficientCreditsError as e:
                    self.journal.mark_absent(job.key)
                    self._release(job)
                    self._stop(f"insufficient credits: {e}")
                    return
                except (ApiValidationError, ModerationError, NotFoundError) as e:
                    # Refused: nothing was created or charged, and asking again cannot help.
                    self.journal.mark_failed(job.key, str(e), final=True)
                    self._release(job)
                    self._fail(job, str(e), final=True)
                    return
                break
            finally:
                self.sending -= 1
                self._poke()
        self.journal.mark_submitted(job.key, created.id, created.credits)
        self.reserved.pop(job.key, None)
        self.charged_this_run += created.credits or 0
        self.emit(
            Event(
                "submitted",
                job.key,
                job.stage,
                {"remote_id": created.id, "credits": created.credits},
            )
        )
        if job.kind == "improve-prompt":
            self.journal.record_text(job.key, created.text or "")
            self.journal.mark_complete(job.key)
            self._release(job)
            self._done(job)
            return
        self._track(job, created.id)

    async def _resolve_body(self, job: Job) -> dict[str, Any]:
        values: dict[str, str] = {}
        for item in job.inputs:
            if item.source == "file":
                assert item.path is not None and item.sha256 is not None
                values[item.field] = await self._upload(item.path, item.sha256)
            elif item.source == "upstream-text":
                assert job.upstream is not None
                values[item.field] = self.journal.text(job.upstream.key) or ""
            else:
                assert job.upstream is not None
                values[item.field] = self._upstream_id(job, item.id_kind)
        return fill_body(job, values)

    def _upstream_id(self, job: Job, id_kind: str | None) -> str:
        assert job.upstream is not None
        up = self.journal.job(job.upstream.key)
        if up.remote_id is None:
            raise PlanError(f"job {job.key[:12]}: upstream {job.upstream.key[:12]} has no id")
        if id_kind == "generation":
            return up.remote_id
        for out in self.journal.outputs(job.upstream.key):
            if out.index == job.upstream.output and out.remote_id is not None:
                return out.remote_id
        raise PlanError(f"job {job.key[:12]}: upstream output {job.upstream.output} is missing")

    async def _upload(self, rel_path: str, sha256: str) -> str:
        async with self.upload_locks[sha256]:
            known = self.journal.upload_for(sha256)
            if known is not None:
                return known
            path = self.recipe_dir / rel_path
            data = await anyio.Path(path).read_bytes()
            ext = path.suffix.lower().lstrip(".")
            await self.global_limit.acquire()
            upload_id = await self.client.upload_init_image(data, ext)
            self.journal.record_upload(sha256, upload_id, ext)
            return upload_id

    async def _reconcile(
        self, job: Job, body: Mapping[str, Any], started_at: float
    ) -> Created | None:
        """After an ambiguous create: the job the server made for us, or None if proven absent."""
        taken = {s.remote_id for s in self.journal.jobs() if s.remote_id}
        taken.update(a.remote_id for a in self.journal.attempts(job.key) if a.remote_id)
        taken.update(self.tracked)
        for attempt in range(1, 6):
            try:
                if job.kind in GENERATION_KINDS:
                    gen = await find_generation(
                        self.client, self.user_id, job, body, started_at, taken
                    )
                    return None if gen is None else self._adopted(job, gen.id)
                if job.kind in VARIATION_KINDS:
                    parent = self._root_generation(job)
                    if parent is None:
                        return None
                    var_id = await find_variation(self.client, parent, job, body, taken)
                    return None if var_id is None else self._adopted(job, var_id)
                # improve-prompt and video upscale leave nothing to search: resubmit.
                return None
            except TransientError:
                await anyio.sleep(_backoff_s(attempt, self.rng) * self.options.time_scale)
        raise TransientError(f"job {job.key[:12]}: could not reconcile an ambiguous create")
