"""Creating paid jobs: the order of checks every create endpoint shares.

Validation comes first, then the queue, then the money; a refused create leaves nothing behind
(no job, no charge). A ghost fault happens after the job exists and is charged.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from leobatch.emulator.records import Asset, Timing
from leobatch.emulator.refusal import Refusal
from leobatch.emulator.state import EmulatorState

__all__ = ["Admission", "admit", "after_create", "file_stem", "new_id", "scaled_size"]


def new_id() -> str:
    """A fresh job or image id."""
    return str(uuid.uuid4())


def file_stem(*parts: str) -> str:
    """A CDN file name stem like the real ones: ``Leonardo_Phoenix_a_red_mug``."""
    text = "_".join(p for p in parts if p)
    return (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "image")[:48]


def scaled_size(width: int, height: int, factor: float) -> tuple[int, int]:
    """A size multiplied by ``factor``, rounded to whole pixels."""
    return max(1, round(width * factor)), max(1, round(height * factor))


class Admission:
    """A create that passed every check: its timing, its charge, and what it must register.

    ``amount`` is the charge in minor units of the account's unit (``leobatch.emulator.money``).
    """

    __slots__ = ("amount", "now", "timing")

    def __init__(self, timing: Timing, amount: int, now: float) -> None:
        self.timing = timing
        self.amount = amount
        self.now = now

    def asset(self, kind: Any, width: int, height: int, lines: tuple[str, ...], key: str) -> Asset:
        """A CDN file that exists once this job completes."""
        return Asset(kind, width, height, lines, key, self.timing.finish, self.timing.failed)


def admit(
    state: EmulatorState, family: str, credits: int, now: float, amount: int | None = None
) -> Admission:
    """Queue room, then the charge, then a slot; refusals leave no trace.

    The charge is ``credits`` in the account's unit, or ``amount`` minor units when given (a
    price the caller already has in the account's unit).
    """
    state.check_queue(now)
    if amount is None:
        credits = round(credits * state.config.price_factor)  # 1.0 unless playing a price change
    charge = state.money.from_credits(credits) if amount is None else amount
    state.charge(charge)
    return Admission(state.schedule(family, now), charge, now)


def after_create(
    state: EmulatorState,
    path: str,
    body: dict[str, Any],
    job_id: str,
    admission: Admission,
    is_generation: bool,
) -> None:
    """Book the job for completion and statistics; then maybe lie about it (ghost fault)."""
    state.track(job_id, admission.timing, admission.amount, is_generation)
    state.record_create(path, body, job_id, admission.timing.failed)
    if state.fault("ghost"):
        raise Refusal(500, "internal error")
