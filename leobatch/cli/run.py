"""``leobatch run``: render a recipe (or a saved plan) within the account's limits."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import click

from leobatch._loop import run as run_async
from leobatch.cli._accounts import (
    AccountRow,
    account_lines,
    account_rows,
    api_endpoints,
    check_accounts,
    combined_account,
    keys_option,
    open_clients,
)
from leobatch.cli._emulated import emulator_option
from leobatch.cli._errors import EXIT_ERROR, EXIT_FAILED_JOBS, EXIT_INTERRUPTED, EXIT_OK
from leobatch.cli._options import is_quiet, max_jobs_option
from leobatch.cli._select import select_plan, selection_of, selection_options

if TYPE_CHECKING:
    from leobatch.plan.jobs import Plan
    from leobatch.plan.select import Selection

#: The bearer key webhook callbacks must carry (``--webhook-listen``).
WEBHOOK_KEY_VAR = "LEOBATCH_WEBHOOK_KEY"


@dataclass(frozen=True, slots=True)
class _Args:
    target: Path
    emulator: bool
    yes: bool
    json_lines: bool
    quiet: bool
    max_jobs: int
    refresh_prices: bool
    allow_unknown_prices: bool
    time_scale: float | None
    webhook_listen: tuple[str, int] | None
    selection: Selection
    pilot: bool = False
    keys_file: Path | None = None


def _host_port(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("expected HOST:PORT, e.g. 0.0.0.0:8787")
    return host.strip("[]"), int(port)


@click.command(
    epilog="Exit codes: 0 all done, 1 error, 2 usage, 3 finished with failed jobs, 130 interrupted."
)
@click.argument("target", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@emulator_option
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed off a terminal)."
)
@click.option(
    "--json",
    "json_lines",
    is_flag=True,
    help='Print JSON lines on stdout and nothing else: a "plan" event first, then one per '
    'step, an "error" event if the run stops on one; each carries "schema": 1.',
)
@max_jobs_option
@click.option("--refresh-prices", is_flag=True, help="Ignore cached calculator prices.")
@click.option(
    "--allow-unknown-prices",
    is_flag=True,
    help="Run even when some jobs have no known price (each reserves the highest charge seen "
    "for its price class, or budget.unknown_job_ceiling, while in flight).",
)
@click.option(
    "--pilot",
    is_flag=True,
    help="First render one job per price class of unknown price, learn their prices, price the "
    "plan again and re-check the budget and balance; stop (exit 1) if the rest no longer fits.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.0001, max=1.0),
    default=None,
    help="Only against a time-scaled emulator (`leobatch emulator --time-scale`): "
    "shrink rate windows and poll intervals to match it.",
)
@click.option(
    "--webhook-listen",
    metavar="HOST:PORT",
    callback=_host_port,
    help="Receive completion webhooks here; needs LEOBATCH_WEBHOOK_KEY, the webhook callback "
    "API key set on your Leonardo API key (callbacks without it are refused). A callback only "
    "prompts a status check; polling still sweeps for callbacks that never came.",
)
@keys_option
@selection_options
def command(
    target: Path,
    emulator: bool,
    yes: bool,
    json_lines: bool,
    max_jobs: int,
    refresh_prices: bool,
    allow_unknown_prices: bool,
    pilot: bool,
    time_scale: float | None,
    webhook_listen: tuple[str, int] | None,
    keys_file: Path | None,
    **select: Any,
) -> int:
    """Render TARGET, a recipe or a plan saved by `leobatch plan -o`.

    Jobs already rendered are skipped; an interrupted run resumes where it stopped, without
    paying twice. The first Ctrl-C stops submitting and waits for jobs in flight; a second
    exits at once (the journal already holds every remote id).

    The key comes from LEONARDO_API_KEY and the API from LEONARDO_API_BASE_URL, unless
    --emulator is given. With several keys (LEONARDO_API_KEYS or --keys) the jobs are spread
    over their accounts, each with its own slots, rate limits and balance, whole pipelines at a
    time; a job once sent stays on its account.
    """
    if not yes and not sys.stdin.isatty():
        raise click.UsageError("not on a terminal: add --yes to run without confirmation")
    if webhook_listen is not None and not os.environ.get(WEBHOOK_KEY_VAR, "").strip():
        raise click.UsageError(
            f"--webhook-listen needs {WEBHOOK_KEY_VAR}: export {WEBHOOK_KEY_VAR}=<the webhook "
            f"callback API key set on your Leonardo API key>; callbacks without it are refused"
        )
    args = _Args(
        target,
        emulator,
        yes,
        json_lines,
        is_quiet(),
        max_jobs,
        refresh_prices,
        allow_unknown_prices,
        time_scale,
        webhook_listen,
        selection_of(**select),
        pilot=pilot,
        keys_file=keys_file,
    )
    # SIGTERM is Ctrl-C from here on: until the run's own watcher takes over, it interrupts.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_async(_watched, args)
    except BaseException as raised:
        if json_lines:
            _error_event(raised)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


async def _watched(args: _Args) -> int:
    """:func:`_main` with SIGINT and SIGTERM watched from its first instant.

    Before the engine runs (planning, ``GET /me``, pricing, asking) nothing has been submitted,
    so a signal stops at once, like Ctrl-C; once it runs, the first stops it gently.
    """
    signals = _Signals()
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, signals, tg.cancel_scope)
        code = await _main(args, signals)
        tg.cancel_scope.cancel()
    if signals.early:
        click.echo("Interrupted.", err=True)
        return EXIT_INTERRUPTED
    return code


async def _main(args: _Args, signals: _Signals) -> int:
    from leobatch.errors import LockedError, PricingError
    from leobatch.pricing.calculator import PriceCache, price_online
    from leobatch.run.engine import RunOptions, run_plan
    from leobatch.run.journal import Journal

    saved = None
    if args.target.suffix.lower() == ".json":
        from leobatch.planfile import load_plan

        saved = load_plan(args.target, max_jobs=args.max_jobs)
        plan = saved.plan
    else:
        from leobatch.plan import plan_recipe

        plan = plan_recipe(args.target, max_jobs=args.max_jobs)
    # The selection's jobs are rendered; the whole plan is priced, journaled and in the manifest.
    selected = select_plan(plan, args.selection)

    holder = Journal.running(plan.output_dir)
    if holder is not None:  # say so now, before pricing and asking
        raise LockedError(f"another leobatch run ({holder.describe()}) holds {plan.output_dir}")
    with api_endpoints(args.emulator, args.keys_file) as endpoints:
        async with open_clients(endpoints) as clients:
            client = clients[0]
            endpoint = endpoints[0]
            from leobatch.run.multi import open_accounts

            accounts = await open_accounts(clients) if len(clients) > 1 else None

            async def current() -> Any:
                # The run's account, or the accounts' together (their balances summed: each
                # account's own is checked with its share).
                if accounts is None:
                    return await client.me()
                return combined_account([await c.me() for c in clients])

            account = await current()
            if saved is not None:
                priced = saved
            else:
                cache = None if args.emulator else PriceCache.default()
                priced = await price_online(plan, client, cache=cache, refresh=args.refresh_prices)
            from leobatch.cli._pilot import check_money, learned_line, pilot_jobs
            from leobatch.cli.plan import learned_for

            for c, me in ((a.client, a.me) for a in accounts) if accounts else ((client, account),):
                priced = learned_for(priced, c.base_url, me)
            shown = selected.priced(priced)
            if shown.unknown_jobs and not (args.allow_unknown_prices or args.pilot):
                raise PricingError(
                    f"{shown.unknown_jobs} jobs have no known price; add --pilot to render one "
                    f"per price class first and learn their prices, or --allow-unknown-prices "
                    f"to run them anyway"
                )
            _check_bounded(shown.unknown_jobs, plan, dollars=account.dollars is not None)
            from leobatch.run.diff import diff_plan

            diff = diff_plan(selected.plan, plan)
            to_render = diff.credits_to_render(shown.credits)
            check_money(shown, diff, plan, account)
            rows = account_rows(shown, diff, accounts, plan) if accounts else None
            if rows is not None:
                check_accounts(rows)
            # With --json, stdout holds JSON lines only: people read stderr (to confirm, say).
            people = args.json_lines
            if args.json_lines or not (args.quiet and args.yes):
                _echo_plan(shown, diff, to_render, account, args.json_lines, args.yes, rows)
            if (line := selected.describe()) is not None and not args.quiet:
                from leobatch.cli._progress import write_line

                write_line(sys.stderr if people else sys.stdout, line)
            if not args.yes:
                confirmed = await anyio.to_thread.run_sync(
                    lambda: click.confirm("Render it?", default=False, err=people)
                )
                if not confirmed:
                    click.echo("Nothing was submitted.", err=people)
                    return EXIT_OK
            from leobatch.cli._progress import reporter_for, summary_lines, write_line

            async def render(keys: frozenset[str] | None, shown: Any, diff: Any) -> Any:
                options = RunOptions(
                    time_scale=args.time_scale or endpoint.time_scale,
                    webhook_listen=args.webhook_listen,
                    webhook_key=os.environ.get(WEBHOOK_KEY_VAR, "").strip() or None,
                    select=keys,
                )
                with Journal.open(plan.output_dir) as journal:
                    reporter = reporter_for(
                        selected.plan,
                        json_lines=args.json_lines,
                        credits_planned=shown.total,
                        done_keys=diff.done,
                        charged_before=diff.charged,
                        quiet=args.quiet,
                    )
                    stop = anyio.Event()
                    with reporter, anyio.CancelScope() as engine:
                        signals.engine = (stop, engine)
                        return await run_plan(
                            priced,
                            clients if accounts else client,
                            journal,
                            options=options,
                            on_event=reporter,
                            stop=stop,
                        )

            piloted = None
            if args.pilot and shown.unknown_jobs:
                pilot = pilot_jobs(shown, diff.new)
                write_line(
                    sys.stderr if people else sys.stdout,
                    f"Pilot: rendering {len(pilot)} jobs first, one per price class of unknown "
                    f"price, to learn what they cost.",
                )
                result = piloted = await render(pilot, shown, diff)
                if signals.hard:
                    return EXIT_INTERRUPTED
                if not (result.interrupted or result.stop_reason):
                    piloted = None  # the pilot went through: on to the rest
                    before = shown
                    for c in clients:
                        priced = learned_for(priced, c.base_url, await c.me())
                    shown = selected.priced(priced)
                    diff = diff_plan(selected.plan, plan)
                    if not args.quiet:
                        write_line(
                            sys.stderr if people else sys.stdout,
                            learned_line(before, shown, frozenset(shown.credits)),
                        )
                    if shown.unknown_jobs and not args.allow_unknown_prices:
                        raise PricingError(
                            f"after the pilot, {shown.unknown_jobs} jobs still have no known "
                            f"price (their pilot job failed?); add --allow-unknown-prices to "
                            f"run them anyway"
                        )
                    check_money(shown, diff, plan, await current(), after="after the pilot, ")
                    if accounts:
                        check_accounts(account_rows(shown, diff, accounts, plan))
            if piloted is None:  # (a pilot that stopped, on the budget say, ends the run)
                result = await render(selected.keys, shown, diff)
            if signals.hard:
                return EXIT_INTERRUPTED
    if not args.json_lines and not args.quiet:
        for line in summary_lines(
            {
                "jobs": result.jobs,
                "complete": result.complete,
                "failed": result.failed,
                "pending": result.pending,
                "credits_charged": result.credits_charged,
                "usd_charged": result.usd_charged or None,
                "missing_downloads": result.missing_downloads,
                "stop_reason": result.stop_reason,
                "blocked": result.blocked,
            }
        ):
            write_line(sys.stdout, line)
        write_line(sys.stdout, f"Manifest: {plan.output_dir / 'manifest.json'}")
    if result.failed:
        for line in _failures(plan):
            click.echo(line, err=True)
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.failed or result.missing_downloads:
        return EXIT_FAILED_JOBS
    if result.pending:
        return EXIT_ERROR
    return EXIT_OK


def _failures(plan: Any, shown: int = 20) -> list[str]:
    """Failed jobs as ``recipe.yaml:LINE:COL: stage (matrix): the API's message``."""
    import re

    from leobatch.recipe import load_recipe
    from leobatch.run.journal import Journal

    recipe = load_recipe(plan.recipe_path)
    jobs = {job.key: job for job in plan.jobs}
    with Journal.open_readonly(plan.output_dir) as journal:
        failed = [state for state in journal.in_state("failed") if state.key in jobs]
    lines = []
    for state in failed[:shown]:
        job = jobs[state.key]
        error = state.error or "failed"
        field = re.search(r"Unexpected variable (\w+)", error)
        path: tuple[str, ...] = ("stages", job.stage)
        if field:
            path = (*path, "params", field.group(1))
        values = ", ".join(f"{k}={v}" for k, v in job.matrix.items())
        where = f"stage {job.stage}" + (f" ({values})" if values else "")
        lines.append(str(recipe.locate(path, f"{where}: {error}")))
    if len(failed) > shown:
        lines.append(f"... and {len(failed) - shown} more failed jobs (leobatch status shows all)")
    return lines


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    """SIGTERM before the event loop watches signals: the same KeyboardInterrupt as Ctrl-C."""
    raise KeyboardInterrupt


class _Signals:
    """What the signal watcher has done, and what it should stop: ``engine`` is the running
    engine's stop event and cancel scope, ``None`` during start-up."""

    def __init__(self) -> None:
        self.engine: tuple[anyio.Event, anyio.CancelScope] | None = None
        self.early = False  # a signal stopped start-up
        self.hard = False  # a second signal cancelled the engine


async def _watch_signals(
    signals: _Signals,
    startup: anyio.CancelScope,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """SIGINT and SIGTERM alike: before the engine runs, stop at once (nothing was submitted);
    in the engine, the first stops submitting and waits for jobs in flight, a second cancels."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        task_status.started()
        async for _ in received:
            if signals.engine is None:
                signals.early = True
                startup.cancel()
                return
            stop, engine = signals.engine
            if not stop.is_set():
                stop.set()  # the engine reports "stopping" through the progress display
            else:
                signals.hard = True
                engine.cancel()
                return


def _echo_plan(
    priced: Any,
    diff: Any,
    to_render: int,
    account: Any,
    json_lines: bool,
    yes: bool,
    rows: Sequence[AccountRow] | None = None,
) -> None:
    """The plan about to run, as `leobatch plan` shows it; with --json, as the first JSON line
    (the ``plan --json`` object), and as tables on stderr when a person is asked to confirm."""
    from leobatch.cli.plan import render_summary
    from leobatch.plan.summary import Diff, summarise

    changes = Diff(
        new=len(diff.new),
        done=len(diff.done),
        removed=diff.removed,
        in_flight=len(diff.in_flight),
    )
    summary = summarise(
        priced,
        diff=changes,
        balance=None if account.dollars is not None else account.credits,
        balance_usd=account.dollars,
    )
    if json_lines:
        from leobatch.cli._progress import write_line
        from leobatch.run.events import Event

        data = summary.to_json()
        if rows is not None:
            data["accounts"] = [row.to_json() for row in rows]
        write_line(sys.stdout, Event("plan", data=data).to_json())
        if yes:
            return
    render_summary(summary, to_render=to_render, err=json_lines)
    if rows is not None:
        click.echo("\n".join(account_lines(rows)), err=json_lines)


def _error_event(raised: BaseException) -> None:
    """With --json, the error a run stops on is a JSON line too (stderr still says it)."""
    from leobatch.cli._errors import unwrap
    from leobatch.cli._progress import write_line
    from leobatch.errors import LeobatchError, RecipeError
    from leobatch.run.events import Event

    error = unwrap(raised)
    if not isinstance(error, LeobatchError):
        return
    data: dict[str, Any] = {"message": str(error), "error": type(error).__name__}
    if isinstance(error, RecipeError):
        data["problems"] = [str(p) for p in error.problems]
    write_line(sys.stdout, Event("error", data=data).to_json())


def _check_bounded(unknown: int, plan: Plan, *, dollars: bool) -> None:
    """Refuse, before anything is paid, unknown-price jobs that a budget cannot bound: with no
    stated ceiling nothing limits what they may cost (the engine would stop at the first)."""
    from leobatch.errors import PricingError

    budget = plan.budget_usd if dollars else plan.budget_credits
    ceiling = plan.unknown_job_ceiling_usd if dollars else plan.unknown_job_ceiling
    if unknown and budget is not None and ceiling is None:
        field = "unknown_job_ceiling_usd" if dollars else "unknown_job_ceiling"
        raise PricingError(
            f"{unknown} jobs have no known price, and the budget cannot hold with nothing to "
            f"bound them: state budget.{field} (the most one such job may cost; each reserves "
            "it while in flight), or drop the budget"
        )
