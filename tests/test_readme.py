"""The README's walk-through recipe is a real, valid recipe: it plans with the counts it implies."""

from __future__ import annotations

import re
from pathlib import Path

from leobatch import expand_plan, load_recipe

README = Path(__file__).resolve().parents[1] / "README.md"


def _walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A recipe, walked through") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_walkthrough_recipe_plans(tmp_path: Path) -> None:
    """Copied as shown, with its CSV beside it, it validates and expands (21 + 42 + 84 jobs)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "items.csv").write_text("prop\nspoon\ncup\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(_walkthrough())
    plan = expand_plan(load_recipe(recipe))
    counts = {s: sum(1 for j in plan.jobs if j.stage == s) for s in plan.stages}
    assert counts == {"hero": 21, "hero_clean": 42, "hero_4k": 84}


def test_the_readme_names_both_setup_commands() -> None:
    """The two set-up commands are there, as .ci/run and users rely on them."""
    text = README.read_text(encoding="utf-8")
    assert "leobatch run recipes/quickstart.yaml --emulator --yes" in text
    assert "python -m pytest -q" in text
