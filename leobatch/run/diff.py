"""What a plan would change, given what the output directory already holds (like terraform plan).

A job is *done* when the journal has it complete with every output downloaded and verified; it
is *new* otherwise (never run, failed, or interrupted). Jobs the journal knows that the plan no
longer contains are *removed* (their files stay; leobatch never deletes outputs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leobatch.plan.jobs import Plan
from leobatch.run.journal import Journal

__all__ = ["PlanDiff", "diff_plan"]


@dataclass(frozen=True, slots=True)
class PlanDiff:
    """``new``/``done`` are job keys; ``charged`` the credits the journal says were spent."""

    new: frozenset[str]
    done: frozenset[str]
    removed: int
    charged: int

    def credits_to_render(self, credits: Mapping[str, int | None]) -> int:
        """Credits of the jobs still to render (unknown prices count as 0 here; see unknown)."""
        return sum(credits.get(key) or 0 for key in self.new)


def diff_plan(plan: Plan, whole: Plan | None = None) -> PlanDiff:
    """Compare ``plan`` with its output directory's journal (read-only: safe during a run).

    ``whole`` is the recipe's whole plan when ``plan`` is a selection of it: a job left out of
    the selection is not "no longer in the recipe".
    """
    keys = frozenset(job.key for job in plan.jobs)
    recipe_keys = keys if whole is None else frozenset(job.key for job in whole.jobs)
    if not Journal.exists(plan.output_dir):
        return PlanDiff(new=keys, done=frozenset(), removed=0, charged=0)
    with Journal.open_readonly(plan.output_dir) as journal:
        states = {state.key: state for state in journal.jobs()}
        outputs = journal.all_outputs()
        charged = journal.summary().credits_charged
    done = frozenset(
        key
        for key in keys
        if (state := states.get(key)) is not None
        and state.status == "complete"
        and all(out.downloaded for out in outputs.get(key, ()))
    )
    removed = sum(1 for key in states if key not in recipe_keys)
    return PlanDiff(new=keys - done, done=done, removed=removed, charged=charged)
