"""Submission: within slots, rate limits and budget, journaled first, reconciled when ambiguous."""

from __future__ import annotations

import heapq
import time
from decimal import Decimal
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
from leobatch.pricing.classes import price_request
from leobatch.pricing.money import CREDITS, Cost, Unit, format_usd, parse_cost
from leobatch.run._state import _backoff_s, is_generation, is_variation
from leobatch.run._track import Tracking
from leobatch.run.account_records import shared_upload, store_upload
from leobatch.run.events import Event
from leobatch.run.inputs import fill_body
from leobatch.run.reconcile import (
    Claimant,
    confusable,
    generation_candidates,
    variation_candidates,
)


class Submitting(Tracking):
    """The engine's submitter: ready jobs out to the API, never twice."""

    async def _submitter(self) -> None:
        while True:
            # A slot first, then the job: the most urgent one ready at the moment a slot frees
            # (deepest stage first), not the one that happened to be next when we began waiting.
            # The submitter is the only task taking slots once the run is under way, so the
            # slot seen free here is still free below.
            await self.inflight.acquire_on_behalf_of(_SLOT_PROBE)
            self.inflight.release_on_behalf_of(_SLOT_PROBE)
            while not self.ready or self._roots_wait():
                self.wake = anyio.Event()  # set by a job becoming ready or a slot freed
                await self.wake.wait()
            *_, job = heapq.heappop(self.ready)
            self.queued.discard(job.key)
            if self.stopping:
                continue
            self.inflight.acquire_on_behalf_of_nowait(job.key)
            self._hold(job)
            if self.stopping or not self._reserve(job):
                self._free_slot(job)
                continue
            self.tg.start_soon(self._submit, job)

    def _roots_wait(self) -> bool:
        """Whether the most urgent ready job is a root job that must wait for a root's slot.

        In a pipeline, root jobs keep only a little of the headroom: the server runs its queue
        first in, first out, so a downstream job sent behind a full queue would wait a whole
        job's length before it even starts. A root job also waits while all the jobs in flight
        (downstream ones too) fill the root cap plus half the headroom left above it: the
        server's queue stays short and holds mostly downstream work, and still holds enough to
        keep the slots busy while completions are being noticed. Measured on a 3-stage pipeline
        (10 slots): a gate at the root cap itself gave the same first final output but a 20%
        longer run (utilisation 0.68); at the cap plus half the rest, 0.92-0.96.
        Finished assets stream out early.
        """
        if self.root_cap is None or self.ready[0][0]:
            return False
        room = (int(self.inflight.total_tokens) - self.root_cap) // 2
        return self.roots_holding >= self.root_cap or len(self.holding) >= self.root_cap + room

    def _reserve(self, job: Job) -> bool:
        """Reserve what ``job`` may cost, or say no (stopping the run when over the budget).

        Money is counted in the account's unit (``self.unit``). A job of unknown price in that
        unit reserves the highest charge seen for its price class, else the recipe's stated
        ceiling (``budget.unknown_job_ceiling`` / ``unknown_job_ceiling_usd``): then the budget
        holds as long as no job costs more than the ceiling. With neither and a budget in this
        unit, the job is not sent (the run stops and says which ceiling to state): nothing
        bounds what it may cost, so it could pass the budget. With neither and no budget, it is
        a *probe*: one probe's create is out at a time, and its charge sets the class's ceiling.
        """
        unit = self.unit
        estimate = self.priced.in_unit(job.key, unit)
        probe = False
        if estimate is None:
            estimate = self.ceilings.get((unit, _unknown_class(job)))
            if estimate is None:
                estimate = self.stated_ceiling.get(unit)
                budget = self._budget_in(unit)
                if estimate is None and budget is not None:
                    field = "unknown_job_ceiling" + ("" if unit == CREDITS else "_usd")
                    money = "credits" if unit == CREDITS else "dollars"
                    self._stop(
                        f"budget: a {job.stage} job has no known price in {money}, so nothing "
                        f"bounds it against the budget of {_said(budget, unit, bare=True)}; "
                        f"state budget.{field} (the most such a job may cost) to let it run"
                    )
                    return False
                if estimate is None:
                    if self.probing is not None:
                        self.deferred.append(job)  # sent once the probe's charge is known
                        return False
                    probe, estimate = True, Decimal(0)
        # The budget is the run's, over every account it uses (``peers``: one engine each);
        # the balance is this account's own.
        committed = self._committed() + estimate
        spent = committed + sum(p._committed() for p in self.peers if p is not self)
        already = self.charged_before + sum(p.settled_before for p in self.peers)
        budget = self._budget_in(unit)
        if budget is not None:
            left = budget - already - spent
            if left < 0:
                reason = (
                    f"budget: {_said(already + spent, unit)} would pass the budget of "
                    f"{_said(budget, unit, bare=True)}"
                )
                for engine in self.peers:  # the budget stops the whole run
                    engine._stop(reason)
                return False
        balance = self._balance_in(unit)
        if balance is not None and committed > balance:
            where = f" of account {self.account_label}" if len(self.peers) > 1 else ""
            self._stop(
                f"balance: {_said(committed, unit)} would pass the balance{where} of "
                f"{_said(balance, unit, bare=True)}"
            )
            return False
        self.reserved[job.key] = estimate
        if probe:
            self.probing = job.key
        return True

    def _probe_settled(self, job: Job) -> None:
        """The probe's create is answered (or abandoned): send what waited for it."""
        if self.probing != job.key:
            return
        self.probing = None
        waiting, self.deferred = self.deferred, []
        for other in waiting:
            self._enqueue(other)

    def _learn_charge(self, job: Job, cost: Cost | None) -> None:
        """A charge of a job the plan could not price (in that unit) sets its class's ceiling."""
        if cost is not None and self.priced.in_unit(job.key, cost.unit) is None:
            key = (cost.unit, _unknown_class(job))
            self.ceilings[key] = max(cost.amount, self.ceilings.get(key, Decimal(0)))

    def _adopted(self, job: Job, remote_id: str) -> Created:
        """As :meth:`EngineState._adopted`; a job of no known price and no reservation (found
        at start-up) is charged its class's price when a charge of that class was seen."""
        created = super()._adopted(job, remote_id)
        if created.cost_amount is None and created.credits is None:
            ceiling = self.ceilings.get((self.unit, _unknown_class(job)))
            if ceiling is not None:
                cost = Cost(ceiling, self.unit)
                return Created(remote_id, cost.whole_credits, str(ceiling), self.unit)
        return created

    def _settle_journal(self) -> None:
        """Jobs an earlier run adopted with no known charge (journaled with none): charged
        their class's price if a charge of the class is known by now, else settled by this
        run's first charge of the class (:meth:`_settle_adopted`). Jobs the plan prices, or
        whose charge was reported, are left as they are."""
        for state in self.journal.jobs():
            job = self.jobs.get(state.key)
            if job is None or state.attempt < 1 or state.status not in ("submitted", "complete"):
                continue
            if state.credits_charged is not None or state.usd_charged is not None:
                continue
            if self.priced.in_unit(job.key, self.unit) is not None:
                continue
            key = (self.unit, _unknown_class(job))
            ceiling = self.ceilings.get(key)
            if ceiling is None:
                self.unsettled.setdefault(key, []).append((job.key, state.attempt))
                continue
            cost = Cost(ceiling, self.unit)
            self.journal.record_charge(job.key, cost.whole_credits, cost)
            self.settled_before += ceiling
            self.emit(Event("charge-settled", job.key, job.stage,
                            {"cost": str(ceiling), "unit": self.unit}))  # fmt: skip

    def _settle_adopted(self, job: Job, cost: Cost) -> None:
        """``job``'s class was just charged ``cost``: the jobs of that class adopted with no
        known charge (a ghost create of the class's first job) were charged the same. Only an
        attempt still current and not refunded (submitted or complete) is settled."""
        waiting = self.unsettled.pop((cost.unit, _unknown_class(job)), [])
        for key, attempt in waiting:
            state = self.journal.job(key)
            if state.attempt != attempt or state.status not in ("submitted", "complete"):
                continue
            self.journal.record_charge(key, cost.whole_credits, cost)
            self.charged_this_run += cost.amount
            self.emit(Event("charge-settled", key, state.stage, {"cost": str(cost.amount),
                                                                 "unit": cost.unit}))  # fmt: skip

    def _record_price(self, job: Job, cost: Cost) -> None:
        """Teach the account's price book what ``job``'s class costs (one row per attempt;
        written with the journal's flush, see ``_Engine._save_book``)."""
        if self.book is None:
            return
        attempt = self.journal.attempt_of(job.key)
        self.book.record(self.account, _unknown_class(job), cost, f"{job.key}:{attempt}")

    async def _submit(self, job: Job) -> None:
        try:
            await self._submit_once(job)
        finally:
            self._probe_settled(job)

    async def _submit_once(self, job: Job) -> None:
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
        body = await self._prepared_body(job)
        if body is None:
            return
        claimant = Claimant(job, body, self._variation_root(job))
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and self.stopping:
                # Stopping (Ctrl-C, budget): the job was proven absent; the next run sends it.
                self._release(job)
                return
            # One ambiguity at a time: no create goes out while a job a listing row could
            # confuse with this one has a create whose outcome is unknown (reconcile.py).
            await self._take_turn(claimant)
            try:
                await self.create_limits[job.endpoint].acquire()
                await self.global_limit.acquire()
                # From here until its outcome is journaled the job is "sending": a stopping
                # run waits for it; a job still waiting for a rate token is simply cancelled.
                self.sending += 1
                try:
                    outcome = await self._send(job, body, claimant, attempt)
                finally:
                    self.sending -= 1
                    self._poke()
            finally:
                self._end_turn(claimant)
            if outcome is None:
                continue
            if outcome is _GIVEN_UP:
                return
            assert isinstance(outcome, Created)
            break
        self._accept(job, outcome)

    async def _send(
        self, job: Job, body: dict[str, Any], claimant: Claimant, attempt: int
    ) -> Created | object | None:
        """One create: what it made (sent or adopted), None to try again, or _GIVEN_UP."""
        started_at = time.time()
        self.journal.mark_submitting(job.key, body, self.account)
        try:
            created = await self.client.create(job.endpoint, body)
            self.estimated_charge.discard(job.key)  # (an earlier attempt may have been adopted)
            return created
        except RateLimitedError as e:
            self.journal.mark_absent(job.key)  # a 429 created nothing
            pause = e.retry_after_s or _backoff_s(attempt, self.rng) * self.options.time_scale
            self.create_limits[job.endpoint].pause(pause)
            self.emit(Event("rate-limited", job.key, job.stage, {"pause_s": pause}))
            return None
        except TransientError as e:
            try:
                found = await self._reconcile(claimant, started_at)
            except _Undecided:
                # Stopping with the listing unreachable: the job stays journaled *submitting*
                # and the next run reconciles it; resubmitting now could pay twice.
                self._release(job)
                return _GIVEN_UP
            if found is None:
                self.journal.mark_absent(job.key)
                self.emit(Event("retry", job.key, job.stage, {"reason": str(e)}))
                await anyio.sleep(_backoff_s(attempt, self.rng) * self.options.time_scale)
                return None
            self.emit(Event("adopted", job.key, job.stage, {"remote_id": found.id}))
            return found
        except InsufficientCreditsError as e:
            self.journal.mark_absent(job.key)
            self._release(job)
            self._stop(f"insufficient credits: {e}")
            return _GIVEN_UP
        except (ApiValidationError, ModerationError, NotFoundError) as e:
            # Refused: nothing was created or charged, and asking again cannot help.
            self.journal.mark_failed(job.key, str(e), final=True)
            self._release(job)
            self._fail(job, str(e), final=True)
            return _GIVEN_UP

    def _accept(self, job: Job, created: Created) -> None:
        """Journal what a create made (or what was adopted) and start tracking it."""
        self._claim(job, created.id)
        cost = parse_cost(created.cost_amount, created.cost_unit, created.credits)
        if cost is not None and cost.unit != self.unit:
            # /me did not say how the account is billed, the charges do: count in their unit
            # from now on (reservations already made stay until their jobs settle).
            self.emit(Event("billing-unit", data={"unit": cost.unit, "was": self.unit}))
            self.unit = cost.unit
        self._learn_charge(job, cost)
        credits = None if cost is None else cost.whole_credits
        self.journal.mark_submitted(job.key, created.id, credits, cost)
        self.reserved.pop(job.key, None)
        if cost is None and job.key in self.estimated_charge:
            attempt = self.journal.attempt_of(job.key)
            self.unsettled.setdefault((self.unit, _unknown_class(job)), []).append(
                (job.key, attempt)
            )
        if cost is not None:
            self.charged_this_run += cost.amount
            if job.key not in self.estimated_charge:
                self._record_price(job, cost)
                self._settle_adopted(job, cost)
        data: dict[str, Any] = {"remote_id": created.id, "credits": credits}
        if cost is not None:
            data["cost"] = {"amount": str(cost.amount), "unit": cost.unit}
        self.emit(Event("submitted", job.key, job.stage, data))
        if job.kind == "improve-prompt":
            self.journal.record_text(job.key, created.text or "")
            self.journal.mark_complete(job.key)
            self._release(job)
            self._done(job)
            return
        self._track(job, created.id)

    async def _prepared_body(self, job: Job) -> dict[str, Any] | None:
        """The job's request with its runtime ids filled in (uploads retried: they are free)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._resolve_body(job)
            except TransientError as e:
                if self.stopping or attempt >= 8:
                    self._release(job)
                    if not self.stopping:
                        self._fail(job, f"could not prepare inputs: {e}", final=True)
                    return None
                self.emit(Event("retry", job.key, job.stage, {"reason": f"inputs: {e}"}))
                await anyio.sleep(_backoff_s(attempt, self.rng) * self.options.time_scale)

    async def _take_turn(self, claimant: Claimant) -> None:
        while any(
            key != claimant.job.key and confusable(claimant, other)
            for key, other in self.unresolved.items()
        ):
            await self.turn_over.wait()
        self.unresolved[claimant.job.key] = claimant

    def _end_turn(self, claimant: Claimant) -> None:
        if self.unresolved.pop(claimant.job.key, None) is not None:
            self.turn_over.set()
            self.turn_over = anyio.Event()

    def _variation_root(self, job: Job) -> str | None:
        return self._root_generation(job) if is_variation(job) else None

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
        """The init-image id of a local file: this recipe's upload, else one any recipe of the
        account made (if the API still knows it), else a new upload, recorded in both."""
        async with self.upload_locks[sha256]:
            account = self.account
            known = self.journal.upload_for(sha256)
            shared = await anyio.to_thread.run_sync(shared_upload, account, sha256)
            if known is not None and shared == known:
                return known
            # Otherwise ask the API first: the account's record may be another recipe's upload,
            # and a journaled id with no record may have been deleted (`clean --force`).
            path = self.recipe_dir / rel_path
            ext = path.suffix.lower().lstrip(".")
            for candidate in dict.fromkeys(i for i in (shared, known) if i is not None):
                await self.global_limit.acquire()
                if await self.client.get_init_image(candidate) is not None:
                    self.journal.record_upload(sha256, candidate, ext)
                    await anyio.to_thread.run_sync(store_upload, account, sha256, candidate, ext)
                    return candidate
            data = await anyio.Path(path).read_bytes()
            await self.global_limit.acquire()
            upload_id = await self.client.upload_init_image(data, ext)
            self.journal.record_upload(sha256, upload_id, ext)
            await anyio.to_thread.run_sync(store_upload, account, sha256, upload_id, ext)
            return upload_id

    async def _reconcile(self, claimant: Claimant, started_at: float) -> Created | None:
        """After an ambiguous create: the job the server made for us, or None if proven absent.

        Listing errors are retried (with backoff) for as long as the run goes on: only proof of
        absence allows a resubmission. A stopping run gives up after a few tries (``_Undecided``).
        """
        job = claimant.job
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.global_limit.acquire()
                if is_generation(job):
                    rows = await generation_candidates(
                        self.client, self.user_id, job, claimant.body, started_at
                    )
                elif is_variation(job):
                    if claimant.root is None:
                        return None
                    rows = await variation_candidates(
                        self.client, claimant.root, job, claimant.body
                    )
                else:
                    return None  # improve-prompt and video upscale leave nothing to search
            except TransientError as e:
                if self.stopping and attempt >= 3:
                    raise _Undecided from e
                self.emit(Event("retry", job.key, job.stage, {"reason": f"reconcile: {e}"}))
                await anyio.sleep(_backoff_s(attempt, self.rng) * self.options.time_scale)
                continue
            # No await from here on: looking at the claims and taking one is a single step.
            for remote_id in rows:
                if remote_id not in self.claimed:
                    self._claim(job, remote_id)
                    return self._adopted(job, remote_id)
            return None


def _said(amount: Decimal, unit: Unit, *, bare: bool = False) -> str:
    """``1200 credits`` (``1200`` when ``bare``) or ``USD 0.2094``, for stop reasons."""
    if unit == CREDITS:
        return f"{int(amount)}" if bare else f"{int(amount)} credits"
    return format_usd(amount)


def _unknown_class(job: Job) -> str:
    """The price class of a job the plan could not price (its calculator request, or kind)."""
    request = price_request(job)
    return request.class_key if request is not None else f"kind:{job.kind}"


#: Who borrows a slot for the instant the submitter checks that one is free.
_SLOT_PROBE = object()


class _Undecided(Exception):
    """Reconciliation could not reach the API and the run is stopping."""


#: ``_send``'s answer when the job is settled otherwise (failed, stopped, left for next run).
_GIVEN_UP = object()
