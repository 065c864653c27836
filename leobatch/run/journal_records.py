"""What the journal stores: its SQLite schema, and the values its queries return."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

__all__ = [
    "STATUSES",
    "AttemptState",
    "GroupSummary",
    "JobState",
    "NewOutput",
    "OutputState",
    "Status",
    "Summary",
]

#: Values containing this variable's value (the API key) are refused (belt and braces).
API_KEY_ENV = "LEONARDO_API_KEY"
STATE_DIR = ".leobatch"
DB_NAME = "state.sqlite"
LOCK_NAME = "lock"

Status = Literal["planned", "submitting", "submitted", "complete", "failed"]
STATUSES: tuple[Status, ...] = ("planned", "submitting", "submitted", "complete", "failed")

#: Version 2 added ``outputs.served_sha256`` (provenance inside the files: the file as written
#: and as served differ); version 3 costs in their unit (``attempts.cost_amount``/``cost_unit``
#: as the API reported them, dollars as whole micro-dollars in ``usd_micros`` and the jobs'
#: ``usd_estimated_micros``/``usd_charged_micros``); version 4 the account each job was sent on
#: (``jobs.account``: its fingerprint, never the key; a run may use several accounts). An older
#: journal is migrated when a run opens it (:data:`MIGRATIONS`).
SCHEMA_VERSION = 4
_BUMP = "UPDATE jobs SET seq = (SELECT coalesce(max(seq), 0) + 1 FROM jobs) WHERE key = {key}"
SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE jobs (
        key TEXT PRIMARY KEY, stage TEXT NOT NULL, kind TEXT NOT NULL, model TEXT,
        status TEXT NOT NULL DEFAULT 'planned', remote_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
        credits_estimated INTEGER, credits_charged INTEGER, error TEXT, request_json TEXT,
        started_at REAL, submitted_at REAL, completed_at REAL, updated_at REAL NOT NULL,
        seq INTEGER NOT NULL DEFAULT 0,
        usd_estimated_micros INTEGER, usd_charged_micros INTEGER, account TEXT)""",
    "CREATE INDEX jobs_status ON jobs (status)",
    "CREATE INDEX jobs_seq ON jobs (seq)",
    "CREATE INDEX jobs_remote_id ON jobs (remote_id)",
    """CREATE TABLE attempts (
        job_key TEXT NOT NULL REFERENCES jobs (key), attempt INTEGER NOT NULL,
        status TEXT NOT NULL, remote_id TEXT, started_at REAL NOT NULL, ended_at REAL,
        error TEXT, credits_charged INTEGER, refunded INTEGER NOT NULL DEFAULT 0,
        cost_amount TEXT, cost_unit TEXT, usd_micros INTEGER,
        PRIMARY KEY (job_key, attempt))""",
    """CREATE TABLE outputs (
        job_key TEXT NOT NULL REFERENCES jobs (key), idx INTEGER NOT NULL, remote_id TEXT,
        url TEXT, path TEXT NOT NULL, sha256 TEXT, bytes INTEGER, media_type TEXT,
        nsfw INTEGER NOT NULL DEFAULT 0, downloaded_at REAL, served_sha256 TEXT,
        PRIMARY KEY (job_key, idx))""",
    """CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY, init_image_id TEXT NOT NULL, extension TEXT,
        uploaded_at REAL NOT NULL)""",
    "CREATE TABLE texts (job_key TEXT PRIMARY KEY REFERENCES jobs (key), text TEXT NOT NULL)",
    # ``seq`` orders changes: any change a manifest shows bumps the job's seq past every other, so
    # a reader can fetch only what changed since it last looked (``changed_since``).
    f"""CREATE TRIGGER jobs_changed AFTER UPDATE OF status, remote_id, attempt, credits_charged,
        error, request_json ON jobs BEGIN {_BUMP.format(key="NEW.key")}; END""",
    f"""CREATE TRIGGER outputs_inserted AFTER INSERT ON outputs
        BEGIN {_BUMP.format(key="NEW.job_key")}; END""",
    f"""CREATE TRIGGER outputs_updated AFTER UPDATE ON outputs
        BEGIN {_BUMP.format(key="NEW.job_key")}; END""",
)

_JOB_COLUMNS = (
    "key, stage, kind, model, status, remote_id, attempt, failures, credits_estimated, "
    "credits_charged, error, request_json, started_at, submitted_at, completed_at, updated_at, "
    "usd_estimated_micros, usd_charged_micros, account"
)
#: A version 3 journal read as it is (``open_readonly``): no account column yet.
_JOB_COLUMNS_V3 = _JOB_COLUMNS.replace("account", "NULL")
#: A version 2 journal read as it is: no dollar columns either.
_JOB_COLUMNS_V2 = _JOB_COLUMNS_V3.replace("usd_estimated_micros, usd_charged_micros", "NULL, NULL")
_OUTPUT_COLUMNS_V1 = (
    "job_key, idx, remote_id, url, path, sha256, bytes, media_type, nsfw, downloaded_at, sha256"
)
#: A file a version 1 journal recorded was written as served: its served sha256 is its sha256.
_OUTPUT_COLUMNS = _OUTPUT_COLUMNS_V1.removesuffix("sha256") + "coalesce(served_sha256, sha256)"
#: Schema version -> the statements that bring a journal of that version to the next one.
MIGRATIONS: Mapping[int, tuple[str, ...]] = {
    1: ("ALTER TABLE outputs ADD COLUMN served_sha256 TEXT",),
    2: (
        "ALTER TABLE jobs ADD COLUMN usd_estimated_micros INTEGER",
        "ALTER TABLE jobs ADD COLUMN usd_charged_micros INTEGER",
        "ALTER TABLE attempts ADD COLUMN cost_amount TEXT",
        "ALTER TABLE attempts ADD COLUMN cost_unit TEXT",
        "ALTER TABLE attempts ADD COLUMN usd_micros INTEGER",
        # every charge a version 2 journal holds was reported in credits
        "UPDATE attempts SET cost_amount = CAST(credits_charged AS TEXT), cost_unit = 'CREDITS' "
        "WHERE credits_charged IS NOT NULL",
    ),
    3: ("ALTER TABLE jobs ADD COLUMN account TEXT",),
}
#: A job's charge: the sum over its attempts that were not refunded (NULL while none reported).
_CHARGED = "(SELECT sum(credits_charged) FROM attempts WHERE job_key = ? AND NOT refunded)"
#: The same in dollars (micro-dollars); set beside ``credits_charged`` wherever it is.
_CHARGED_USD = "(SELECT sum(usd_micros) FROM attempts WHERE job_key = ? AND NOT refunded)"
_ATTEMPT_COLUMNS = (
    "job_key, attempt, status, remote_id, started_at, ended_at, error, credits_charged, refunded, "
    "cost_amount, cost_unit"
)
_ATTEMPT_COLUMNS_V2 = _ATTEMPT_COLUMNS.replace("cost_amount, cost_unit", "NULL, NULL")


@dataclass(frozen=True, slots=True)
class JobState:
    """One job as journaled. ``attempt`` counts submissions started (0 = never submitted);
    ``failures`` counts failed attempts since the job was planned or reopened;
    ``credits_charged`` sums the charges of every attempt not refunded (``None`` while none was
    reported), ``usd_charged`` the same in dollars (a PAYG account), ``usd_estimated`` the
    plan's price of a job priced in dollars; ``request_json`` is the wire body last sent
    (run-time ids filled, never headers), parsed on demand by :attr:`request`."""

    key: str
    stage: str
    kind: str
    model: str | None
    status: Status
    remote_id: str | None
    attempt: int
    failures: int
    credits_estimated: int | None
    credits_charged: int | None
    error: str | None
    request_json: str | None
    started_at: float | None
    submitted_at: float | None
    completed_at: float | None
    updated_at: float
    usd_estimated: Decimal | None = None
    usd_charged: Decimal | None = None
    account: str | None = None  # the fingerprint of the account it was last sent on

    @property
    def request(self) -> dict[str, Any] | None:
        """The wire body last sent, or ``None`` before the first attempt."""
        if self.request_json is None:
            return None
        return cast("dict[str, Any]", json.loads(self.request_json))


@dataclass(frozen=True, slots=True)
class NewOutput:
    """An output the API reported for a job: where it is remotely and where it goes locally."""

    index: int
    remote_id: str | None
    url: str | None
    path: str
    media_type: str | None
    nsfw: bool = False


@dataclass(frozen=True, slots=True)
class OutputState:
    """One output file of a job; ``sha256``/``bytes`` are set once it is verified in place.

    ``sha256`` and ``bytes`` are of the file as written (with its provenance inside: what a
    resume checks), ``served_sha256`` of the bytes as the CDN served them (equal for a file
    written as served)."""

    job_key: str
    index: int
    remote_id: str | None
    url: str | None
    path: str
    sha256: str | None
    bytes: int | None
    media_type: str | None
    nsfw: bool
    downloaded_at: float | None
    served_sha256: str | None = None

    @property
    def downloaded(self) -> bool:
        """Whether the file was downloaded and verified."""
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class AttemptState:
    """One submission of a job: ``status`` is submitting, submitted, complete, failed or absent.
    ``refunded`` is set when the API gave the attempt's charge back (a FAILED job)."""

    job_key: str
    attempt: int
    status: str
    remote_id: str | None
    started_at: float
    ended_at: float | None
    error: str | None
    credits_charged: int | None
    refunded: bool
    cost_amount: str | None = None  # the charge as the API reported it, with its unit
    cost_unit: str | None = None


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Jobs and credits of one (stage, model) pair."""

    stage: str
    model: str | None
    jobs: int
    complete: int
    failed: int
    credits_estimated: int
    unknown_estimates: int
    credits_charged: int
    usd_estimated: Decimal = Decimal(0)
    usd_charged: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Summary:
    """The journal at a glance: jobs per status, outputs, credits, per (stage, model) groups,
    and when a job last changed (unix seconds)."""

    statuses: Mapping[str, int]
    outputs: int
    downloaded: int
    credits_estimated: int
    unknown_estimates: int
    credits_charged: int
    groups: tuple[GroupSummary, ...]
    last_update: float | None = None
    usd_estimated: Decimal = Decimal(0)  # of the jobs priced in dollars
    usd_charged: Decimal = Decimal(0)  # a PAYG account's charges

    @property
    def jobs(self) -> int:
        """Jobs journaled in all."""
        return sum(self.statuses.values())


def _job(row: tuple[Any, ...]) -> JobState:
    return JobState(*(*row[:16], _usd(row[16]), _usd(row[17]), row[18]))


def _usd(micros: int | None) -> Decimal | None:
    from leobatch.pricing.money import from_micros

    return None if micros is None else from_micros(micros)


def _output(row: tuple[Any, ...]) -> OutputState:
    args = (*row[:8], bool(row[8]), *row[9:11])
    return OutputState(*args)


def _attempt(row: tuple[Any, ...]) -> AttemptState:
    args = (*row[:8], bool(row[8]), *row[9:11])
    return AttemptState(*args)
