"""DESIGN section 3's example recipe, nearly verbatim, plans with hand-counted numbers."""

from __future__ import annotations

from pathlib import Path

from leobatch import expand_plan, load_recipe

# DESIGN section 3 verbatim, with two fixes the planner itself demands: the include entry names an
# `item` (the prompt uses it), and output.path names every varying value (else paths collide).
DESIGN_RECIPE = Path(__file__).with_name("fixtures") / "design-example.yaml"


def test_design_example_plans(tmp_path: Path) -> None:
    """Every feature of the format in one recipe: the counts follow from the rules."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "items.csv").write_text("prop\nspoon\ncup\n")
    (tmp_path / "recipe.yaml").write_text(DESIGN_RECIPE.read_text())
    plan = expand_plan(load_recipe(tmp_path / "recipe.yaml"))
    counts = {s: sum(1 for j in plan.jobs if j.stage == s) for s in plan.stages}
    # 2 models x 2 styles x 2 seeds x 2 shots x 2 items = 32; exclude drops lightning-xl with
    # STOCK_PHOTO (8); include adds 1; `when` drops lightning-xl with seed 42 (4): 21.
    # Each hero job makes 2 images -> 42 cut-outs -> x 2 multipliers = 84 upscales.
    assert counts == {"hero": 21, "hero_clean": 42, "hero_4k": 84}
    assert plan.outputs == 42 + 42 + 84
    assert plan.budget_credits == 5000 and plan.concurrency == 8
    assert plan.output_dir == (tmp_path / "out" / "mug-shots").resolve()
    hero = plan.jobs[0]
    assert hero.prompt == "ceramic coffee mug with spoon on a marble table, cinematic light"
    assert hero.body["width"] == 1536 and hero.body["num_images"] == 2
