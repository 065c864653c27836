"""Prices nobody publishes, learned (issue 10, item 5), through the real CLI and emulator:
the price book, ``run --pilot``, and budgets that hold with unknown prices."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle

#: 4 unknown price classes (Kling 2.5: the calculator has no service for it): 5 s / 10 s at
#: 720p / 1080p. The emulator charges 400 (5 s) and 800 (10 s) credits, whatever the resolution.
CLASSES = """\
  duration: [5, 10]
  resolution: [RESOLUTION_720, RESOLUTION_1080]
"""


def _recipe(
    tmp_path: Path, name: str, takes: int, budget: str = "", word: str = "mug", **extra: Any
) -> Path:
    take_list = ", ".join(str(i) for i in range(1, takes + 1))
    text = (
        textwrap.dedent(f"""\
        version: 1
        name: {name}
        matrix:
          take: [{take_list}]
        """)
        + CLASSES
        + textwrap.dedent(f"""\
        {budget}
        limits: {{concurrency: {extra.get("concurrency", 10)}}}
        stages:
          clip:
            kind: text-to-video
            model: kling-2.5
            prompt: "a {word} turning, take {{{{ take }}}}"
            params: {{duration: "{{{{ duration }}}}", resolution: "{{{{ resolution }}}}"}}
        """)
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _plan(emu: EmulatorHandle, recipe: Path) -> dict[str, Any]:
    result = on_emulator(emu, "plan", str(recipe), "--json")
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_learned_prices_plan_a_new_recipe_to_the_credit(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """After one run over 4 unknown classes, another recipe over the same classes plans with 0
    unknown jobs, labelled as learned, and its total is what the emulator then charges."""
    emu = make_emulator(slots=10)
    first = _recipe(tmp_path, "first", 1)
    assert _plan(emu, first)["credits"]["unknown_jobs"] == 4
    refused = on_emulator(emu, "run", str(first), "--yes")
    assert refused.returncode == 1 and "--pilot" in refused.stderr  # nothing paid
    assert emu.stats()["creates"] == 0
    ran = on_emulator(emu, "run", str(first), "--yes", "--allow-unknown-prices")
    assert ran.returncode == 0, ran.stderr
    before = emu.stats()["credits_net"]
    assert before == 2 * 400 + 2 * 800

    second = _recipe(tmp_path, "second", 3, word="vase")
    plan = _plan(emu, second)
    assert plan["credits"]["unknown_jobs"] == 0
    assert plan["credits"]["total"] == 3 * (2 * 400 + 2 * 800)
    (label,) = plan["price_sources"]
    assert label.startswith("learned from 1 charge, last 20") and plan["price_sources"][label] == 12
    text = on_emulator(emu, "plan", str(second))
    assert f"priced by {label}: 12 jobs" in text.stdout
    ran = on_emulator(emu, "run", str(second), "--yes")  # no unknown price left: no flag needed
    assert ran.returncode == 0, ran.stderr
    assert emu.stats()["credits_net"] - before == plan["credits"]["total"]


def test_pilot_renders_one_job_per_unknown_class_before_the_others(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """40 jobs over 4 unknown classes: exactly 4 creates before the rest; all 40 complete."""
    emu = make_emulator(slots=10)
    recipe = _recipe(
        tmp_path, "pilot", 10, budget="budget: {max_credits: 30000, unknown_job_ceiling: 1000}"
    )
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--pilot", "--json")
    assert ran.returncode == 0, ran.stderr
    events = _events(ran.stdout)
    kinds = [e["event"] for e in events]
    first_finish = kinds.index("finish")
    pilot = [e for e in events[:first_finish] if e["event"] == "submitted"]
    assert len(pilot) == 4
    rest = [e for e in events[first_finish:] if e["event"] == "submitted"]
    assert len(rest) == 36
    assert {e["job"] for e in pilot}.isdisjoint(e["job"] for e in rest)
    assert "Pilot: rendering 4 jobs first" in ran.stderr
    stats = emu.stats()
    assert (stats["creates"], stats["duplicate_creates"]) == (40, 0)
    assert stats["credits_net"] == 20 * 400 + 20 * 800


def test_pilot_stops_before_the_rest_when_the_learned_total_passes_the_budget(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Budget 10,000 for a plan that costs 24,000: the pilot (2,400) runs, then exit 1 with the
    learned numbers, and nothing else is sent."""
    emu = make_emulator(slots=10)
    recipe = _recipe(
        tmp_path, "tight", 10, budget="budget: {max_credits: 10000, unknown_job_ceiling: 1000}"
    )
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--pilot")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "after the pilot, rendering the rest costs 21600 credits; with 2400 already charged "
        "that is 24000, above the recipe's budget of 10000"
    ) in ran.stderr
    assert "Traceback" not in ran.stderr
    stats = emu.stats()
    assert (stats["creates"], stats["credits_net"]) == (4, 2400)
    status = on_emulator(emu, "plan", str(recipe), "--json")  # the rest now plans priced
    data = json.loads(status.stdout)
    assert (data["credits"]["unknown_jobs"], data["credits"]["total"]) == (0, 24000)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_budget_holds_with_unknown_prices_at_concurrency_20(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle], seed: int
) -> None:
    """40 clips of unknown price at concurrency 20 with a stated ceiling of 800 and a budget of
    5,000: many in flight at once, and the emulator's net charge never passes the budget."""
    emu = make_emulator(slots=20, seed=seed)
    recipe = _recipe(
        tmp_path,
        "ceiling",
        10,
        budget="budget: {max_credits: 5000, unknown_job_ceiling: 800}",
        concurrency=20,
    )
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--allow-unknown-prices")
    assert ran.returncode == 1, ran.stdout + ran.stderr  # stopped on the budget: jobs pending
    assert "Stopped early: budget:" in ran.stdout
    stats = emu.stats()
    assert 0 < stats["credits_net"] <= 5000
    assert stats["duplicate_creates"] == 0
    assert stats["peak_running"] > 1  # a stated ceiling lets unknown jobs go out together


def _grid(tmp_path: Path, name: str, prompts: list[str]) -> Path:
    """A model-comparison grid over both surfaces: Phoenix (calculator), GPT Image 1.5 (its
    published formula), Nano Banana Pro and Seedream 4.5 (no published price: learned)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: {name}
        matrix:
          model: [phoenix-1.0, gpt-image-1.5, nano-banana-pro, seedream-4.5]
          prompt: {json.dumps(prompts)}
        stages:
          hero:
            kind: image
            model: "{{{{ model }}}}"
            prompt: "{{{{ prompt }}}}"
            width: 1024
            height: 1024
            num_images: 1
            params: "{{{{ {{'contrast': 3.5}} if model == 'phoenix-1.0' else {{}} }}}}"
        """)
    )
    return path


def test_v2_grid_learns_its_unknown_models_and_then_plans_to_the_credit(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """v2 models nobody prices: --pilot learns the two unknown classes; a second grid over the
    same classes plans with 0 unknown jobs and is charged exactly its plan."""
    emu = make_emulator(slots=10)
    first = _grid(tmp_path, "grid-a", ["a mug", "a vase", "a cup"])
    plan = _plan(emu, first)
    assert plan["credits"]["unknown_jobs"] == 6  # nano-banana-pro and seedream-4.5, 3 each
    assert plan["price_sources"] == {"published rate": 3}  # gpt-image-1.5
    ran = on_emulator(emu, "run", str(first), "--yes", "--pilot")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Pilot: rendering 2 jobs first" in ran.stdout
    charged = emu.stats()["credits_net"]

    second = _grid(tmp_path, "grid-b", ["a bowl", "a jug"])
    again = _plan(emu, second)
    assert again["credits"]["unknown_jobs"] == 0
    ran = on_emulator(emu, "run", str(second), "--yes")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert emu.stats()["credits_net"] - charged == again["credits"]["total"]


def test_a_budget_with_nothing_to_bound_unknown_prices_is_refused_before_any_spend(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Unknown prices, a budget and no stated ceiling: nothing could keep the budget, so the
    run (even a pilot) is refused up front and nothing is sent."""
    emu = make_emulator(slots=10)
    recipe = _recipe(tmp_path, "unbounded", 10, budget="budget: {max_credits: 30000}")
    for flag in ("--pilot", "--allow-unknown-prices"):
        ran = on_emulator(emu, "run", str(recipe), "--yes", flag)
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert "state budget.unknown_job_ceiling" in ran.stderr
        assert "Traceback" not in ran.stderr
    assert emu.stats()["creates"] == 0


def test_a_price_in_the_other_unit_never_passes_a_credits_budget(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """remove-bg is published in dollars; a fresh credits account is charged credits for it.
    With a credits budget and no ceiling the run stops before the first cut-out: the budget of
    100 holds (before, the cut-outs went out as probes and the run was charged 109)."""
    emu = make_emulator(slots=10)
    recipe = tmp_path / "cutouts.yaml"
    recipe.write_text(
        "version: 1\nname: cutouts\nbudget: {max_credits: 100}\nmatrix:\n  seed: [11, 42, 77]\n"
        "stages:\n  shot:\n    kind: image\n    model: gpt-image-1.5\n"
        "    prompt: a ceramic mug\n    width: 1024\n    height: 1024\n    num_images: 1\n"
        '    seed: "{{ seed }}"\n    params: {quality: LOW}\n'
        "  cutout:\n    kind: nobg\n    model: remove-bg\n    from: shot\n"
    )
    ran = on_emulator(emu, "run", str(recipe), "--yes")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "state budget.unknown_job_ceiling" in ran.stdout + ran.stderr
    stats = emu.stats()
    assert stats["credits_net"] <= 100
    assert stats["creates"] == 3  # the three shots (13 credits each); no cut-out


def test_a_price_book_that_refuses_the_charges_costs_the_learning_not_the_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """The account database refuses every price-book row (a trigger): the run still renders
    and pays for every job once, says so in one warning, and the book stays empty."""
    import sqlite3

    from leobatch import account_store
    from leobatch.pricing.book import PriceBook

    with PriceBook() as book:  # the table, in this test's own data dir
        book.connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON price_book "
            "BEGIN SELECT RAISE(ABORT, 'price book refused'); END"
        )
    emu = make_emulator(slots=10)
    recipe = _recipe(tmp_path, "refused", 1)
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--allow-unknown-prices", "--json")
    assert ran.returncode == 0, ran.stderr
    events = _events(ran.stdout)
    warnings = [e for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and "price book refused" in warnings[0]["message"], warnings
    finish = next(e for e in events if e["event"] == "finish")
    assert finish["complete"] == 4 and finish["credits_charged"] == 2 * 400 + 2 * 800
    assert emu.stats()["credits_net"] == 2 * 400 + 2 * 800
    conn = sqlite3.connect(account_store.default_path())
    try:
        assert conn.execute("SELECT count(*) FROM price_book").fetchone() == (0,)
    finally:
        conn.close()
