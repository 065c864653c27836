"""Every error leobatch raises on purpose.

One base class; the CLI maps each branch to an exit code (only ``leobatch.cli`` does that).
Third-party exceptions are translated at the module edge with ``raise ... from e``.

    LeobatchError
    ├── RecipeError            the recipe is wrong: carries every Problem found, each located
    ├── PlanError              the plan cannot be made or used (stale plan file, too many jobs)
    ├── PricingError           a price could not be obtained
    ├── BudgetError            the plan or run would pass the budget or the balance
    ├── JournalError           the journal cannot be used (or written: a full disk)
    │   ├── JournalDamagedError  the journal file is not SQLite, empty or damaged: kept as is
    │   └── LockedError        another run holds the output directory
    ├── ManifestError          the manifest cannot be written (the previous one stays)
    ├── ReportError            the report cannot be built (no manifest, unsafe -o, bad axis)
    └── ApiError               the Leonardo API said no (message never contains the key)
        ├── AuthError          missing, malformed or wrong API key
        ├── ApiValidationError the API refused the request body (carries its message)
        ├── InsufficientCreditsError
        ├── ModerationError    the prompt was refused by content moderation
        ├── RateLimitedError   429; ``retry_after_s`` when the server said
        ├── TransientError     5xx, timeouts, resets: the outcome of the request is unknown
        └── NotFoundError      the id does not exist
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiError",
    "ApiValidationError",
    "AuthError",
    "BudgetError",
    "InsufficientCreditsError",
    "JournalDamagedError",
    "JournalError",
    "LeobatchError",
    "LockedError",
    "ManifestError",
    "ModerationError",
    "NotFoundError",
    "PlanError",
    "PricingError",
    "Problem",
    "RateLimitedError",
    "RecipeError",
    "ReportError",
    "TransientError",
]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One located mistake in a recipe: ``file:line:col: message`` (line and col 1-based)."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class LeobatchError(Exception):
    """Base of every error leobatch raises on purpose."""


class RecipeError(LeobatchError):
    """The recipe has one or more problems; ``problems`` lists them all, sorted by place."""

    def __init__(
        self, problems: list[Problem] | tuple[Problem, ...], *, partial: Any = None
    ) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        #: When the only problems are in the stage graph (a ``from`` naming no stage, a cycle):
        #: the recipe without the stages they touch, so that its other stages can still be
        #: checked and every mistake reported at once (see ``leobatch.plan.plan_recipe``).
        self.partial = partial
        super().__init__("\n".join(str(p) for p in self.problems))


class PlanError(LeobatchError):
    """A plan cannot be made or used."""


class PricingError(LeobatchError):
    """A price could not be obtained."""


class BudgetError(LeobatchError):
    """The plan would pass the budget or the account balance."""


class JournalError(LeobatchError):
    """The run journal cannot be used."""


class JournalDamagedError(JournalError):
    """The journal file is not a SQLite database, is empty, or is damaged. leobatch never
    repairs, rewrites or deletes it: the message says how to start over by hand."""


class LockedError(JournalError):
    """Another ``leobatch run`` holds the output directory."""


class ManifestError(LeobatchError):
    """The manifest could not be written (a full disk, say); the previous one is left whole."""


class ReportError(LeobatchError):
    """The report cannot be built: no manifest, an axis or stage that is not there, an output
    folder it must not write into, or a file it cannot write."""


class ApiError(LeobatchError):
    """The Leonardo API refused a request. ``status`` is the HTTP status, when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class AuthError(ApiError):
    """The API key is missing, malformed or not accepted."""


class ApiValidationError(ApiError):
    """The API refused the request body; the message is the API's own."""


class InsufficientCreditsError(ApiError):
    """The account has not enough credits for the request."""


class ModerationError(ApiError):
    """The prompt was refused by content moderation."""


class RateLimitedError(ApiError):
    """HTTP 429. ``retry_after_s`` is the server's Retry-After, when it sent one."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after_s: float | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, status=status)


class TransientError(ApiError):
    """5xx, timeout or dropped connection: whether the request took effect is unknown."""


class NotFoundError(ApiError):
    """The requested id does not exist."""
