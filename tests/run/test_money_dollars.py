"""A pay-as-you-go account (emulator ``--billing dollars``): a run totals in US dollars, never
adds them to credits, and a ``budget.max_usd`` holds (issue 10, item 4)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from leobatch.pricing.money import format_usd
from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle


def _recipe(tmp_path: Path, budget: str) -> Path:
    path = tmp_path / "payg.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: payg
        matrix:
          seed: [1, 2, 3, 4, 5, 6]
          size: [512, 768]
        {budget}
        stages:
          shot:
            kind: image
            model: lightning-xl
            prompt: "a mug, take {{{{ seed }}}}"
            params:
              width: "{{{{ size }}}}"
              height: "{{{{ size }}}}"
              num_images: 1
              seed: "{{{{ seed }}}}"
        """)
    )
    return path


def test_a_dollar_run_totals_in_usd_and_keeps_to_max_usd(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Credit prices say nothing of dollars: the plan has 12 unknown jobs; --pilot learns the
    two classes in dollars, the rest is priced and run; manifest, summary and emulator agree."""
    emu = make_emulator(billing="dollars", usd=100)
    recipe = _recipe(tmp_path, "budget: {max_usd: 5, unknown_job_ceiling_usd: 0.5}")
    plan = json.loads(on_emulator(emu, "plan", str(recipe), "--json").stdout)
    assert plan["cost"]["unknown_jobs"] == 12 and Decimal(plan["balance_usd"]) == 100
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--pilot")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    stats = emu.stats()
    usd = Decimal(stats["usd_net"])
    assert stats["creates"] == 12 and stats["credits_net"] == 0
    assert Decimal(0) < usd <= Decimal(5)
    assert f"0 credits charged, {format_usd(usd)} charged." in ran.stdout
    totals = json.loads((tmp_path / "out" / "payg" / "manifest.json").read_text())["totals"]
    assert totals["credits_charged"] == 0
    assert Decimal(totals["cost"]["DOLLARS"]["charged"]) == usd
    status = on_emulator(emu, "status", str(recipe))
    assert f"dollars   {format_usd(usd)} charged of " in status.stdout, status.stdout
    assert "credits   0 charged" in status.stdout
    again = json.loads(on_emulator(emu, "plan", str(recipe), "--json").stdout)
    assert again["cost"]["unknown_jobs"] == 0
    assert Decimal(again["cost"]["DOLLARS"]["total"]) == usd  # learned to the cent
    assert again["credits"]["total"] == 0  # no dollar is ever counted as a credit


def test_max_usd_stops_the_run_after_the_pilot(
    tmp_path: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A dollar budget below the learned total: the pilot's two jobs, then exit 1, in USD."""
    emu = make_emulator(billing="dollars", usd=100)
    recipe = _recipe(tmp_path, "budget: {max_usd: 0.05, unknown_job_ceiling_usd: 0.025}")
    ran = on_emulator(emu, "run", str(recipe), "--yes", "--pilot")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "after the pilot, rendering the rest costs USD" in ran.stderr
    assert "(budget.max_usd)" in ran.stderr
    stats = emu.stats()
    assert stats["creates"] == 2
    assert Decimal(stats["usd_net"]) <= Decimal("0.05")
