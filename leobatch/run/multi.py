"""One run over several accounts: an engine per account, one journal, one manifest, one budget.

Each account's engine has its own slots (from its ``/me``), rate limits, 429 back-off and
balance check; the budget is the run's, shared by all of them (an engine reserves against what
every engine has charged and reserved). Jobs are spread by
:func:`leobatch.run.accounts.assign_jobs`: whole pipelines; a job once sent stays on its account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import anyio

from leobatch.account_store import account_fingerprint
from leobatch.api._models import Account
from leobatch.api.client import LeonardoClient
from leobatch.errors import AuthError, LeobatchError
from leobatch.plan.jobs import Plan
from leobatch.pricing.priced import PricedPlan
from leobatch.run.accounts import AccountSlot, Assignment, assign_jobs
from leobatch.run.events import Event, EventSink
from leobatch.run.journal import Journal
from leobatch.run.options import RunOptions, RunResult

__all__ = [
    "AccountsError",
    "RunAccount",
    "check_one_account",
    "open_accounts",
    "plan_accounts",
    "run_accounts",
    "stranded_message",
]


class AccountsError(LeobatchError):
    """The keys of a run cannot render its plan as they are (same account twice, jobs left on
    an account no key reaches, accounts billed in different units)."""


@dataclass(frozen=True, slots=True)
class RunAccount:
    """One account of a run: its client, what ``/me`` said, and its place in the assignment."""

    client: LeonardoClient
    me: Account
    slot: AccountSlot


async def open_accounts(clients: Sequence[LeonardoClient]) -> list[RunAccount]:
    """Each client's account (its ``/me``), checked: no account twice, one billing unit."""
    accounts: list[RunAccount] = []
    seen: dict[str, str] = {}
    for number, client in enumerate(clients, start=1):
        me = await client.me()
        fingerprint = account_fingerprint(client.base_url, me.user_id)
        label = f"account {number} ({fingerprint[:8]})"
        if fingerprint in seen:
            raise AuthError(
                f"keys {seen[fingerprint]} and {number} reach the same account: its slots and "
                "balance would be counted twice; give each account once"
            )
        seen[fingerprint] = str(number)
        slots = me.slots or 10
        accounts.append(RunAccount(client, me, AccountSlot(fingerprint, label, slots, me.user_id)))
    units = {a.me.unit for a in accounts}
    if len(units) > 1:
        raise AccountsError(
            "the accounts are billed in different units (credits and dollars); a run's budget "
            "and prices are in one: run them apart"
        )
    return accounts


def plan_accounts(
    plan: Plan, accounts: Sequence[RunAccount], journal: Journal | None
) -> Assignment:
    """Which account renders which job of ``plan``, the whole plan (reading its ``journal``,
    if it has one): a selection renders its jobs on the accounts the whole plan gives them."""
    journaled: dict[str, tuple[str, str | None]] = {}
    legacy = None
    if journal is not None:
        journaled = {s.key: (s.status, s.account) for s in journal.jobs()}
        user = journal.meta().get("user_id")
        legacy = next((a.slot.fingerprint for a in accounts if a.me.user_id == user), None)
    if len(accounts) == 1 and legacy is None:
        legacy = accounts[0].slot.fingerprint  # a journal from before accounts were recorded
    return assign_jobs(plan.jobs, [a.slot for a in accounts], journaled, legacy=legacy)


def stranded_message(
    assignment: Assignment, total: int, among: frozenset[str] | None = None
) -> str:
    """Why jobs (of ``among``, else of the plan) cannot be rendered with these keys."""
    stranded = assignment.stranded_among(among)
    count = sum(len(keys) for keys in stranded.values())
    names = ", ".join(f"{fp[:8]}" for fp in stranded)
    return (
        f"{count} of {total} jobs were sent on an account no key of this run reaches "
        f"(fingerprint {names}): their results, or the outputs they are made from, live there. "
        "Give that account's key too (LEONARDO_API_KEYS or --keys) to resume them; a job is "
        "never sent again on another account"
    )


def check_one_account(
    priced: PricedPlan,
    client: LeonardoClient,
    me: Account,
    journal: Journal,
    select: frozenset[str] | None,
) -> None:
    """A run on one account: refuse it when jobs it would render were sent on another (a key
    changed between runs): reconciled on this account, they would be sent twice."""
    fingerprint = account_fingerprint(client.base_url, me.user_id)
    account = RunAccount(client, me, AccountSlot(fingerprint, "this account", me.slots or 10))
    assignment = plan_accounts(priced.plan, [account], journal)
    if assignment.stranded_among(select):
        raise AccountsError(stranded_message(assignment, len(priced.plan.jobs), select))


async def run_accounts(
    priced: PricedPlan,
    clients: list[LeonardoClient],
    journal: Journal,
    options: RunOptions,
    on_event: EventSink,
    stop: anyio.Event,
) -> RunResult:
    """Run ``priced`` over the accounts of ``clients`` (see the module's docstring)."""
    from leobatch.run.engine import _Engine, result_data

    accounts = await open_accounts(clients)
    assignment = plan_accounts(priced.plan, accounts, journal)
    wanted = options.select
    if assignment.stranded_among(wanted):
        raise AccountsError(stranded_message(assignment, len(priced.plan.jobs), wanted))
    quiet = _Once(on_event)
    engines: list[tuple[_Engine, RunAccount]] = []
    for account in accounts:
        keys = assignment.jobs[account.slot.fingerprint]
        if wanted is not None:
            keys = keys & wanted
        if keys:
            # One webhook listener serves every account's engine (below), not one each.
            options_here = replace(options, select=keys, webhook_listen=None)
            engine = _Engine(priced, account.client, journal, options_here, quiet.sink)
            engines.append((engine, account))
    if not engines:  # nothing selected: one engine says so, as a run on one account does
        engine = _Engine(priced, accounts[0].client, journal, options, on_event)
        await engine.prepare(accounts[0].me)
        return await engine.execute(stop)
    peers = [engine for engine, _ in engines]
    for number, (engine, account) in enumerate(engines):
        engine.peers = list(peers)
        # Prepared one after the other before any runs: each reads the journal's charges
        # before any engine adds to them.
        await engine.prepare(account.me, sweep=number == 0, label=account.slot.label)
    results: list[RunResult] = []

    async def one(engine: _Engine) -> None:
        results.append(await engine.execute(stop, announce=False))

    async with anyio.create_task_group() as tg:
        if options.webhook_listen is not None:
            from leobatch.run.webhook import Callback, serve_webhooks

            async def dispatch(callback: Callback) -> None:
                for engine in peers:  # the engine whose job it is takes it; others ignore it
                    await engine._on_callback(callback)

            host, port = options.webhook_listen
            bound = await tg.start(serve_webhooks, host, port, options.webhook_key, dispatch)
            for engine in peers:
                engine.webhooks = True
            on_event(Event("webhooks", data={"listen": f"{host}:{bound}"}))
        async with anyio.create_task_group() as work:
            for engine in peers:
                work.start_soon(one, engine)
        tg.cancel_scope.cancel()
    result = _combined(results)
    on_event(Event("finish", data=result_data(result)))
    return result


class _Once:
    """An event sink that passes a run-wide event (``stopping`` for the budget) once."""

    def __init__(self, sink: EventSink) -> None:
        self.inner = sink
        self.said: set[str] = set()

    def sink(self, event: Event) -> None:
        if event.type == "stopping":
            reason = str(event.data.get("reason"))
            if reason in self.said:
                return
            self.said.add(reason)
        self.inner(event)


def _combined(results: Sequence[RunResult]) -> RunResult:
    """The run's result over its engines (counts from the journal, as each engine's are)."""
    reasons = [r.stop_reason for r in results if r.stop_reason]
    return RunResult(
        jobs=sum(r.jobs for r in results),
        complete=sum(r.complete for r in results),
        failed=sum(r.failed for r in results),
        pending=sum(r.pending for r in results),
        missing_downloads=sum(r.missing_downloads for r in results),
        credits_charged=sum(r.credits_charged for r in results),
        interrupted=any(r.interrupted for r in results),
        stop_reason="; ".join(dict.fromkeys(reasons)) or None,
        blocked=sum(r.blocked for r in results),
        usd_charged=sum((r.usd_charged for r in results), Decimal(0)),
    )
