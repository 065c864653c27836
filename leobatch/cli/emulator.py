"""``leobatch emulator``: serve the offline Leonardo API emulator until SIGTERM or Ctrl-C."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from leobatch.emulator.pricing import LIST_PRICES

__all__ = ["command"]

_EPILOG = (
    "Prices come from leobatch's rate card (the same one `leobatch plan --offline` uses), so a "
    "plan is charged to the credit. Requests the rate card cannot price are charged the "
    "emulator's own list prices: "
    + ", ".join(f"{name} {credits}" for name, credits in LIST_PRICES.items())
    + ". v2 creates are charged Leonardo's published prices (GPT Image 1.5, Kling 2.6, "
    "remove-bg) or the emulator's own v2 table (leobatch/emulator/pricing_v2.py). "
    "With --billing dollars a credit price costs credits x USD 0.0015. "
    "--time-scale multiplies every duration and window (0.01: a minute lasts 0.6 s)."
)


def _uuid(value: str | None) -> str | None:
    if value is not None:
        try:
            uuid.UUID(value)
        except ValueError as e:
            raise click.BadParameter("must be a UUID, like the real API keys") from e
    return value


F = TypeVar("F", bound=Callable[..., Any])


def _fraction(flag: str, help_text: str) -> Callable[[F], F]:
    """A fault-rate option: a fraction in 0..1, default 0 (no fault)."""
    return click.option(flag, type=click.FloatRange(0, 1), default=0.0, help=help_text)


@click.command(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port (0: any free one).")
@click.option(
    "--slots",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Concurrency slots; queue, create and request limits follow from it.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiply every duration and window by this.",
)
@click.option(
    "--credits", type=int, default=100_000, show_default=True, help="Starting API credit balance."
)
@click.option(
    "--api-key",
    default=None,
    callback=lambda _c, _p, v: _uuid(v),
    help="Accept only this key (default: any UUID).",
)
@click.option(
    "--user-id",
    default=None,
    callback=lambda _c, _p, v: _uuid(v),
    help="The emulated account's user id (a UUID): emulators with different ids are "
    "different accounts (for runs over several keys).",
)
@click.option(
    "--billing",
    type=click.Choice(["credits", "dollars"]),
    default="credits",
    show_default=True,
    help="The account's unit: API credits, or US dollars (PAYG); every create is charged in it.",
)
@click.option(
    "--usd",
    type=click.FloatRange(0),
    default=None,
    help="Starting dollar balance with --billing dollars (default: --credits x 0.0015).",
)
@click.option(
    "--v2-errors-as-200",
    is_flag=True,
    help="Answer refused v2 creates with HTTP 200 and the GraphQL error array (as Leonardo can).",
)
@click.option("--webhook-url", default=None, help="POST image_generation.complete here.")
@click.option("--webhook-key", default=None, help="Bearer key sent with each webhook.")
@_fraction("--fail-rate", "Fraction of jobs that end FAILED (refunded).")
@_fraction("--error-rate", "Fraction of creates answered 500 before anything is created.")
@_fraction("--ghost-rate", "Fraction of creates that succeed and are charged but answer 500.")
@_fraction("--drop-rate", "Fraction of API requests whose connection closes before the reply.")
@_fraction("--truncate-rate", "Fraction of CDN downloads cut short.")
@_fraction("--slow-rate", "Fraction of CDN downloads trickled out over 5 s (scaled).")
@_fraction("--storm", "Fraction of every 10 s (scaled) during which every API request gets 429.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for faults and timing.")
@click.option(
    "--requests-per-minute",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Global request limit.",
)
@click.option("--no-retry-after", is_flag=True, help="Send 429s without a Retry-After header.")
def command(**options: object) -> None:
    """Serve the offline Leonardo API emulator (same paths, bodies, errors and limits).

    Prints the base URL to use as LEONARDO_API_BASE_URL and serves until SIGTERM or Ctrl-C.
    """
    import signal

    import uvicorn

    from leobatch.emulator.config import EmulatorConfig
    from leobatch.emulator.server import bind, uvicorn_config
    from leobatch.emulator.state import EmulatorState

    host, port = str(options.pop("host")), int(options.pop("port"))  # type: ignore[call-overload]
    retry_after = not options.pop("no_retry_after")
    try:
        sock = bind(host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}") from e
    origin = f"http://{host}:{sock.getsockname()[1]}"
    if options.get("user_id") is None:
        options.pop("user_id")
    config = EmulatorConfig(retry_after=retry_after, public_url=origin, **options)  # type: ignore[arg-type]
    click.echo(f"Leonardo API emulator: {origin}/api/rest/v1", err=False)
    click.echo(f"  export LEONARDO_API_BASE_URL={origin}/api/rest/v1", err=False)
    server = uvicorn.Server(uvicorn_config(EmulatorState(config), log_level="warning"))
    # uvicorn re-raises the signal that stopped it once it is done; a no-op handler turns that
    # into a clean exit 0 instead of death by SIGTERM (or KeyboardInterrupt on Ctrl-C).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
