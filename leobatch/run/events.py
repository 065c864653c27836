"""What a run reports while it works: one event per step, rendered by the CLI as progress bars,
plain lines or JSON lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA", "Event", "EventSink", "discard"]

#: Version of the ``run --json`` line format, carried by every line; bumped on a breaking change.
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a run. ``type`` is one of: plan (the first, the ``plan --json`` summary),
    start, submitted, adopted, charge-settled (an adopted job's charge learnt from its class),
    complete, failed, retry, downloaded, rate-limited, stopping,
    finish, error (a run that stops on an error, with its ``message``).
    ``job`` is the job key when the event is a job's."""

    type: str
    job: str | None = None
    stage: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """One JSON line (``--json`` output)."""
        record: dict[str, Any] = {"event": self.type, "schema": SCHEMA, "at": round(self.at, 3)}
        if self.job is not None:
            record["job"] = self.job
        if self.stage is not None:
            record["stage"] = self.stage
        record.update(self.data)
        return json.dumps(record, sort_keys=True, default=str)


EventSink = Callable[[Event], None]


def discard(event: Event) -> None:
    """An event sink that ignores everything."""
