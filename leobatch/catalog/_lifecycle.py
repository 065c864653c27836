"""Model lifecycles: current, retiring within 30 days, or retired (with the replacement)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from leobatch.catalog import Model

__all__ = ["RETIRED_KINDS", "RETIRING_WINDOW_DAYS", "Lifecycle", "LifecycleState", "lifecycle"]

#: Lifecycle states: current, retiring (within RETIRING_WINDOW_DAYS), retired
LifecycleState = Literal["current", "retiring", "retired"]
RETIRING_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Where a model stands on a day: ``date`` is its retirement date, if it has one."""

    state: LifecycleState
    date: str | None
    replacement: str | None


#: v1 stage kinds whose endpoint Leonardo retired: kind -> (date, replacement model)
RETIRED_KINDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"motion-svd": ("2026-06-17", "hailuo-2.3")}
)


def lifecycle(model: Model, today: datetime.date) -> Lifecycle:
    """Whether ``model`` is current, retiring (within 30 days after ``today``) or retired."""
    if model.retire_on is None:
        return Lifecycle("current", None, model.replacement)
    retire = datetime.date.fromisoformat(model.retire_on)
    if retire <= today:
        state: LifecycleState = "retired"
    elif (retire - today).days <= RETIRING_WINDOW_DAYS:
        state = "retiring"
    else:
        state = "current"
    return Lifecycle(state, model.retire_on, model.replacement)
