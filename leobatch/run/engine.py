"""The run engine: a priced plan in, files and a journal out.

One anyio task group per run. A submitter feeds ready jobs to the API while the in-flight count
stays within the account's slots plus a little headroom (so the server's queue never runs dry);
a tracker polls completion in batches (one user-listing request covers many jobs); a download
pool fetches and verifies outputs; the manifest is rewritten about once a second. Every
transition is journaled *before* the engine acts on it, so a run killed at any instant resumes
without losing an output or paying twice (DESIGN §6).

The parts live in layers: ``_state`` (bookkeeping), ``_fetch`` (downloads), ``_track``
(completion), ``_submit`` (submission); this module sets a run up, resumes it and ends it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import anyio
import httpx

from leobatch.account_store import account_fingerprint
from leobatch.api._models import Account
from leobatch.api._transport import tls_context
from leobatch.api.client import LeonardoClient
from leobatch.plan.jobs import Job
from leobatch.pricing.book import PriceBook
from leobatch.pricing.money import CREDITS, DOLLARS, Cost
from leobatch.pricing.priced import PricedPlan
from leobatch.run._submit import Submitting
from leobatch.run.events import Event, EventSink, discard
from leobatch.run.journal import Journal
from leobatch.run.limits import RateLimiter, default_limits
from leobatch.run.options import RunOptions, RunResult
from leobatch.run.reconcile import Claimant

__all__ = ["RunOptions", "RunResult", "result_data", "run_plan"]

#: Grouped journal writes are committed at least this often (seconds of real time).
_FLUSH_S = 0.2
_MANIFEST_RATE = 1 << 18  # characters a second, at most, rewriting the manifest during a run


async def run_plan(
    priced: PricedPlan,
    client: LeonardoClient | Sequence[LeonardoClient],
    journal: Journal,
    *,
    options: RunOptions | None = None,
    on_event: EventSink = discard,
    stop: anyio.Event | None = None,
) -> RunResult:
    """Run ``priced`` to completion (or until ``stop`` is set: then finish what is in flight).

    With several clients (one per API key), the jobs are spread over their accounts: see
    :mod:`leobatch.run.accounts` and :func:`leobatch.run.multi.run_accounts`.
    """
    if not isinstance(client, LeonardoClient):
        from leobatch.run.multi import run_accounts

        return await run_accounts(
            priced, list(client), journal, options or RunOptions(), on_event, stop or anyio.Event()
        )
    from leobatch.run.multi import check_one_account

    options = options or RunOptions()
    me = await client.me()
    check_one_account(priced, client, me, journal, options.select)
    engine = _Engine(priced, client, journal, options, on_event)
    await engine.prepare(me)
    return await engine.execute(stop or anyio.Event())


class _Engine(Submitting):
    """One run on one account. Private: the public surface is ``run_plan``."""

    async def prepare(self, account: Account, *, sweep: bool = True, label: str = "") -> None:
        """Set the run up on ``account`` (its ``/me``): limits, journal, manifest, price book.

        ``sweep`` removes the temp files a killed run left (once per output directory: the
        engines of a run over several accounts share it)."""
        self.user_id = account.user_id
        self.balance = account.credits
        self.balance_usd = account.dollars
        self.unit = DOLLARS if account.dollars is not None else CREDITS
        self.account = account_fingerprint(self.client.base_url, self.user_id)
        self.account_label = label
        stated = self.options.slots or self.plan.concurrency
        slots = stated or account.slots or 10
        headroom = self.options.headroom
        if headroom is None:
            # Completions are seen up to one poll interval late (a third of a job's duration):
            # one queued job per slot keeps every slot busy meanwhile (the API queues 20 per
            # slot). Measured: utilisation 0.97 with it, 0.954 with half as many queued.
            # A concurrency the user states is a cap on jobs the server runs: no headroom.
            headroom = 0 if stated else max(2, slots)
        create_rate, global_rate = default_limits(slots)
        create_rate = self.options.create_per_minute or self.plan.create_per_minute or create_rate
        global_rate = (
            self.options.requests_per_minute or self.plan.requests_per_minute or global_rate
        )
        scale = self.options.time_scale
        self.inflight = anyio.CapacityLimiter(slots + headroom)
        pipeline = any(depth for key, depth in self.depth.items() if key in self.jobs)
        self.root_cap = slots + min(headroom, 2) if pipeline else None
        self.create_limits = defaultdict(lambda: RateLimiter(create_rate, time_scale=scale))
        self.global_limit = RateLimiter(global_rate, time_scale=scale)
        self.downloads = anyio.CapacityLimiter(self.options.download_concurrency)
        start: dict[str, Any] = {
            "jobs": len(self.jobs),
            "slots": slots,
            "in_flight_cap": slots + headroom,
            "balance": self.balance if self.balance_usd is None else str(self.balance_usd),
            "unit": self.unit,
            "budget": self.budget,
            "budget_usd": None if self.budget_usd is None else str(self.budget_usd),
            "credits_planned": sum(self.priced.credits.get(k) or 0 for k in self.jobs),
        }
        if label:
            start["account"] = label
        self.emit(Event("start", data=start))
        if sweep:
            self._sweep_temp_files()
        self.journal.ensure_jobs(self.plan.jobs, self.priced.credits, self.priced.usd)
        from leobatch.manifest import ManifestWriter

        self.manifest = ManifestWriter(self.plan, credits=self.priced.credits, usd=self.priced.usd)
        meta = {
            "recipe": self.plan.recipe_name,
            "recipe_path": str(self.plan.recipe_path),
            "recipe_sha256": self.plan.recipe_sha256,
        }
        if not label:  # the journal's one account (a run over several records each job's)
            meta["user_id"] = self.user_id
        self.journal.set_meta(meta)
        await anyio.to_thread.run_sync(self._register_journal)
        summary = self.journal.summary()
        self.charged_before = (
            summary.usd_charged if self.unit == DOLLARS else Decimal(summary.credits_charged)
        )
        for state in self.journal.jobs():
            if state.key in self.jobs:
                if state.credits_charged:
                    self._learn_charge(self.jobs[state.key], Cost.credits(state.credits_charged))
                if state.usd_charged:
                    self._learn_charge(self.jobs[state.key], Cost.usd(state.usd_charged))
        self._settle_journal()
        self.book = _open_book()
        # Current ids belong to their job; an earlier attempt's id (failed, lost) to no job that
        # may take it again ("").
        self.claimed = dict.fromkeys(self.journal.remote_ids(), "")
        self.claimed.update({s.remote_id: s.key for s in self.journal.jobs() if s.remote_id})

    async def execute(self, stop: anyio.Event, *, announce: bool = True) -> RunResult:
        """Render this engine's jobs (after :meth:`prepare`); ``announce`` emits ``finish``."""
        conns = self.options.download_concurrency
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=conns),
            follow_redirects=True,
            verify=tls_context(),
        )
        try:
            with self.journal.grouped():
                await self._run_tasks(stop)
        finally:
            self.done = True
            await self.http.aclose()
            self._write_manifest()
            self._save_book(close=True)
        result = self._result()
        if announce:
            self.emit(Event("finish", data=result_data(result)))
        return result

    def _register_journal(self) -> None:
        """Tell the account database this output directory holds one of its journals (for
        ``history`` and ``clean``; issue #12)."""
        from leobatch.run.account_records import register_journal

        register_journal(
            self.account, self.plan.output_dir, self.plan.recipe_name, str(self.plan.recipe_path)
        )

    async def _run_tasks(self, stop: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:
            self.tg = tg
            if self.options.webhook_listen is not None:
                # Listen first: a port that cannot be had stops the run before a job goes out.
                from leobatch.run.webhook import serve_webhooks

                host, port = self.options.webhook_listen
                bound = await tg.start(
                    serve_webhooks, host, port, self.options.webhook_key, self._on_callback
                )
                self.webhooks = True
                self.emit(Event("webhooks", data={"listen": f"{host}:{bound}"}))
            await self._recover()
            tg.start_soon(self._watch_stop, stop)
            tg.start_soon(self._submitter)
            tg.start_soon(self._tracker)
            tg.start_soon(self._manifest_loop)
            tg.start_soon(self._flush_loop)
            while not self._finished():
                await self.changed.wait()
                self.changed = anyio.Event()
            tg.cancel_scope.cancel()

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
            return self.sending == 0
        return len(self.terminal) == len(self.jobs)

    async def _watch_stop(self, stop: anyio.Event) -> None:
        await stop.wait()
        self.interrupted = True
        self._stop("interrupted")

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
                await self._take_slot(job)
                self._track(job, state.remote_id)
            elif state.status == "submitting":
                await self._take_slot(job)
                body = state.request if state.request is not None else dict(job.body)
                claimant = Claimant(job, body, self._variation_root(job))
                found = await self._reconcile(claimant, state.started_at or 0.0)
                if found is not None:
                    self.emit(Event("adopted", job.key, job.stage, {"remote_id": found.id}))
                    self._accept(job, found)
                else:
                    self.journal.mark_absent(job.key)
                    self._free_slot(job)
        for job in self.jobs.values():
            if job.key not in self.terminal and self._upstream_ready(job) and not self._busy(job):
                self._enqueue(job)

    def _complete_known(self, job: Job) -> None:
        """A job complete in the journal: make sure its files are on disk, then it is done."""
        self.terminal.add(job.key)
        for out in self.journal.outputs(job.key):
            if out.url and not self._on_disk(out.path, out.bytes, out.sha256):
                self._start_download(job, out.index, out.url, out.path, out.sha256)

    async def _flush_loop(self) -> None:
        # Grouped journal writes (all but "submitting") reach the disk within this interval.
        # The engines of a run over several accounts share the journal: one of them flushes
        # (the first one still running).
        while True:
            await anyio.sleep(_FLUSH_S)
            self._save_book()  # each engine has its account's book
            if self._lead():
                self.journal.flush()

    def _save_book(self, *, close: bool = False) -> None:
        """Write the charges the price book kept since the last flush (and close it, with
        ``close``). A book that cannot be written costs only the learning: one warning, and
        the run goes on without it."""
        if self.book is None:
            return
        import sqlite3

        book = self.book
        try:
            book.flush()
        except sqlite3.Error as e:
            self.emit(Event("warning", data={"message": f"price book: {e}"}))
            close = True
        if close:
            self.book = None
            book.close(write=False)

    async def _manifest_loop(self) -> None:
        while True:
            await anyio.sleep(manifest_wait(self.options.manifest_interval_s, self.manifest.size))
            if self._lead() and any(peer.dirty for peer in self.peers):
                self._write_manifest()

    def _lead(self) -> bool:
        """Whether this engine does the run-wide chores (the first of its peers still going)."""
        return next((p for p in self.peers if not p.done), self) is self

    def _write_manifest(self) -> None:
        for peer in self.peers:
            peer.dirty = False
        self.manifest.write(self.journal)

    def _result(self) -> RunResult:
        """How the run ended, from the journal (what the manifest and ``status`` read too)."""
        states = [s for s in self.journal.jobs() if s.key in self.jobs]
        complete = sum(1 for s in states if s.status == "complete")
        failed = sum(1 for s in states if s.status == "failed")
        usd = sum((s.usd_charged or Decimal(0) for s in states), Decimal(0))
        return RunResult(
            usd_charged=usd,
            jobs=len(self.jobs),
            complete=complete,
            failed=failed,
            pending=len(self.jobs) - complete - failed,
            missing_downloads=self.missing_downloads,
            credits_charged=sum(s.credits_charged or 0 for s in states),
            interrupted=self.interrupted,
            stop_reason=self.stop_reason,
            blocked=len(self.blocked),
        )


def result_data(result: RunResult) -> dict[str, Any]:
    return {
        "jobs": result.jobs,
        "complete": result.complete,
        "failed": result.failed,
        "pending": result.pending,
        "missing_downloads": result.missing_downloads,
        "credits_charged": result.credits_charged,
        "usd_charged": str(result.usd_charged),
        "interrupted": result.interrupted,
        "stop_reason": result.stop_reason,
        "blocked": result.blocked,
    }


def manifest_wait(interval_s: float, size: int) -> float:
    """Seconds between two rewrites of a manifest of ``size`` characters during a run: the
    run's ``manifest_interval_s``, or longer for a big manifest, so that its upkeep writes
    :data:`_MANIFEST_RATE` characters a second at most. A 10,000-job manifest (7.8 MB, about
    45 ms of CPU to write) was rewritten every second, 28 GB an hour; now every 30 s. The
    journal is the record meanwhile (``status`` reads it); the manifest is written once more
    when the run ends."""
    return max(interval_s, size / _MANIFEST_RATE)


def _open_book() -> PriceBook | None:
    """The account database's price book; a run goes on without one it cannot open."""
    import logging
    import sqlite3

    try:
        return PriceBook()
    except (OSError, sqlite3.Error) as e:
        logging.getLogger("leobatch.run").warning("the price book cannot be opened: %s", e)
        return None
