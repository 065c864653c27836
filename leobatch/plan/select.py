"""Job selection: which jobs of a plan a command works on (``--where``, ``--stage``, ``--failed``,
``--sample K --by AXES``, ``--limit N``, ``--shard I/N``).

Selection never changes a job: keys stay the same, so a pilot's jobs are reused by the full run.
A selection is always closed upstream (a selected job brings the upstream jobs it consumes, which
cost nothing once rendered), and it is applied in this order: filters (all must hold), sample,
limit (the first N of what the filters kept, in plan order), then the upstream those need.

A *shard* (``--shard I/N``, for CI matrices) is taken first, from the whole plan: the plan's
pipelines (a root job and everything downstream of it) are dealt out to N shards, balanced by
job count, the same way on every machine that plans the same recipe; the other options then
narrow within the shard. So the N shards' union is the plan and their intersection empty.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leobatch.errors import LeobatchError
from leobatch.plan.jobs import Job, Plan

__all__ = [
    "Condition",
    "Selection",
    "SelectionError",
    "parse_shard",
    "parse_where",
    "select_jobs",
    "shard_jobs",
]


class SelectionError(LeobatchError):
    """A selection option that cannot be understood (a usage mistake)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """``KEY=V1,V2`` (any of) or ``KEY!=V1,V2`` (none of); KEY is a matrix axis (dotted into a
    mapping value: ``shot.name``) or ``stage``."""

    key: str
    values: frozenset[str]
    negated: bool = False

    def holds(self, job: Job) -> bool:
        """Whether ``job`` satisfies this condition."""
        value = job.stage if self.key == "stage" else _lookup(job.matrix, self.key)
        inside = value is not None and _text(value) in self.values
        return inside != self.negated

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{','.join(sorted(self.values))}"


def parse_where(text: str) -> Condition:
    """``model=flux-dev``, ``seed=11,42``, ``style!=NONE`` -> a :class:`Condition`."""
    key, sep, raw = text.partition("!=")
    negated = bool(sep)
    if not negated:
        key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SelectionError(f"--where {text!r}: expected KEY=VALUE or KEY!=VALUE")
    values = frozenset(v.strip() for v in raw.split(","))
    return Condition(key, values, negated)


@dataclass(frozen=True, slots=True)
class Selection:
    """What to select; the default selects every job."""

    where: tuple[Condition, ...] = ()
    stages: tuple[str, ...] = ()
    failed: bool = False
    sample: int | None = None
    sample_by: tuple[str, ...] = ()
    limit: int | None = None
    #: (I, N): the I-th of N shards (1-based), see :func:`shard_jobs`
    shard: tuple[int, int] | None = None

    @property
    def everything(self) -> bool:
        """Whether this selection keeps every job."""
        return self == Selection()

    def describe(self) -> str:
        """The options as a user would type them."""
        parts = [f"--where {c}" for c in self.where]
        parts += [f"--stage {s}" for s in self.stages]
        if self.failed:
            parts.append("--failed")
        if self.sample is not None:
            by = f" --by {','.join(self.sample_by)}" if self.sample_by else ""
            parts.append(f"--sample {self.sample}{by}")
        if self.limit is not None:
            parts.append(f"--limit {self.limit}")
        if self.shard is not None:
            parts.append(f"--shard {self.shard[0]}/{self.shard[1]}")
        return " ".join(parts)


def select_jobs(
    plan: Plan, selection: Selection, failed_keys: Collection[str] = ()
) -> tuple[Job, ...]:
    """The jobs of ``plan`` that ``selection`` keeps, in plan order.

    ``failed_keys`` are the jobs the journal has failed (for ``--failed``).
    """
    if selection.everything:
        return plan.jobs
    _check(plan, selection)
    jobs = plan.jobs if selection.shard is None else shard_jobs(plan.jobs, *selection.shard)
    wanted = [
        job
        for job in jobs
        if all(c.holds(job) for c in selection.where)
        and (not selection.stages or job.stage in selection.stages)
        and (not selection.failed or job.key in failed_keys)
    ]
    if selection.sample is not None:
        wanted = _sample(wanted, selection.sample, selection.sample_by)
    if selection.limit is not None:
        wanted = wanted[: selection.limit]
    keys = _closed_upstream(plan, (job.key for job in wanted))
    return tuple(job for job in plan.jobs if job.key in keys)


def parse_shard(text: str) -> tuple[int, int]:
    """``2/4`` -> ``(2, 4)``: the second of four shards (I from 1 to N)."""
    index, sep, count = text.strip().partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise SelectionError(f"--shard {text!r}: expected I/N, e.g. 2/4 (the 2nd of 4 shards)")
    i, n = int(index), int(count)
    if n < 1:
        raise SelectionError(f"--shard {text}: N (the number of shards) must be at least 1")
    if not 1 <= i <= n:
        raise SelectionError(f"--shard {text}: I must be between 1 and {n} (shards count from 1)")
    return i, n


def shard_jobs(jobs: Sequence[Job], index: int, count: int) -> tuple[Job, ...]:
    """The jobs of shard ``index`` of ``count`` (1-based), in the order of ``jobs``.

    ``jobs`` are a plan's, upstream before downstream. Each pipeline (a root job, one without an
    upstream among ``jobs``, and every job downstream of it) goes whole to one shard. Pipelines
    are dealt largest first (ties: by root key) to the shard with the fewest jobs so far (ties:
    the lowest), so no shard has more jobs than another by more than the largest pipeline, and
    the deal depends only on the jobs, never on the machine or the run.
    """
    if not 1 <= index <= count:
        raise SelectionError(f"--shard {index}/{count}: I must be between 1 and {count}")
    root: dict[str, str] = {}
    for job in jobs:
        up = job.upstream.key if job.upstream is not None else None
        root[job.key] = root[up] if up is not None and up in root else job.key
    sizes = Counter(root.values())
    loads = [0] * count
    shard_of: dict[str, int] = {}
    for key in sorted(sizes, key=lambda k: (-sizes[k], k)):
        least = min(range(count), key=lambda s: (loads[s], s))
        shard_of[key] = least
        loads[least] += sizes[key]
    return tuple(job for job in jobs if shard_of[root[job.key]] == index - 1)


def _check(plan: Plan, selection: Selection) -> None:
    axes = {key.split(".")[0] for job in plan.jobs for key in job.matrix}
    for condition in selection.where:
        head = condition.key.split(".")[0]
        if condition.key != "stage" and head not in axes:
            raise SelectionError(_unknown("--where", condition.key, ["stage", *sorted(axes)]))
    for stage in selection.stages:
        if stage not in plan.stages:
            raise SelectionError(_unknown("--stage", stage, plan.stages))
    for axis in selection.sample_by:
        if axis.split(".")[0] not in axes:
            raise SelectionError(_unknown("--by", axis, sorted(axes)))
    if selection.sample is not None and selection.sample < 1:
        raise SelectionError("--sample must be at least 1")
    if selection.limit is not None and selection.limit < 1:
        raise SelectionError("--limit must be at least 1")


def _unknown(option: str, name: str, known: Iterable[str]) -> str:
    import difflib

    names = list(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{option} {name!r}: no such {'stage' if option == '--stage' else 'axis'}{hint} " + (
        f"(known: {', '.join(names)})" if names else "(the plan has none)"
    )


def _sample(jobs: list[Job], k: int, by: tuple[str, ...]) -> list[Job]:
    """K jobs per (stage, values of ``by``), the same K every time (the smallest key hashes).

    Downstream stages sample among the jobs whose upstream was sampled, so a pilot renders
    whole pipelines; upstream stages are decided first.
    """
    order = {job.key: i for i, job in enumerate(jobs)}
    depth: dict[str, int] = {}
    for job in jobs:  # upstream jobs come first
        up = job.upstream.key if job.upstream is not None else ""
        depth[job.key] = depth[up] + 1 if up in depth else 0
    cells: dict[tuple[Any, ...], list[Job]] = defaultdict(list)
    for job in jobs:
        cell = (job.stage, *tuple(_text(_lookup(job.matrix, a)) for a in by))
        cells[cell].append(job)
    kept: set[str] = set()
    for cell in sorted(cells, key=lambda c: (depth[cells[c][0].key], order[cells[c][0].key])):
        candidates = [
            job
            for job in cells[cell]
            if job.upstream is None or job.upstream.key not in order or job.upstream.key in kept
        ]
        pick = sorted(candidates, key=lambda j: hashlib.sha256(j.key.encode()).digest())[:k]
        kept.update(job.key for job in pick)
    return [job for job in jobs if job.key in kept]


def _closed_upstream(plan: Plan, keys: Iterable[str]) -> set[str]:
    by_key = {job.key: job for job in plan.jobs}
    closed: set[str] = set()
    for key in keys:
        while key not in closed:
            closed.add(key)
            job = by_key[key]
            if job.upstream is None or job.upstream.key not in by_key:
                break
            key = job.upstream.key
    return closed


def _lookup(matrix: Mapping[str, Any], dotted: str) -> Any:
    value: Any = matrix
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    """A matrix value as typed on a command line (YAML's spelling of booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
