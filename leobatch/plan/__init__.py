"""Expand a recipe into a plan: matrix, templates, requests, job keys and output paths.

``expand_plan`` is imported on first use: ``leobatch.plan.jobs`` is a leaf module that the
request builder imports, and it must not pull the expander (which imports the builder) in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leobatch.plan.jobs import UPSTREAM_TEXT, Input, Job, Kind, Plan, Upstream

if TYPE_CHECKING:
    from leobatch.plan.expand import DEFAULT_MAX_JOBS, expand_plan, plan_recipe

__all__ = [
    "DEFAULT_MAX_JOBS",
    "UPSTREAM_TEXT",
    "Input",
    "Job",
    "Kind",
    "Plan",
    "Upstream",
    "expand_plan",
    "plan_recipe",
]


def __getattr__(name: str) -> Any:
    if name in ("expand_plan", "plan_recipe", "DEFAULT_MAX_JOBS"):
        from leobatch.plan import expand

        return getattr(expand, name)
    raise AttributeError(f"module 'leobatch.plan' has no attribute {name!r}")
