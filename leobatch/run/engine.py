"""The run engine: a priced plan in, files and a journal out.

One anyio task group per run. A submitter feeds ready jobs to the API while the in-flight count
stays within the account's slots plus a little headroom (so the server's queue never runs dry);
a tracker polls completion in batches (one user-listing request covers many jobs); a download
pool fetches and verifies outputs; the manifest is rewritten about once a second. Every
transition is journaled *before* the engine acts on it, so a run killed at any instant resumes
without losing an output or paying twice (DESIGN §6).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx

from leobatch.api.client import Created, GeneratedImage, Generation, LeonardoClient
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
from leobatch.pricing.priced import PricedPlan
from leobatch.run.events import Event, EventSink, discard
from leobatch.run.inputs import fill_body
from leobatch.run.journal import Journal
from leobatch.run.limits import RateLimiter, default_limits
from leobatch.run.reconcile import find_generation, find_variation
from leobatch.run.webhook import Callback

__all__ = ["RunOptions", "RunResult", "run_plan"]

GENERATION_KINDS = frozenset({"image", "text-to-video", "image-to-video", "motion-svd"})
VARIATION_KINDS = frozenset({"upscale", "unzoom", "nobg", "universal-upscale"})
VIDEO_KINDS = frozenset({"text-to-video", "image-to-video", "motion-svd", "video-upscale"})


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run behaves. ``None`` means: from the plan (recipe ``limits``), else the account.

    ``time_scale`` shrinks rate windows and poll intervals for a time-scaled emulator.
    ``webhook_listen`` serves completion callbacks on (host, port) for the run, checking the
    bearer ``webhook_key``; polling then only sweeps for callbacks that never came.
    """

    slots: int | None = None
    headroom: int | None = None
    create_per_minute: int | None = None
    requests_per_minute: int | None = None
    retry_failed_jobs: int | None = None
    budget_credits: int | None = None
    time_scale: float = 1.0
    download_concurrency: int = 8
    manifest_interval_s: float = 1.0
    max_poll_interval_s: float = 10.0
    webhook_listen: tuple[str, int] | None = None
    webhook_key: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended. ``stop_reason`` says why submission stopped early, if it did."""

    jobs: int
    complete: int
    failed: int
    pending: int
    missing_downloads: int
    credits_charged: int
    interrupted: bool
    stop_reason: str | None


async def run_plan(
    priced: PricedPlan,
    client: LeonardoClient,
    journal: Journal,
    *,
    options: RunOptions | None = None,
    on_event: EventSink = discard,
    stop: anyio.Event | None = None,
) -> RunResult:
    """Run ``priced`` to completion (or until ``stop`` is set: then finish what is in flight)."""
    engine = _Engine(priced, client, journal, options or RunOptions(), on_event)
    return await engine.execute(stop or anyio.Event())


@dataclass(slots=True)
class _Tracked:
    job: Job
    remote_id: str
    submitted_at: float  # anyio clock
    parent_generation: str | None  # variations: the generation whose image they transform
    polls: int = 0
    misses: int = 0  # polls by id that found no such job


class _Engine:
    """The state of one run. Private: the public surface is ``run_plan``."""

    def __init__(
        self,
        priced: PricedPlan,
        client: LeonardoClient,
        journal: Journal,
        options: RunOptions,
        on_event: EventSink,
    ) -> None:
        self.priced = priced
        self.plan = priced.plan
        self.client = client
        self.journal = journal
        self.options = options
        self.emit = on_event
        self.jobs: dict[str, Job] = {job.key: job for job in self.plan.jobs}
        self.downstream: dict[str, list[Job]] = defaultdict(list)
        for job in self.plan.jobs:
            if job.upstream is not None:
                self.downstream[job.upstream.key].append(job)
        self.retries = (
            options.retry_failed_jobs
            if options.retry_failed_jobs is not None
            else self.plan.retry_failed_jobs
        )
        self.budget = (
            options.budget_credits
            if options.budget_credits is not None
            else self.plan.budget_credits
        )
        self.recipe_dir = self.plan.recipe_path.parent
        self.rng = random.Random()
        # run state
        self.tracked: dict[str, _Tracked] = {}
        self.tracked_keys: set[str] = set()
        self.queued: set[str] = set()
        self.fresh: set[str] = set()  # jobs completed during this run (their ids are current)
        self.reserved: dict[str, int] = {}
        self.charged_this_run = 0
        self.terminal: set[str] = (
            set()
        )  # complete, failed for good, or blocked by a failed upstream
        self.failed: set[str] = set()
        self.downloads_pending = 0
        self.missing_downloads = 0
        self.stopping = False
        self.stop_reason: str | None = None
        self.interrupted = False
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.upload_locks: dict[str, anyio.Lock] = defaultdict(anyio.Lock)
        self.changed = anyio.Event()
        self.dirty = True
        self.webhooks = False
        self.ready_tx, self.ready_rx = anyio.create_memory_object_stream[Job](math.inf)

    # ---------------------------------------------------------------- set-up and main loop

    async def execute(self, stop: anyio.Event) -> RunResult:
        account = await self.client.me()
        self.user_id = account.user_id
        self.balance = account.credits
        slots = self.options.slots or self.plan.concurrency or account.slots or 10
        headroom = self.options.headroom
        if headroom is None:
            # Completions are seen up to one poll interval late (a third of a job's duration):
            # half a slot's worth of queued jobs per slot keeps every slot busy meanwhile.
            headroom = max(2, math.ceil(slots * 0.5))
        create_rate, global_rate = default_limits(slots)
        create_rate = self.options.create_per_minute or self.plan.create_per_minute or create_rate
        global_rate = (
            self.options.requests_per_minute or self.plan.requests_per_minute or global_rate
        )
        scale = self.options.time_scale
        self.inflight = anyio.CapacityLimiter(slots + headroom)
        self.create_limits: dict[str, RateLimiter] = defaultdict(
            lambda: RateLimiter(create_rate, time_scale=scale)
        )
        self.global_limit = RateLimiter(global_rate, time_scale=scale)
        self.downloads = anyio.CapacityLimiter(self.options.download_concurrency)
        conns = self.options.download_concurrency
        self.http = httpx.AsyncClient(
            timeout=60.0,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=conns, max_keepalive_connections=min(4, conns)),
        )
        self.emit(
            Event(
                "start",
                data={
                    "jobs": len(self.jobs),
                    "slots": slots,
                    "in_flight_cap": slots + headroom,
                    "balance": self.balance,
                    "budget": self.budget,
                    "credits_planned": self.priced.total,
                },
            )
        )
        self._sweep_temp_files()
        self.journal.ensure_jobs(self.plan.jobs, self.priced.credits)
        from leobatch.manifest import ManifestWriter

        self.manifest = ManifestWriter(self.plan, credits=self.priced.credits)
        self.journal.set_meta(
            {
                "recipe": self.plan.recipe_name,
                "recipe_path": str(self.plan.recipe_path),
                "recipe_sha256": self.plan.recipe_sha256,
                "user_id": self.user_id,
            }
        )
        self.charged_before = self.journal.summary().credits_charged
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                await self._recover()
                tg.start_soon(self._watch_stop, stop)
                tg.start_soon(self._submitter)
                tg.start_soon(self._tracker)
                tg.start_soon(self._manifest_loop)
                if self.options.webhook_listen is not None:
                    from leobatch.run.webhook import serve_webhooks

                    host, port = self.options.webhook_listen
                    bound = await tg.start(
                        serve_webhooks, host, port, self.options.webhook_key, self._on_callback
                    )
                    self.webhooks = True
                    self.emit(Event("webhooks", data={"listen": f"{host}:{bound}"}))
                while not self._finished():
                    await self.changed.wait()
                    self.changed = anyio.Event()
                tg.cancel_scope.cancel()
        finally:
            self.ready_tx.close()
            self.ready_rx.close()
            await self.http.aclose()
            self._write_manifest()
        result = self._result()
        self.emit(Event("finish", data=_result_data(result)))
        return result

    def _sweep_temp_files(self) -> None:
        """Remove temp files a killed run left (downloads, manifest); we hold the dir's lock."""
        root = self.plan.output_dir
        if not root.is_dir():
            return
        for pattern in (".*.part", ".manifest.json.*.tmp"):
            for stale in root.rglob(pattern):
                if ".leobatch" not in stale.relative_to(root).parts:
                    stale.unlink(missing_ok=True)

    def _finished(self) -> bool:
        if self.downloads_pending or self.tracked:
            return False
        if self.stopping:
            return self.inflight.borrowed_tokens == 0
        return len(self.terminal) == len(self.jobs)

    def _poke(self) -> None:
        self.dirty = True
        self.changed.set()

    async def _watch_stop(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.interrupted = True
        self._stop("interrupted")

    def _stop(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            self.emit(Event("stopping", data={"reason": reason, "in_flight": len(self.tracked)}))
        self._poke()

    # ---------------------------------------------------------------- resume

    async def _recover(self) -> None:
        """Pick up where a previous run left off: adopt, re-attach, re-download, queue."""
        for state in self.journal.jobs():
            job = self.jobs.get(state.key)
            if job is None:
                continue
            if state.status == "complete":
                self._complete_known(job)
            elif state.status == "failed":
                self.journal.reopen(job.key)  # a new run gives failed jobs a fresh chance
            elif state.status == "submitted" and state.remote_id:
                await self.inflight.acquire_on_behalf_of(job.key)
                self._track(job, state.remote_id)
            elif state.status == "submitting":
                await self.inflight.acquire_on_behalf_of(job.key)
                body = state.request if state.request is not None else dict(job.body)
                found = await self._reconcile(job, body, state.started_at or 0.0)
                if found is not None:
                    self.journal.mark_submitted(job.key, found.id, found.credits)
                    self.emit(Event("adopted", job.key, job.stage, {"remote_id": found.id}))
                    self._track(job, found.id)
                else:
                    self.journal.mark_absent(job.key)
                    self.inflight.release_on_behalf_of(job.key)
        for job in self.plan.jobs:
            if job.key not in self.terminal and self._upstream_ready(job) and not self._busy(job):
                self._enqueue(job)

    def _busy(self, job: Job) -> bool:
        return job.key in self.tracked_keys

    def _complete_known(self, job: Job) -> None:
        """A job complete in the journal: make sure its files are on disk, then it is done."""
        self.terminal.add(job.key)
        for out in self.journal.outputs(job.key):
            if out.url and not self._on_disk(out.path, out.bytes if out.sha256 else None):
                self._start_download(job, out.index, out.url, out.path, out.sha256)

    def _on_disk(self, path: str, size: int | None) -> bool:
        """Whether a verified output is still in place (same size as when it was verified)."""
        if size is None:
            return False
        try:
            return (self.plan.output_dir / path).stat().st_size == size
        except OSError:
            return False

    def _upstream_ready(self, job: Job) -> bool:
        if job.upstream is None:
            return True
        if job.upstream.key in self.failed:
            return False
        return self.journal.job(job.upstream.key).status == "complete"

    def _enqueue(self, job: Job) -> None:
        """Queue ``job`` for submission, once: never while queued, in flight or done."""
        if job.key in self.queued or job.key in self.terminal or self._busy(job):
            return
        self.queued.add(job.key)
        self.ready_tx.send_nowait(job)

    # ---------------------------------------------------------------- submitting

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
            await self.create_limits[job.endpoint].acquire()
            await self.global_limit.acquire()
            started_at = time.time()
            self.journal.mark_submitting(job.key, body)
            try:
                created = await self.client.create(job.endpoint, body)
            except RateLimitedError as e:
                self.journal.mark_absent(job.key)  # a 429 created nothing
                pause = e.retry_after_s or _backoff_s(attempt, self.rng) * self.options.time_scale
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

    def _release(self, job: Job) -> None:
        self.reserved.pop(job.key, None)
        self.inflight.release_on_behalf_of(job.key)
        self._poke()

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

    # ---------------------------------------------------------------- no double spend

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

    def _adopted(self, job: Job, remote_id: str) -> Created:
        """A job found remotely. Listings do not show what a job cost, so its charge is taken
        to be its price (the calculator's quote, which the API charges)."""
        return Created(remote_id, self.priced.credits.get(job.key), None, None)

    def _root_generation(self, job: Job) -> str | None:
        """The generation whose image a variation job (ultimately) transforms."""
        current: Job | None = job
        while current is not None and current.upstream is not None:
            up = self.jobs.get(current.upstream.key)
            if up is None:
                return None
            if up.kind == "image":
                return self.journal.job(up.key).remote_id
            current = up
        return None

    # ---------------------------------------------------------------- tracking completion

    def _track(self, job: Job, remote_id: str) -> None:
        parent = self._root_generation(job) if job.kind in VARIATION_KINDS else None
        self.tracked[remote_id] = _Tracked(job, remote_id, anyio.current_time(), parent)
        self.tracked_keys.add(job.key)
        self._poke()

    def _expected_s(self, kind: str) -> float:
        seen = self.durations.get(kind)
        if seen:
            return sum(seen[-20:]) / len(seen[-20:])
        return (30.0 if kind in VIDEO_KINDS else 6.0) * self.options.time_scale

    def _poll_interval(self) -> float:
        if not self.tracked:
            return 0.05 * self.options.time_scale + 0.01
        # One listing covers every slot's job: polling every 0.3 job durations costs about
        # 1 / (0.3 * slots) status requests per job (0.33 at 10 slots), while the headroom keeps
        # the server's queue fed through the detection delay.
        shortest = min(self._expected_s(t.job.kind) for t in self.tracked.values())
        low = 0.02 * self.options.time_scale
        # With webhooks, polling is only a sweep for callbacks that never came.
        factor = 3.0 if self.webhooks else 0.3
        return min(max(shortest * factor, low), self.options.max_poll_interval_s)

    async def _tracker(self) -> None:
        while True:
            await anyio.sleep(self._poll_interval())
            if not self.tracked:
                continue
            try:
                await self._poll_generations()
                await self._poll_others()
            except TransientError as e:
                self.emit(Event("retry", data={"reason": f"status poll: {e}"}))

    async def _poll_generations(self) -> None:
        pending = {rid: t for rid, t in self.tracked.items() if t.job.kind in GENERATION_KINDS}
        if not pending:
            return
        seen: set[str] = set()
        offset = 0
        limit = 50
        for _page in range(4):
            await self.global_limit.acquire()
            page = await self.client.list_generations(self.user_id, offset=offset, limit=limit)
            for gen in page:
                if gen.id in pending:
                    seen.add(gen.id)
                    await self._observe_generation(pending[gen.id], gen)
            if len(seen) == len(pending) or len(page) < limit:
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
            if tracked.job.kind in GENERATION_KINDS:
                continue
            expected = self._expected_s(tracked.job.kind)
            due = tracked.submitted_at + expected * (0.9 + 0.35 * tracked.polls)
            if now < due:
                continue
            tracked.polls += 1
            await self.global_limit.acquire()
            if tracked.job.kind == "video-upscale":
                var = await self.client.get_motion_variation(rid)
            else:
                var = await self.client.get_variation(rid)
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
        self.inflight.release_on_behalf_of(job.key)
        self._lost(job, f"the server no longer knows job {tracked.remote_id}")

    def _lost(self, job: Job, why: str) -> None:
        """Render ``job`` again: the server lost it (deleted, or an emulator that is gone)."""
        self.journal.mark_lost(job.key, why)
        self.terminal.discard(job.key)
        self.emit(Event("lost", job.key, job.stage, {"reason": why}))
        self._enqueue(job)
        self._poke()

    async def _remote_gone(self, job: Job) -> bool:
        """Whether the server proves it no longer has ``job`` (a transient error proves nothing)."""
        remote_id = self.journal.job(job.key).remote_id
        if remote_id is None:
            return False
        try:
            if job.kind in GENERATION_KINDS:
                return await self.client.get_generation(remote_id) is None
            if job.kind == "video-upscale":
                return await self.client.get_motion_variation(remote_id) is None
            if job.kind in VARIATION_KINDS:
                return await self.client.get_variation(remote_id) is None
        except TransientError:
            return False
        return False

    async def _on_callback(self, callback: Callback) -> None:
        """A webhook said a generation finished: act on it as a poll would have."""
        tracked = self.tracked.get(callback.generation_id)
        if tracked is None:
            return
        if callback.status == "COMPLETE" and len(callback.images) < tracked.job.outputs:
            return  # a thin callback: let the poll read the full generation
        images = tuple(
            GeneratedImage(i.id, i.url, i.nsfw, i.motion_mp4_url, ()) for i in callback.images
        )
        gen = Generation(
            callback.generation_id, callback.status, None, None, None, None, None, None, images
        )
        self.emit(Event("callback", tracked.job.key, tracked.job.stage))
        await self._observe_generation(tracked, gen)

    async def _observe_generation(self, tracked: _Tracked, gen: Generation) -> None:
        if gen.status == "PENDING" or self.tracked.get(tracked.remote_id) is not tracked:
            return  # still running, or already settled (a callback and a poll both saw it)
        if gen.status != "COMPLETE":
            await self._failed_remote(tracked)
            return
        job = tracked.job
        outputs: list[tuple[str, str, bool]] = []
        for image in gen.images:
            url = image.motion_mp4_url if job.kind in VIDEO_KINDS else image.url
            if url:
                outputs.append((image.id, url, image.nsfw))
        if len(outputs) < job.outputs:
            await self._failed_remote(tracked, f"{len(outputs)} of {job.outputs} outputs")
            return
        await self._completed(tracked, outputs[: job.outputs])

    async def _completed(self, tracked: _Tracked, outputs: list[tuple[str, str, bool]]) -> None:
        job = tracked.job
        self.durations[job.kind].append(anyio.current_time() - tracked.submitted_at)
        for idx, (remote_id, url, nsfw) in enumerate(outputs):
            path = job.paths[idx] if idx < len(job.paths) else f"{job.stage}/{job.key[:12]}-{idx}"
            self.journal.record_output(
                job.key,
                idx,
                remote_id=remote_id,
                url=url,
                path=path,
                media_type=_media_type(job, url),
                nsfw=nsfw,
            )
        self.journal.mark_complete(job.key)
        self.fresh.add(job.key)
        del self.tracked[tracked.remote_id]
        self.tracked_keys.discard(job.key)
        self.inflight.release_on_behalf_of(job.key)
        self.emit(Event("complete", job.key, job.stage, {"outputs": len(outputs)}))
        for idx, (_rid, url, _nsfw) in enumerate(outputs):
            self._start_download(job, idx, url, job.paths[idx], None)
        self._done(job)

    def _done(self, job: Job) -> None:
        self.terminal.add(job.key)
        for child in self.downstream.get(job.key, ()):
            if child.key not in self.terminal:
                self._enqueue(child)
        self._poke()

    async def _failed_remote(self, tracked: _Tracked, why: str = "the job ended FAILED") -> None:
        job = tracked.job
        del self.tracked[tracked.remote_id]
        self.tracked_keys.discard(job.key)
        self.inflight.release_on_behalf_of(job.key)
        failures = self.journal.job(job.key).failures + 1
        final = failures > self.retries
        charged = self.journal.attempts(job.key)[-1].credits_charged or 0
        # The API refunds a FAILED job (pricing-facts §5): the attempt's charge goes back.
        self.journal.mark_failed(job.key, why, final=final, refunded=True)
        self.charged_this_run -= charged
        if final:
            self._fail(job, why, final=True)
        else:
            self.emit(Event("retry", job.key, job.stage, {"reason": why, "failures": failures}))
            self._enqueue(job)
        self._poke()

    def _fail(self, job: Job, why: str, *, final: bool) -> None:
        if final:
            self.failed.add(job.key)
            self.terminal.add(job.key)
            self.emit(Event("failed", job.key, job.stage, {"error": why}))
            for child in self.downstream.get(job.key, ()):
                if child.key not in self.terminal:
                    self._fail(child, f"upstream {job.stage} job failed", final=True)
        self._poke()

    # ---------------------------------------------------------------- downloads

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
            async with self.downloads:
                media: Literal["image", "video"] = "video" if job.kind in VIDEO_KINDS else "image"
                got = await download(
                    self.http,
                    url,
                    self.plan.output_dir / path,
                    media=media,
                    expected_sha256=expected_sha256,
                )
            if self._current(job, idx, url):
                self.journal.record_download(job.key, idx, sha256=got.sha256, size=got.bytes)
                self.emit(
                    Event("downloaded", job.key, job.stage, {"path": path, "bytes": got.bytes})
                )
        except (TransientError, NotFoundError) as e:
            if not self._current(job, idx, url):
                pass  # the job was rendered again meanwhile: this output is not its any more
            elif await self._remote_gone(job):
                if self._current(job, idx, url):
                    self._lost(job, f"output {path} could not be fetched and the job is gone")
            else:
                self.missing_downloads += 1
                self.emit(Event("failed", job.key, job.stage, {"error": f"download {path}: {e}"}))
        finally:
            self.downloads_pending -= 1
            self._poke()

    def _current(self, job: Job, idx: int, url: str) -> bool:
        """Whether output ``idx`` of a complete ``job`` is still the one at ``url``."""
        if self.journal.job(job.key).status != "complete":
            return False
        return any(o.index == idx and o.url == url for o in self.journal.outputs(job.key))

    # ---------------------------------------------------------------- manifest and result

    async def _manifest_loop(self) -> None:
        while True:
            await anyio.sleep(self.options.manifest_interval_s)
            if self.dirty:
                self._write_manifest()

    def _write_manifest(self) -> None:
        self.dirty = False
        self.manifest.write(self.journal)

    def _result(self) -> RunResult:
        complete = sum(
            1 for s in self.journal.jobs() if s.status == "complete" and s.key in self.jobs
        )
        failed = len(self.failed)
        return RunResult(
            jobs=len(self.jobs),
            complete=complete,
            failed=failed,
            pending=len(self.jobs) - complete - failed,
            missing_downloads=self.missing_downloads,
            credits_charged=self.journal.summary().credits_charged,
            interrupted=self.interrupted,
            stop_reason=self.stop_reason,
        )


def _backoff_s(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s ... capped at 30 s."""
    return rng.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))


def _media_type(job: Job, url: str) -> str:
    if job.kind in VIDEO_KINDS:
        return "video/mp4"
    if url.lower().split("?")[0].endswith(".png"):
        return "image/png"
    return "image/jpeg"


def _result_data(result: RunResult) -> dict[str, Any]:
    return {
        "jobs": result.jobs,
        "complete": result.complete,
        "failed": result.failed,
        "pending": result.pending,
        "missing_downloads": result.missing_downloads,
        "credits_charged": result.credits_charged,
        "interrupted": result.interrupted,
        "stop_reason": result.stop_reason,
    }
