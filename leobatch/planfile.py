"""Saved plans: ``leobatch plan -o plan.json`` writes one, ``leobatch run plan.json`` runs it.

A saved plan records the recipe's path and the hashes of the recipe and every file it reads, plus
each job's key and price. Running it re-expands the recipe and refuses when anything changed
(a stale plan would spend money on something nobody reviewed).
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from leobatch._version import __version__
from leobatch.errors import PlanError
from leobatch.pricing.priced import PricedPlan

__all__ = ["load_plan", "save_plan"]

FORMAT = 1


def save_plan(priced: PricedPlan, path: Path) -> None:
    """Write ``priced`` to ``path`` atomically (never a half-written plan)."""
    plan = priced.plan
    recipe_path = plan.recipe_path.resolve()
    try:
        shown = os.path.relpath(recipe_path, path.resolve().parent)
    except ValueError:  # another drive on Windows
        shown = str(recipe_path)
    data: dict[str, Any] = {
        "leobatch": __version__,
        "format": FORMAT,
        "recipe": {
            "name": plan.recipe_name,
            "path": shown,
            "sha256": plan.recipe_sha256,
            "inputs_sha256": plan.inputs_sha256,
        },
        "credits": {
            "total": priced.total,
            "source": priced.source,
            "unknown_jobs": priced.unknown_jobs,
            "price_classes": priced.price_classes,
        },
        "jobs": [
            {
                "key": job.key,
                "stage": job.stage,
                "kind": job.kind,
                "credits": priced.credits.get(job.key),
            }
            for job in plan.jobs
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".plan-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plan(path: Path, *, max_jobs: int = 100_000) -> PricedPlan:
    """The plan saved at ``path``, re-expanded from its recipe; :class:`PlanError` if stale."""
    from leobatch.plan import plan_recipe

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recipe_info = data["recipe"]
        saved_jobs = {item["key"]: item.get("credits") for item in data["jobs"]}
        source = data["credits"]["source"]
        price_classes = int(data["credits"]["price_classes"])
        if data.get("format") != FORMAT:
            raise PlanError(f"{path}: plan format {data.get('format')!r} is not supported")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PlanError(f"{path}: not a leobatch plan file ({e})") from e
    recipe_path = (path.parent / recipe_info["path"]).resolve()
    if not recipe_path.exists():
        raise PlanError(f"{path}: its recipe {recipe_path} no longer exists")
    plan = plan_recipe(recipe_path, max_jobs=max_jobs)
    changed = []
    if plan.recipe_sha256 != recipe_info["sha256"]:
        changed.append("the recipe file")
    if plan.inputs_sha256 != recipe_info["inputs_sha256"]:
        changed.append("files the recipe reads")
    if not changed and {job.key for job in plan.jobs} != set(saved_jobs):
        changed.append("the jobs it expands to")
    if changed:
        again = shlex.join(["leobatch", "plan", _from_here(recipe_path), "-o", _from_here(path)])
        raise PlanError(
            f"{path} is stale: {' and '.join(changed)} changed since it was written; "
            f"run `{again}` again and review it"
        )
    if source not in ("calculator", "rate-card"):
        raise PlanError(f"{path}: unknown price source {source!r}")
    return PricedPlan(plan=plan, credits=saved_jobs, source=source, price_classes=price_classes)


def _from_here(path: Path) -> str:
    """``path`` as the user would type it from the current directory."""
    absolute = Path(path).resolve()
    try:
        return os.path.relpath(absolute)
    except ValueError:  # another drive (Windows)
        return str(absolute)
