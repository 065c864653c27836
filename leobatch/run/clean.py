"""``leobatch clean``: delete from the account, and/or from the disk, what a recipe's runs made.

Only what the journal records is touched, never anything found by matching prompts:

- every generation id any attempt of a cleaned job had (a FAILED first attempt included);
- its variations: the API has no delete for a variation, so one goes with the generation whose
  image it transforms (checked afterwards with ``GET /variations/{id}``: one still there is
  reported as kept, never claimed deleted); a variation whose generation is kept stays too;
- the init images the recipe's runs uploaded (or reused): unless a kept job of the recipe, or
  another recipe of the account (its journal, registered in the account database), still uses
  the upload;
- with ``local``, the output files, under the rules of ``prune``: regular files inside
  output.dir, reached through no link, still with the sha256 journaled at download, at no path
  a kept job writes to.

A generation that a kept downstream job needs as its source is kept unless ``force``. Jobs in
flight (submitting, submitted) are never cleaned. Each step is journaled first
(:mod:`leobatch.run.cleanups`): a clean killed at any point and run again finishes the rest,
deletes nothing twice, and a repeated clean does nothing. An id already gone is fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from leobatch.plan.jobs import Job, Plan
from leobatch.run._state import GENERATION_KINDS, VARIATION_KINDS, is_generation, is_variation
from leobatch.run.cleanups import (
    DONE,
    Cleanup,
    Target,
    cleanups,
    uploads,
)
from leobatch.run.journal import JobState, Journal, OutputState
from leobatch.run.prune import _fate

__all__ = ["CleanItem", "CleanPlan", "Cleaned", "plan_clean", "referenced_ids"]

Action = Literal["delete", "with", "done", "kept", "missing"]
_IN_FLIGHT = ("submitting", "submitted")


@dataclass(frozen=True, slots=True)
class CleanItem:
    """One thing clean would delete (``delete``; ``with``: a variation going with generation
    ``via``), has deleted before (``done``), keeps (``kept``, ``why``), or finds not on disk
    (``missing``: a file never downloaded or already removed)."""

    target: Target
    ident: str
    job_key: str | None
    stage: str | None
    action: Action
    why: str | None = None
    via: str | None = None
    output: OutputState | None = field(default=None, compare=False)
    bytes: int | None = None


@dataclass(frozen=True, slots=True)
class CleanPlan:
    """Everything clean found, and the jobs it leaves alone because they are in flight."""

    output_dir: Path
    items: tuple[CleanItem, ...]
    in_flight: tuple[JobState, ...]
    claimed: frozenset[str] = frozenset()

    def having(self, *actions: Action, remote: bool | None = None) -> tuple[CleanItem, ...]:
        """The items with one of ``actions`` (remote ones only, local ones only, or both)."""
        return tuple(
            i
            for i in self.items
            if i.action in actions and (remote is None or (i.target != "file") == remote)
        )


@dataclass
class Cleaned:
    """What a clean did: counts per (target, status), and the steps it could not finish."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    bytes: int = 0
    folders: int = 0
    kept: list[CleanItem] = field(default_factory=list)

    def add(self, target: str, status: str) -> None:
        """Count one step."""
        self.counts[(target, status)] = self.counts.get((target, status), 0) + 1


def referenced_ids(value: Any) -> Iterable[str]:
    """Every string inside a request body (the remote ids it refers to among them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from referenced_ids(item)


def _is_v2_body(state: JobState) -> bool:
    body = state.request
    return isinstance(body, dict) and "parameters" in body and "model" in body


def _target(state: JobState, job: Job | None) -> Target | None:
    """What a job's remote id names, from its plan job when the recipe still has it."""
    if job is not None:
        if is_generation(job):
            return "generation"
        if is_variation(job):
            return "variation"
    elif state.kind in GENERATION_KINDS or _is_v2_body(state):
        return "generation"
    elif state.kind in VARIATION_KINDS:
        return "variation"
    return "motion-variation" if state.kind == "video-upscale" else None


class _Graph:
    """Which job's outputs each job's request uses (its sources), over plan and journal."""

    def __init__(
        self, plan: Plan, states: Mapping[str, JobState], outputs: Mapping[str, Any]
    ) -> None:
        owner = {o.remote_id: key for key, outs in outputs.items() for o in outs if o.remote_id}
        owner.update({s.remote_id: key for key, s in states.items() if s.remote_id})
        self.sources: dict[str, set[str]] = {}
        for key, state in states.items():
            found = {owner[i] for i in referenced_ids(state.request) if i in owner} - {key}
            self.sources[key] = found
        for job in plan.jobs:
            if job.upstream is not None:
                self.sources.setdefault(job.key, set()).add(job.upstream.key)
        self.dependents: dict[str, set[str]] = {}
        for key, sources in self.sources.items():
            for source in sources:
                self.dependents.setdefault(source, set()).add(key)


def plan_clean(
    plan: Plan,
    journal: Journal,
    *,
    keys: frozenset[str] | None,
    remote: bool,
    local: bool,
    force: bool,
    other_uploads: Mapping[str, str] | None = None,
    account: str | None = None,
) -> CleanPlan:
    """What cleaning the journaled jobs ``keys`` (``None``: every journaled job) would do.

    ``other_uploads``: init-image id -> the other recipe that still uses it (from the account's
    registered journals). ``account``: the fingerprint of the account cleaned; a job the journal
    says was sent on another (a run over several keys) is kept there, never "deleted" with a key
    that cannot see it. Nothing changes on the account, the disk or the journal.
    """
    states = {s.key: s for s in journal.jobs()}
    jobs = {j.key: j for j in plan.jobs}
    outputs = journal.all_outputs()
    selected = set(states) if keys is None else set(keys) & set(states)
    in_flight = tuple(states[k] for k in states if k in selected and states[k].status in _IN_FLIGHT)
    cleaning = selected - {s.key for s in in_flight}
    kept_jobs = (set(states) | set(jobs)) - cleaning
    if keys is None:
        kept_jobs -= set(jobs)  # the whole recipe is cleaned: its unrun jobs need nothing kept
    graph = _Graph(plan, states, outputs)
    done = cleanups(journal)
    items: list[CleanItem] = []
    if remote:
        attempt_ids = {
            key: tuple(a.remote_id for a in journal.attempts(key) if a.remote_id)
            for key in cleaning
        }
        elsewhere = {
            k for k in cleaning if account is not None and states[k].account not in (None, account)
        }
        here = cleaning - elsewhere
        items += _remote_items(states, jobs, here, kept_jobs, graph, done, force, attempt_ids)
        for key in sorted(elsewhere, key=list(states).index):
            state = states[key]
            target = _target(state, jobs.get(key))
            fingerprint = (state.account or "")[:8]
            why = f"sent on another account ({fingerprint}); clean with that account's key"
            for remote_id in dict.fromkeys(attempt_ids.get(key, ())):
                if target is not None:
                    items.append(CleanItem(target, remote_id, key, state.stage, "kept", why))
        items += _upload_items(journal, jobs, states, kept_jobs, done, force, other_uploads or {})
    claimed: frozenset[str] = frozenset()
    if local:
        claimed = frozenset(
            {p for key in kept_jobs if key in jobs for p in jobs[key].paths}
            | {o.path for key in kept_jobs for o in outputs.get(key, ())}
        )
        items += _file_items(plan, states, outputs, cleaning, claimed, done)
    return CleanPlan(Path(plan.output_dir), tuple(items), in_flight, claimed)


def _describe(key: str, states: Mapping[str, JobState], jobs: Mapping[str, Job]) -> str:
    stage = states[key].stage if key in states else jobs[key].stage
    return f"job {key[:12]} of stage {stage}"


def _remote_items(
    states: Mapping[str, JobState],
    jobs: Mapping[str, Job],
    cleaning: set[str],
    kept_jobs: set[str],
    graph: _Graph,
    done: Mapping[tuple[str, str], Cleanup],
    force: bool,
    attempt_ids: Mapping[str, tuple[str, ...]],
) -> list[CleanItem]:
    generations: dict[str, CleanItem] = {}
    variations: list[tuple[str, str, Target, JobState]] = []
    for key, state in states.items():
        if key not in cleaning:
            continue
        target = _target(state, jobs.get(key))
        if target is None:
            continue
        ids = list(attempt_ids.get(key, ()))
        if state.remote_id and state.remote_id not in ids:
            ids.append(state.remote_id)
        for remote_id in ids:
            if target != "generation":
                variations.append((remote_id, key, target, state))
                continue
            needed = sorted(graph.dependents.get(key, set()) & kept_jobs)
            if (target, remote_id) in done and done[(target, remote_id)].status in DONE:
                item = CleanItem(target, remote_id, key, state.stage, "done")
            elif needed and remote_id == state.remote_id and not force:
                why = (
                    f"{_describe(needed[0], states, jobs)} (kept) still needs it as its source"
                    + (f", and {len(needed) - 1} more" if len(needed) > 1 else "")
                    + "; --force deletes it"
                )
                item = CleanItem(target, remote_id, key, state.stage, "kept", why)
            else:
                item = CleanItem(target, remote_id, key, state.stage, "delete")
            generations[remote_id] = item
    items = list(generations.values())
    for remote_id, key, target, state in variations:
        root = _root(key, states, jobs, graph)
        if (target, remote_id) in done and done[(target, remote_id)].status in DONE:
            items.append(CleanItem(target, remote_id, key, state.stage, "done"))
        elif root is None:
            why = (
                "the API deletes a variation only with its generation, which leobatch did not make"
            )
            items.append(CleanItem(target, remote_id, key, state.stage, "kept", why))
        elif root in generations and generations[root].action in ("delete", "done"):
            items.append(CleanItem(target, remote_id, key, state.stage, "with", via=root))
        else:
            why = f"the API deletes a variation only with its generation {root[:8]}, which is kept"
            items.append(CleanItem(target, remote_id, key, state.stage, "kept", why, via=root))
    return items


def _root(
    key: str, states: Mapping[str, JobState], jobs: Mapping[str, Job], graph: _Graph
) -> str | None:
    """The generation whose image a variation job (ultimately) transforms, if leobatch made it."""
    seen = {key}
    current = key
    while True:
        sources = [s for s in graph.sources.get(current, ()) if s in states and s not in seen]
        if not sources:
            return None
        source = sources[0]
        if _target(states[source], jobs.get(source)) == "generation":
            return states[source].remote_id
        seen.add(source)
        current = source


def _upload_items(
    journal: Journal,
    jobs: Mapping[str, Job],
    states: Mapping[str, JobState],
    kept_jobs: set[str],
    done: Mapping[tuple[str, str], Cleanup],
    force: bool,
    other_uploads: Mapping[str, str],
) -> list[CleanItem]:
    items = []
    for sha256, image_id in uploads(journal).items():
        users = sorted(
            k
            for k in kept_jobs
            if (k in jobs and any(i.sha256 == sha256 for i in jobs[k].inputs))
            or (k in states and image_id in set(referenced_ids(states[k].request)))
        )
        step = done.get(("init-image", image_id))
        if step is not None and step.status in DONE:
            items.append(CleanItem("init-image", image_id, None, None, "done"))
        elif users and not force:
            why = f"{_describe(users[0], states, jobs)} (kept) uses it; --force deletes it"
            items.append(CleanItem("init-image", image_id, None, None, "kept", why))
        elif image_id in other_uploads and not force:
            why = f"the recipe {other_uploads[image_id]} uses it too; --force deletes it"
            items.append(CleanItem("init-image", image_id, None, None, "kept", why))
        else:
            items.append(CleanItem("init-image", image_id, None, None, "delete"))
    return items


def _file_items(
    plan: Plan,
    states: Mapping[str, JobState],
    outputs: Mapping[str, tuple[OutputState, ...]],
    cleaning: set[str],
    claimed: frozenset[str],
    done: Mapping[tuple[str, str], Cleanup],
) -> list[CleanItem]:
    root = Path(plan.output_dir)
    items = []
    for key, outs in outputs.items():
        if key not in cleaning:
            continue
        for out in outs:
            stage = states[key].stage
            step = done.get(("file", out.path))
            fate = _fate(root, out, claimed)
            if fate.action == "missing":
                action: Action = "done" if step is not None and step.status in DONE else "missing"
                items.append(CleanItem("file", out.path, key, stage, action, output=out))
            elif fate.action == "kept":
                items.append(CleanItem("file", out.path, key, stage, "kept", fate.why, output=out))
            else:
                items.append(
                    CleanItem("file", out.path, key, stage, "delete", output=out, bytes=fate.bytes)
                )
    return items
