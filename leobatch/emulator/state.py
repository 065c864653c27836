"""The emulator's whole world: the clock, the slots, the ledger, every job and the statistics.

Jobs are scheduled when they are created: with first-in-first-out slots and durations known up
front, each job's start and finish times follow at once (a heap of slot free times), so no task
runs per job and a status request is a dictionary lookup. Completions that have effects (refunds
of FAILED jobs, webhooks) are applied by ``advance(now)``, which every request calls first.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from leobatch.emulator.config import EmulatorConfig
from leobatch.emulator.limits import Storm, TokenBucket
from leobatch.emulator.money import Money
from leobatch.emulator.records import (
    Asset,
    Generation,
    Image,
    InitImage,
    MotionVariation,
    Timing,
    Variation,
)
from leobatch.emulator.refusal import Refusal

__all__ = ["FAULTS", "EmulatorState"]

FAULTS = ("fail", "error", "ghost", "drop", "truncate", "slow")
_STORM_PERIOD_S = 10.0


def iso_now() -> str:
    """Wall-clock time as the API writes it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EmulatorState:
    """Everything one emulator knows; handlers read and change it, tests may inspect it.

    ``clock`` is the emulator's monotonic clock in real seconds (monkeypatch it to freeze time).
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.money = Money.for_billing(config.billing)
        #: balance, charged and refunded are whole minor units of the account's unit (see
        #: ``leobatch.emulator.money``): credits, or USD 0.0001 in a dollar account
        self.balance = self.money.opening(config.credits, config.usd)
        self.origin: str | None = config.public_url
        self.generations: dict[str, Generation] = {}
        self.listing: list[str] = []  # generation ids, oldest first
        self.images: dict[str, Image] = {}
        self.variations: dict[str, Variation] = {}
        self.variations_by_image: dict[str, list[str]] = {}
        self.motion_variations: dict[str, MotionVariation] = {}
        self.init_images: dict[str, InitImage] = {}
        self.init_by_key: dict[str, str] = {}  # S3 object key -> init image id
        self.uploads: dict[str, tuple[bytes, int, int]] = {}  # init image id -> bytes, w, h
        self.assets: dict[str, Asset] = {}  # CDN path -> how to draw it
        self.upload_bytes: dict[str, bytes] = {}  # CDN path -> uploaded bytes
        self.webhook_queue: deque[str] = deque()
        self._slot_free = [0.0] * config.slots
        self._starts: deque[float] = deque()
        self._due: list[tuple[float, int, str, int, bool, bool]] = []
        self._seq = 0
        seed = config.seed
        self._rng = {name: random.Random(f"{name}-{seed}") for name in (*FAULTS, "duration")}
        self._rates = {
            "fail": config.fail_rate,
            "error": config.error_rate,
            "ghost": config.ghost_rate,
            "drop": config.drop_rate,
            "truncate": config.truncate_rate,
            "slow": config.slow_rate,
        }
        self.global_bucket = TokenBucket(config.requests_per_minute, config.minute_s)
        self._create_buckets: dict[str, TokenBucket] = {}
        self.storm = Storm.seeded(config.storm, _STORM_PERIOD_S * config.time_scale, seed)
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.too_many = 0
        self.charged = 0
        self.refunded = 0
        self.calculator_calls = 0
        self.deleted: Counter[str] = Counter()  # generation / init-image id -> deletes that hit
        self.deleted_again = 0  # DELETEs of an id this emulator had already deleted
        self.deletes_unknown = 0  # DELETEs of an id it never had
        self._bodies: dict[str, list[tuple[str, bool]]] = {}
        self._timings: list[Timing] = []

    # -- clock and scheduling -------------------------------------------------------------
    def now(self) -> float:
        """The emulator clock, in real seconds."""
        return self.clock()

    def queued(self, now: float) -> int:
        """Jobs created but still waiting for a slot at ``now``."""
        starts = self._starts
        while starts and starts[0] <= now:
            starts.popleft()
        return len(starts)

    def check_queue(self, now: float) -> None:
        """Refuse a create when the pending queue (20 per slot) is full."""
        if self.queued(now) >= self.config.queue_limit:
            wait = self._starts[0] - now
            raise self.too_many_requests(
                "Too many pending generations: the queue is full, try again later", wait
            )

    def schedule(self, family: str, now: float) -> Timing:
        """Give a new job its slot: FIFO, durations from the family's base with +-30% jitter."""
        base = self.config.durations_s[family] * self.config.time_scale
        duration = base * self._rng["duration"].uniform(0.7, 1.3)
        start = max(now, heapq.heappop(self._slot_free))
        finish = start + duration
        heapq.heappush(self._slot_free, finish)
        if start > now:
            self._starts.append(start)
        failed = self.fault("fail")
        timing = Timing(now, start, finish, failed)
        self._timings.append(timing)
        return timing

    def track(self, job_id: str, timing: Timing, amount: int, is_generation: bool) -> None:
        """Register a job's completion for ``advance`` (refund of ``amount``, webhook)."""
        self._seq += 1
        entry = (timing.finish, self._seq, job_id, amount, timing.failed, is_generation)
        heapq.heappush(self._due, entry)

    def advance(self, now: float) -> None:
        """Apply the effects of every job that ended by ``now``: refunds and webhooks."""
        due = self._due
        while due and due[0][0] <= now:
            _, _, job_id, credits, failed, is_generation = heapq.heappop(due)
            if failed:
                self.balance += credits
                self.refunded += credits
            elif is_generation and self.config.webhook_url:
                self.webhook_queue.append(job_id)

    def next_due(self) -> float | None:
        """When the next job ends, if any is pending."""
        return self._due[0][0] if self._due else None

    # -- money ------------------------------------------------------------------------------
    def charge(self, amount: int) -> None:
        """Take ``amount`` (minor units of the account's unit) from the balance, or refuse as the
        real API does (nothing created).

        A dollar account is refused with the same words: the PAYG error for an empty balance is
        not documented (api-v2-facts 5.7), and the credit one is the API's own.
        """
        if amount > self.balance:
            raise Refusal(400, f"not enough api tokens userId: {self.config.user_id}")
        self.balance -= amount
        self.charged += amount

    # -- limits and faults --------------------------------------------------------------------
    def too_many_requests(self, message: str, wait_s: float) -> Refusal:
        """A 429 with the envelope, and Retry-After unless disabled."""
        self.too_many += 1
        headers = {}
        if self.config.retry_after:
            wait_s = max(wait_s, 0.001)
            headers["Retry-After"] = str(int(-(-wait_s // 1))) if wait_s >= 1 else f"{wait_s:.3f}"
        return Refusal(429, message, headers=headers)

    def check_rate(self, now: float) -> None:
        """The global request limit and the 429 storm."""
        wait = self.storm.wait(now)
        if wait > 0:
            self.faults["storm"] += 1
            raise self.too_many_requests("Rate limit exceeded, please slow down", wait)
        wait = self.global_bucket.take(now)
        if wait > 0:
            raise self.too_many_requests("Rate limit exceeded, please slow down", wait)

    def check_create_rate(self, path: str, now: float) -> None:
        """10 create requests per slot per minute on each rate-limited create endpoint."""
        bucket = self._create_buckets.get(path)
        if bucket is None:
            bucket = TokenBucket(self.config.creates_per_minute, self.config.minute_s)
            self._create_buckets[path] = bucket
        wait = bucket.take(now)
        if wait > 0:
            raise self.too_many_requests(f"Rate limit exceeded for {path}", wait)

    def set_fault_rate(self, name: str, rate: float) -> None:
        """Change a fault's rate while running (tests: "from now on every job fails")."""
        if name not in self._rates or not 0.0 <= rate <= 1.0:
            raise ValueError(f"unknown fault {name!r} or rate {rate} outside 0..1")
        self._rates[name] = rate

    def fault(self, name: str) -> bool:
        """Draw whether fault ``name`` strikes now (seeded), counting it when it does."""
        rate = self._rates[name]
        if rate <= 0.0 or self._rng[name].random() >= rate:
            return False
        self.faults[name] += 1
        return True

    # -- observation ----------------------------------------------------------------------------
    def count_delete(self, record_id: str, *, found: bool) -> None:
        """A DELETE of ``record_id``: it removed something, or the id was unknown (or gone)."""
        if found:
            self.deleted[record_id] += 1
        elif record_id in self.deleted:
            self.deleted_again += 1
        else:
            self.deletes_unknown += 1

    def _money_stats(self) -> dict[str, Any]:
        """Charges per unit: ``billing`` (``credits`` | ``dollars``); ``charged``, ``refunded``
        and ``net`` per unit (``{"CREDITS": int, "DOLLARS": "0.0000"}``, the account's own unit
        non-zero); ``credits_charged/refunded/net`` (credits, 0 in a dollar account) and
        ``usd_charged/refunded/net`` (decimal strings); ``balance`` in the account's unit
        (whole credits, or a dollar decimal string) and ``balance_unit``."""
        money, net = self.money, self.charged - self.refunded
        per_unit: dict[str, Any] = {}
        for name, minor in (("charged", self.charged), ("refunded", self.refunded), ("net", net)):
            credits = 0 if money.dollars else minor
            usd = money.amount(minor) if money.dollars else "0.0000"
            per_unit[name] = {"CREDITS": credits, "DOLLARS": usd}
            per_unit[f"credits_{name}"] = credits
            per_unit[f"usd_{name}"] = usd
        balance = money.amount(self.balance) if money.dollars else self.balance
        return {
            "billing": "dollars" if money.dollars else "credits",
            **per_unit,
            "balance": balance,
            "balance_unit": money.unit,
        }

    def record_create(self, path: str, body: dict[str, Any], job_id: str, failed: bool) -> None:
        """Count a create by its canonical body, so duplicate submissions show in the stats."""
        canonical = path + " " + json.dumps(body, sort_keys=True, separators=(",", ":"))
        self._bodies.setdefault(canonical, []).append((job_id, failed))

    def stats(self) -> dict[str, Any]:
        """What ``GET /_emulator/stats`` reports.

        ``requests`` per route (``"POST /generations"``, ``"GET /cdn"``, ...); jobs created,
        running, queued, complete, failed; ``peak_running``; ``slot_busy_s`` and ``span_s``
        (first start to last end, real seconds) and their ``utilisation`` of the slots;
        ``creates`` and ``creates_per_body`` (path plus canonical JSON body -> count), and
        ``duplicate_creates``: creates of a body while another job with that body had not
        FAILED (a FAILED job's resubmission is not a duplicate); money (``_money_stats``);
        calculator calls; 429s sent; faults injected per kind; deletes (generations and init
        images): ``deletes`` that removed something, ``deleted_twice`` (a DELETE of an id already
        deleted here), ``deletes_unknown`` (of an id never known).
        """
        now = self.now()
        self.advance(now)
        events: list[tuple[float, int]] = []
        busy = 0.0
        first = last = None
        for t in self._timings:
            end = min(t.finish, now)
            if t.start < end:
                busy += end - t.start
            if t.start <= now:
                events.append((t.start, 1))
                events.append((t.finish, -1))
                first = t.start if first is None else min(first, t.start)
                last = end if last is None else max(last, end)
        peak = running = 0
        for _, step in sorted(events):
            running += step
            peak = max(peak, running)
        span = (last - first) if first is not None and last is not None else 0.0
        per_body = {k: len(v) for k, v in self._bodies.items()}
        duplicates = sum(max(0, sum(1 for _, f in v if not f) - 1) for v in self._bodies.values())
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "jobs_created": len(self._timings),
            "jobs_running": sum(1 for t in self._timings if t.start <= now < t.finish),
            "jobs_complete": sum(1 for t in self._timings if t.finish <= now and not t.failed),
            "jobs_failed": sum(1 for t in self._timings if t.finish <= now and t.failed),
            "jobs_queued": self.queued(now),
            "peak_running": peak,
            "slots": self.config.slots,
            "slot_busy_s": busy,
            "span_s": span,
            "utilisation": busy / (self.config.slots * span) if span > 0 else 0.0,
            "creates": sum(per_body.values()),
            "distinct_bodies": len(per_body),
            "duplicate_creates": duplicates,
            "creates_per_body": per_body,
            **self._money_stats(),
            "calculator_calls": self.calculator_calls,
            "deletes": sum(self.deleted.values()),
            "deleted_twice": self.deleted_again,
            "deletes_unknown": self.deletes_unknown,
            "too_many_requests": self.too_many,
            "faults": {name: self.faults.get(name, 0) for name in (*FAULTS, "storm")},
        }
