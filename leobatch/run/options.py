"""How a run is told to behave, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["RunOptions", "RunResult"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run behaves. ``None`` means: from the plan (recipe ``limits``), else the account.

    ``time_scale`` shrinks rate windows and poll intervals for a time-scaled emulator.
    ``select`` renders only these job keys (a selection closed upstream; see
    ``leobatch.plan.select``); the journal and the manifest still cover the whole plan.
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
    select: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended, as the journal has it (the manifest and ``status`` agree). ``pending``
    counts ``blocked`` jobs, those whose upstream failed for good. ``stop_reason`` says why
    submission stopped early, if it did."""

    jobs: int
    complete: int
    failed: int
    pending: int
    missing_downloads: int
    credits_charged: int
    interrupted: bool
    stop_reason: str | None
    blocked: int = 0
    usd_charged: Decimal = Decimal(0)  # a PAYG account's charges (never added to credits)
