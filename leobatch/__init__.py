"""leobatch: render image and video asset sets with the Leonardo.ai API from YAML recipes.

The pipeline, one function per stage::

    recipe = load_recipe("recipe.yaml")      # YAML + schema + static checks
    plan = expand_plan(recipe)               # matrix, templates, requests, keys, paths
    priced = await price_plan(plan, client)  # the pricing calculator (no client: rate card)
    with Journal.open(plan.output_dir) as journal:
        result = await run_plan(priced, client, journal)

Names are imported on first use (module ``__getattr__``), so ``import leobatch`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leobatch._version import __version__

if TYPE_CHECKING:
    from leobatch.api.client import LeonardoClient
    from leobatch.errors import LeobatchError, PlanError, Problem, RecipeError
    from leobatch.plan import expand_plan, plan_recipe
    from leobatch.plan.jobs import Input, Job, Plan, Upstream
    from leobatch.pricing import price_plan
    from leobatch.pricing.offline import price_offline
    from leobatch.pricing.priced import PricedPlan
    from leobatch.recipe import Recipe, load_recipe
    from leobatch.run.engine import RunOptions, RunResult, run_plan
    from leobatch.run.journal import Journal

__all__ = [
    "Input",
    "Job",
    "Journal",
    "LeobatchError",
    "LeonardoClient",
    "Plan",
    "PlanError",
    "PricedPlan",
    "Problem",
    "Recipe",
    "RecipeError",
    "RunOptions",
    "RunResult",
    "Upstream",
    "__version__",
    "expand_plan",
    "load_recipe",
    "plan_recipe",
    "price_offline",
    "price_plan",
    "run_plan",
]

#: public name -> the module it lives in
_LAZY: dict[str, str] = {
    "load_recipe": "leobatch.recipe",
    "Recipe": "leobatch.recipe",
    "expand_plan": "leobatch.plan",
    "plan_recipe": "leobatch.plan",
    "Input": "leobatch.plan.jobs",
    "Job": "leobatch.plan.jobs",
    "Plan": "leobatch.plan.jobs",
    "Upstream": "leobatch.plan.jobs",
    "PricedPlan": "leobatch.pricing.priced",
    "price_offline": "leobatch.pricing.offline",
    "price_plan": "leobatch.pricing",
    "LeonardoClient": "leobatch.api.client",
    "Journal": "leobatch.run.journal",
    "run_plan": "leobatch.run.engine",
    "RunOptions": "leobatch.run.engine",
    "RunResult": "leobatch.run.engine",
    "LeobatchError": "leobatch.errors",
    "PlanError": "leobatch.errors",
    "Problem": "leobatch.errors",
    "RecipeError": "leobatch.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'leobatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
