"""The state of one run, and the small steps every part of the engine takes on it.

The engine is built in layers, each a class over the one before (state -> downloads ->
tracking -> submitting -> engine): one object per run, each module one concern.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import anyio
import httpx
from anyio.abc import TaskGroup

from leobatch.api.client import Created, LeonardoClient
from leobatch.errors import LeobatchError, TransientError
from leobatch.manifest import ManifestWriter
from leobatch.plan.jobs import Job
from leobatch.pricing.money import CREDITS, DOLLARS, Cost, Unit, format_amount
from leobatch.pricing.priced import PricedPlan
from leobatch.run.events import Event, EventSink
from leobatch.run.journal import Journal
from leobatch.run.limits import RateLimiter
from leobatch.run.options import RunOptions

if TYPE_CHECKING:
    from leobatch.pricing.book import PriceBook
    from leobatch.run.reconcile import Claimant

GENERATION_KINDS = frozenset({"image", "text-to-video", "image-to-video", "motion-svd"})
VARIATION_KINDS = frozenset({"upscale", "unzoom", "nobg", "universal-upscale"})
VIDEO_KINDS = frozenset({"text-to-video", "image-to-video", "motion-svd", "video-upscale"})
#: The one create of the v2 surface: every v2 job (image, video, remove-bg, Pro Upscaler) is a
#: *generation*, whatever its stage kind, read through the v1 GET and listing (api-v2-facts 4).
V2_ENDPOINT = "/v2/generations"


def is_v2(job: Job) -> bool:
    """Whether ``job`` is sent to the v2 surface."""
    return job.endpoint == V2_ENDPOINT


def is_generation(job: Job) -> bool:
    """Whether ``job``'s result is a generation (listed, polled at ``/generations/{id}``)."""
    return job.kind in GENERATION_KINDS or is_v2(job)


def is_variation(job: Job) -> bool:
    """Whether ``job``'s result is a v1 variation (filed under its root generation's image)."""
    return job.kind in VARIATION_KINDS and not is_v2(job)


def is_video(job: Job) -> bool:
    """Whether ``job``'s outputs are videos (a v2 video job has a video stage kind)."""
    return job.kind in VIDEO_KINDS


class ClaimConflict(LeobatchError):
    """Two jobs were about to own one remote result: refused, never silently merged."""


@dataclass(slots=True)
class _Tracked:
    job: Job
    remote_id: str
    submitted_at: float  # anyio clock
    parent_generation: str | None  # variations: the generation whose image they transform
    polls: int = 0
    misses: int = 0  # polls by id that found no such job


class EngineState:
    """Plan, client, journal, limits and the bookkeeping of what is queued, in flight and done."""

    # Set when the run starts (the engine's ``execute``), once the account is known.
    tg: TaskGroup
    user_id: str
    balance: int | None
    # Money is kept in the account's billing unit (``unit``: CREDITS, or DOLLARS on a PAYG
    # account), as Decimal; a price known only in the other unit is unknown to this run.
    unit: Unit = CREDITS
    balance_usd: Decimal | None = None
    account: str = ""  # the account's fingerprint (leobatch.account_store), for the price book
    charged_before: Decimal
    inflight: anyio.CapacityLimiter
    create_limits: defaultdict[str, RateLimiter]
    global_limit: RateLimiter
    downloads: anyio.CapacityLimiter
    http: httpx.AsyncClient
    manifest: ManifestWriter

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
        # The jobs this run renders: the plan's, or the selection's (closed upstream). The
        # journal and the manifest still cover the whole plan.
        select = set(options.select) if options.select is not None else None
        if select is not None:  # close it upstream (upstream jobs come first in a plan)
            for job in reversed(self.plan.jobs):
                if job.key in select and job.upstream is not None:
                    select.add(job.upstream.key)
        self.jobs: dict[str, Job] = {
            job.key: job for job in self.plan.jobs if select is None or job.key in select
        }
        self.downstream: dict[str, list[Job]] = defaultdict(list)
        for job in self.jobs.values():
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
        self.budget_usd = self.plan.budget_usd
        #: what a job of unknown price reserves while no charge of its class is known
        self.stated_ceiling: dict[Unit, Decimal | None] = {
            CREDITS: None
            if self.plan.unknown_job_ceiling is None
            else Decimal(self.plan.unknown_job_ceiling),
            DOLLARS: self.plan.unknown_job_ceiling_usd,
        }
        self.book: PriceBook | None = None
        self.recipe_dir = self.plan.recipe_path.parent
        self.rng = random.Random()
        # run state
        self.tracked: dict[str, _Tracked] = {}
        # Every remote id a job of this journal owns or owned (any attempt): a remote result
        # belongs to at most one job; reconciliation may adopt only an unclaimed one.
        self.claimed: dict[str, str] = {}
        # Jobs whose create is out with no known outcome (sending, or reconciling), and the
        # event that fires when one of them settles: see Submitting._take_turn.
        self.unresolved: dict[str, Claimant] = {}
        self.turn_over = anyio.Event()
        self.tracked_keys: set[str] = set()
        self.queued: set[str] = set()
        self.sending = 0  # jobs between their journaled submitting and its outcome
        self.fresh: set[str] = set()  # jobs completed during this run (their ids are current)
        self.reserved: dict[str, Decimal] = {}
        # Unknown prices: the highest charge seen per (unit, price class), the one job of
        # unknown price whose create is out to learn one (its key), and the jobs waiting for it.
        self.ceilings: dict[tuple[str, str], Decimal] = {}
        self.probing: str | None = None
        self.deferred: list[Job] = []
        self.charged_this_run = Decimal(0)
        # Earlier runs' adopted jobs charged at start-up (their class's price, now known).
        self.settled_before = Decimal(0)
        # The engines of one run, one per account (this one alone on one account): they share
        # the budget. ``account_label`` names this one in messages (never the key).
        self.peers: list[EngineState] = [self]
        self.account_label = ""
        self.done = False  # this engine's run is over (see the engine's ``_lead``)
        self.estimated_charge: set[str] = set()  # adopted jobs charged at their estimate
        # Adopted jobs whose charge nobody could tell (a class with no price and no charge seen
        # yet), per (unit, price class), with the attempt adopted: settled at the class's first
        # reported charge (a class's price is the same for each of its jobs).
        self.unsettled: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self.terminal: set[str] = (
            set()
        )  # complete, failed for good, or blocked by a failed upstream
        self.failed: set[str] = set()
        self.blocked: set[str] = set()  # downstream of a job that failed for good
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
        self.hinted = anyio.Event()  # a webhook callback asked the tracker to look now
        self.tracker_wake = anyio.Event()  # something new for the tracker's schedule
        self.listing_at = 0.0  # when the next listing of generations is due (anyio clock)
        self.listing = False  # a listing of generations is out (the tracker's task)
        # Ready jobs, deepest pipeline stage first (then in the order they became ready): a
        # finished upstream output goes straight on down its pipeline, so final assets stream
        # out early instead of waiting behind every root job.
        self.ready: list[tuple[int, int, Job]] = []
        self.ready_seq = 0
        self.wake = anyio.Event()  # the submitter's: a job became ready, or a slot was freed
        self.root_cap: int | None = None  # root jobs in flight at most (pipelines; engine)
        self.holding: set[str] = set()  # jobs holding an in-flight slot
        self.roots_holding = 0  # of which root-stage jobs
        self.depth: dict[str, int] = {}
        for job in self.plan.jobs:  # upstream jobs come first in a plan
            up = job.upstream.key if job.upstream is not None else None
            self.depth[job.key] = self.depth.get(up, -1) + 1 if up is not None else 0

    def _poke(self) -> None:
        self.dirty = True
        self.changed.set()

    def _stop(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
            self.emit(Event("stopping", data={"reason": reason, "in_flight": len(self.tracked)}))
        self._poke()

    def _claim(self, job: Job, remote_id: str) -> None:
        """Record that ``remote_id`` is ``job``'s; another job's id is never taken over."""
        owner = self.claimed.setdefault(remote_id, job.key)
        if owner != job.key:
            raise ClaimConflict(
                f"remote job {remote_id} is job {owner[:12]}'s; job {job.key[:12]} may not "
                "take it (a leobatch bug: the journal is intact, please report it)"
            )

    def _busy(self, job: Job) -> bool:
        return job.key in self.tracked_keys

    def _on_disk(self, path: str, size: int | None, sha256: str | None) -> bool:
        """Whether a verified output is still in place: the size and sha256 it was verified
        with (a file damaged in place keeps its size; only its content tells)."""
        import hashlib

        if size is None or sha256 is None:
            return False
        file = self.plan.output_dir / path
        digest = hashlib.sha256()
        try:
            if file.stat().st_size != size:
                return False  # no need to read it
            with file.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            return False
        return digest.hexdigest() == sha256

    def _upstream_ready(self, job: Job) -> bool:
        if job.upstream is None:
            return True
        if job.upstream.key in self.failed or job.upstream.key in self.blocked:
            return False
        return self.journal.job(job.upstream.key).status == "complete"

    def _enqueue(self, job: Job) -> None:
        """Queue ``job`` for submission, once: never while queued, in flight or done."""
        if job.key in self.queued or job.key in self.terminal or self._busy(job):
            return
        self.queued.add(job.key)
        self.ready_seq += 1
        heapq.heappush(self.ready, (-self.depth.get(job.key, 0), self.ready_seq, job))
        self.wake.set()

    async def _take_slot(self, job: Job) -> None:
        """An in-flight slot for ``job`` (waiting for one)."""
        await self.inflight.acquire_on_behalf_of(job.key)
        self._hold(job)

    def _hold(self, job: Job) -> None:
        self.holding.add(job.key)
        if not self.depth.get(job.key, 0):
            self.roots_holding += 1

    def _free_slot(self, job: Job) -> None:
        """Give ``job``'s in-flight slot back."""
        self.inflight.release_on_behalf_of(job.key)
        if job.key in self.holding:
            self.holding.discard(job.key)
            if not self.depth.get(job.key, 0):
                self.roots_holding -= 1
        self.wake.set()

    def _release(self, job: Job) -> None:
        self.reserved.pop(job.key, None)
        self._free_slot(job)
        self._poke()

    def _done(self, job: Job) -> None:
        self.terminal.add(job.key)
        for child in self.downstream.get(job.key, ()):
            if child.key not in self.terminal:
                self._enqueue(child)
        self._poke()

    def _fail(self, job: Job, why: str, *, final: bool, refunded: int | str = 0) -> None:
        if final:
            self.failed.add(job.key)
            self.terminal.add(job.key)
            data: dict[str, object] = {"error": why}
            if refunded:
                data["refunded"] = refunded
            self.emit(Event("failed", job.key, job.stage, data))
            for child in self.downstream.get(job.key, ()):
                if child.key not in self.terminal:
                    self._block(child, f"upstream {job.stage} job failed")
        self._poke()

    def _block(self, job: Job, why: str) -> None:
        """``job`` cannot run this time: an upstream job failed for good. It stays pending in
        the journal (a later run tries it once its upstream is rendered)."""
        self.blocked.add(job.key)
        self.terminal.add(job.key)
        self.emit(Event("blocked", job.key, job.stage, {"reason": why}))
        for child in self.downstream.get(job.key, ()):
            if child.key not in self.terminal:
                self._block(child, why)

    def _lost(self, job: Job, why: str) -> None:
        """Render ``job`` again: the server lost it (deleted, or an emulator that is gone)."""
        self.journal.mark_lost(job.key, why)
        self.terminal.discard(job.key)
        self.emit(Event("lost", job.key, job.stage, {"reason": why}))
        self._enqueue(job)
        self._poke()

    def _root_generation(self, job: Job) -> str | None:
        """The generation whose image a variation job (ultimately) transforms."""
        current: Job | None = job
        while current is not None and current.upstream is not None:
            up = self.jobs.get(current.upstream.key)
            if up is None:
                return None
            if is_generation(up):  # (a v2 remove-bg or upscale is a generation too)
                return self.journal.job(up.key).remote_id
            current = up
        return None

    def _expected_s(self, kind: str) -> float:
        seen = self.durations.get(kind)
        if seen:
            return sum(seen[-20:]) / len(seen[-20:])
        return (30.0 if kind in VIDEO_KINDS else 6.0) * self.options.time_scale

    async def _remote_gone(self, job: Job) -> bool:
        """Whether the server proves it no longer has ``job`` (a transient error proves nothing)."""
        remote_id = self.journal.job(job.key).remote_id
        if remote_id is None:
            return False
        try:
            if is_generation(job):
                return await self.client.get_generation(remote_id) is None
            if job.kind == "video-upscale":
                return await self.client.get_motion_variation(remote_id) is None
            if is_variation(job):
                return await self.client.get_variation(remote_id) is None
        except TransientError:
            return False
        return False

    def _adopted(self, job: Job, remote_id: str) -> Created:
        """A job found remotely. Listings do not show what a job cost, so its charge is taken
        to be its price (the calculator's quote, which the API charges), or for a job of
        unknown price what it reserved (the highest charge seen for its class). Such a charge
        is an estimate: it is not recorded in the price book."""
        amount = self.priced.in_unit(job.key, self.unit)
        if amount is None:
            amount = self.reserved.get(job.key) or None
        self.estimated_charge.add(job.key)
        if amount is None:
            return Created(remote_id, None, None, None)
        credits = Cost(amount, self.unit).whole_credits
        return Created(remote_id, credits, str(amount), self.unit)

    def _committed(self) -> Decimal:
        """What this engine's account was charged this run, plus what its jobs in flight
        reserve."""
        return self.charged_this_run + sum(self.reserved.values())

    def _budget_in(self, unit: Unit) -> Decimal | None:
        """The recipe's (or the options') budget in ``unit``, if it has one."""
        if unit == CREDITS:
            return None if self.budget is None else Decimal(self.budget)
        return self.budget_usd

    def _balance_in(self, unit: Unit) -> Decimal | None:
        """The account's balance in ``unit`` (``None``: not known in that unit)."""
        if unit == DOLLARS:
            return self.balance_usd
        return (
            None if self.balance is None or self.balance_usd is not None else Decimal(self.balance)
        )

    def _money(self, amount: Decimal) -> str:
        """``amount`` in the run's unit, for people."""
        return format_amount(amount, self.unit)


def json_amount(amount: Decimal, unit: Unit) -> int | str:
    """An amount for an event: whole credits as a number, dollars as a decimal string."""
    if unit == CREDITS:
        return int(amount)
    return str(amount)


def _backoff_s(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s ... capped at 30 s."""
    return rng.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))


def _media_type(job: Job, url: str) -> str:
    if is_video(job):
        return "video/mp4"
    if url.lower().split("?")[0].endswith(".png"):
        return "image/png"
    return "image/jpeg"
