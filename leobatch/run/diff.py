"""What a plan would change, given what the output directory already holds (like terraform plan).

A job is *done* when the journal has it complete with every output downloaded and verified; it
is *new* otherwise (never run, failed, or interrupted). Jobs the journal knows that the plan no
longer contains are *removed*: their files stay until ``leobatch prune`` deletes them.

For a removed job the journal knows its stage, kind, model, status, credits, outputs and the
request body last sent (so its prompt); its matrix values are only in the manifest written
before the recipe changed (``manifest.json``, until a run of the new recipe rewrites it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from leobatch.plan.jobs import Plan
from leobatch.run.journal import JobState, Journal, OutputState

__all__ = ["PlanDiff", "RemovedJob", "diff_plan", "previous_manifest_jobs", "removed_jobs"]


@dataclass(frozen=True, slots=True)
class RemovedJob:
    """A job the journal knows and the recipe no longer yields: what is known of it.

    ``matrix`` is ``None`` when no manifest lists the job any more (its values are lost);
    ``prompt`` comes from the manifest, else from the request body the journal recorded.
    """

    key: str
    stage: str
    kind: str
    model: str | None
    status: str
    matrix: Mapping[str, Any] | None
    prompt: str | None
    credits_estimated: int | None
    credits_charged: int | None
    outputs: tuple[OutputState, ...] = ()

    @property
    def in_flight(self) -> bool:
        """Whether a remote result may still come (submitting or submitted): never pruned."""
        return self.status in ("submitting", "submitted")

    def to_json(self) -> dict[str, Any]:
        """What ``plan --diff --json`` and ``prune --json`` say of the job."""
        return {
            "key": self.key,
            "stage": self.stage,
            "kind": self.kind,
            "model": self.model,
            "status": self.status,
            "matrix": dict(self.matrix) if self.matrix is not None else None,
            "prompt": self.prompt,
            "credits_estimated": self.credits_estimated,
            "credits_charged": self.credits_charged,
        }


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """``new``/``done``/``in_flight`` are job keys; ``removed`` counts the jobs no longer in
    the recipe (``removed_jobs`` says what is known of each, in journal order); ``charged`` the
    credits the journal says were spent."""

    new: frozenset[str]
    done: frozenset[str]
    removed: int
    charged: int
    removed_jobs: tuple[RemovedJob, ...] = field(default=())
    #: jobs a killed run left submitting or submitted: already paid for (or being reconciled),
    #: picked up by the next run, never rendered or priced again
    in_flight: frozenset[str] = frozenset()
    charged_usd: Decimal = Decimal(0)  # a PAYG account's charges, apart from the credits

    @property
    def removed_keys(self) -> tuple[str, ...]:
        """The keys of the jobs no longer in the recipe, in journal order."""
        return tuple(job.key for job in self.removed_jobs)

    def credits_to_render(self, credits: Mapping[str, int | None]) -> int:
        """Credits of the jobs still to render (unknown prices count as 0 here; see unknown)."""
        return sum(credits.get(key) or 0 for key in self.new)

    def usd_to_render(self, usd: Mapping[str, Decimal]) -> Decimal:
        """Dollars of the jobs still to render that are priced in dollars."""
        return sum((usd[key] for key in self.new if key in usd), Decimal(0))


def diff_plan(plan: Plan, whole: Plan | None = None) -> PlanDiff:
    """Compare ``plan`` with its output directory's journal (read-only: safe during a run).

    ``whole`` is the recipe's whole plan when ``plan`` is a selection of it: a job left out of
    the selection is not "no longer in the recipe".
    """
    keys = frozenset(job.key for job in plan.jobs)
    if not Journal.exists(plan.output_dir):
        return PlanDiff(new=keys, done=frozenset(), removed=0, charged=0)
    with Journal.open_readonly(plan.output_dir) as journal:
        states = {state.key: state for state in journal.jobs()}
        outputs = journal.all_outputs()
        summary = journal.summary()
        charged, charged_usd = summary.credits_charged, summary.usd_charged
    done = frozenset(
        key
        for key in keys
        if (state := states.get(key)) is not None
        and state.status == "complete"
        and all(out.downloaded for out in outputs.get(key, ()))
    )
    in_flight = frozenset(
        key
        for key in keys
        if (state := states.get(key)) is not None and state.status in ("submitting", "submitted")
    )
    removed = removed_jobs(whole or plan, states.values(), outputs)
    return PlanDiff(
        new=keys - done - in_flight,
        done=done,
        removed=len(removed),
        charged=charged,
        removed_jobs=removed,
        in_flight=in_flight,
        charged_usd=charged_usd,
    )


def removed_jobs(
    whole: Plan,
    states: Iterable[JobState],
    outputs: Mapping[str, tuple[OutputState, ...]],
) -> tuple[RemovedJob, ...]:
    """The journaled jobs (``states``) that ``whole``, the recipe's plan, no longer has."""
    recipe_keys = frozenset(job.key for job in whole.jobs)
    gone: list[JobState] = [state for state in states if state.key not in recipe_keys]
    if not gone:
        return ()
    known = previous_manifest_jobs(whole.output_dir)
    return tuple(_removed(s, known.get(s.key), outputs.get(s.key, ())) for s in gone)


def previous_manifest_jobs(output_dir: Path) -> dict[str, Mapping[str, Any]]:
    """The jobs of ``output_dir``'s manifest as last written, by key (none if it is missing or
    unreadable: what it would add is only shown, never acted on)."""
    try:
        data = json.loads((Path(output_dir) / "manifest.json").read_text(encoding="utf-8"))
        return {job["key"]: job for job in data["jobs"] if isinstance(job, dict) and "key" in job}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _removed(
    state: JobState, entry: Mapping[str, Any] | None, outputs: tuple[OutputState, ...]
) -> RemovedJob:
    matrix = entry.get("matrix") if entry is not None else None
    prompt = entry.get("prompt") if entry is not None else None
    if prompt is None and state.request_json is not None:
        try:
            prompt = _prompt_of(state.request)
        except ValueError:
            prompt = None
    return RemovedJob(
        key=state.key,
        stage=state.stage,
        kind=state.kind,
        model=state.model,
        status=state.status,
        matrix=matrix if isinstance(matrix, Mapping) else None,
        prompt=prompt if isinstance(prompt, str) else None,
        credits_estimated=state.credits_estimated,
        credits_charged=state.credits_charged,
        outputs=outputs,
    )


def _prompt_of(request: Mapping[str, Any] | None) -> str | None:
    """The prompt of a wire body: v1 ``prompt``, v2 ``parameters.prompt``."""
    if request is None:
        return None
    prompt = request.get("prompt")
    parameters = request.get("parameters")
    if prompt is None and isinstance(parameters, Mapping):
        prompt = parameters.get("prompt")
    return prompt if isinstance(prompt, str) else None
