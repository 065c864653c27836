"""Retired and retiring models at plan time: a retired model (or kind) is a recipe error, with its
date and replacement; a model retiring within 30 days is a warning (``leobatch.catalog.lifecycle``).

"Today" is the local date, or ``LEOBATCH_TODAY`` (an ISO date) when set: a recipe can then be
checked against a coming retirement before it happens (and the tests need no real clock).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Literal

from leobatch import catalog

__all__ = ["Verdict", "kind_verdict", "model_verdict", "today"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to say about a model or kind: an ``error`` (retired) or a ``warning`` (retiring)."""

    level: Literal["error", "warning"]
    message: str


def today() -> datetime.date:
    """The date retirements are judged on: ``LEOBATCH_TODAY`` if set (and valid), else today."""
    raw = os.environ.get("LEOBATCH_TODAY", "").strip()
    if raw:
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            pass
    return datetime.date.today()


def _instead(replacement: str | None) -> str:
    return f"; use {replacement!r} instead" if replacement else ""


def model_verdict(name: str, day: datetime.date) -> Verdict | None:
    """The verdict on the model called ``name`` (any of its names) on ``day``, if any."""
    model = catalog.find_model(name)
    if model is None:
        return None
    state = catalog.lifecycle(model, day)
    if state.state == "retired":
        return Verdict(
            "error",
            f"model {name!r} was retired by Leonardo on {state.date}{_instead(state.replacement)}",
        )
    if state.state == "retiring" and state.date is not None:
        days = (datetime.date.fromisoformat(state.date) - day).days
        when = "tomorrow" if days == 1 else f"in {days} days"
        return Verdict(
            "warning",
            f"model {name!r} retires on {state.date} ({when}){_instead(state.replacement)}",
        )
    return None


def kind_verdict(kind: str, day: datetime.date) -> Verdict | None:
    """The verdict on a stage ``kind`` whose endpoint Leonardo retired (``motion-svd``)."""
    retired = catalog.RETIRED_KINDS.get(kind)
    if retired is None:
        return None
    date, replacement = retired
    days = (datetime.date.fromisoformat(date) - day).days
    if days > catalog.RETIRING_WINDOW_DAYS:
        return None
    if days > 0:
        return Verdict(
            "warning",
            f"kind {kind!r} retires on {date} (in {days} days); use kind 'image-to-video' "
            f"with model {replacement!r} instead",
        )
    return Verdict(
        "error",
        f"kind {kind!r} was retired by Leonardo on {date}; use kind 'image-to-video' with "
        f"model {replacement!r} instead",
    )
