"""`leobatch plan` against the account: calculator prices, cache, balance, errors, saved plans."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EmulatorHandle

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
MALFORMED_KEY = "not-a-uuid"


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "recipes"


def leobatch(
    *args: str, cwd: Path, emu: EmulatorHandle | None, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI, with the emulator's URL and key in the environment and a private cache."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "XDG_CACHE_HOME": str(cwd / ".cache")}
    if emu is not None:
        env["LEONARDO_API_BASE_URL"] = emu.base_url
        env["LEONARDO_API_KEY"] = key if key is not None else emu.api_key
    return subprocess.run(
        [sys.executable, "-m", "leobatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _calculator_calls(emu: EmulatorHandle) -> int:
    return int(emu.stats()["requests"].get("POST /pricing-calculator", 0))


def test_plan_prices_with_the_calculator_once_per_class_then_from_cache(
    recipes: Path, emulator: EmulatorHandle
) -> None:
    """One calculator call per price class; a second plan is served from the disk cache."""
    first = leobatch("plan", "upscale-pipeline.yaml", "--json", cwd=recipes, emu=emulator)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["credits"]["source"] == "calculator"
    assert data["balance"] == emulator.stats()["balance"]
    calls = _calculator_calls(emulator)
    assert 0 < calls <= data["price_classes"]
    again = leobatch("plan", "upscale-pipeline.yaml", "--json", cwd=recipes, emu=emulator)
    assert json.loads(again.stdout)["credits"] == data["credits"]
    assert _calculator_calls(emulator) == calls
    refreshed = leobatch(
        "plan", "upscale-pipeline.yaml", "--refresh-prices", cwd=recipes, emu=emulator
    )
    assert refreshed.returncode == 0
    assert _calculator_calls(emulator) == 2 * calls
    assert "Leonardo pricing calculator" in refreshed.stdout


def test_without_a_key_plan_estimates_and_says_why(recipes: Path) -> None:
    """No LEONARDO_API_KEY: the rate card, labelled an estimate, with the reason."""
    result = leobatch("plan", "quickstart.yaml", cwd=recipes, emu=None)
    assert result.returncode == 0, result.stderr
    assert "estimate: built-in rate card; no LEONARDO_API_KEY set" in result.stdout


def test_a_plan_above_the_balance_exits_1_with_the_numbers(
    recipes: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """Balance 100, plan 780: exit 1, both numbers in the message, nothing charged."""
    emu = make_emulator(credits=100)
    result = leobatch("plan", "upscale-pipeline.yaml", cwd=recipes, emu=emu)
    assert result.returncode == 1
    assert "above the account's balance of 100" in result.stderr
    assert "780" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.stats()["credits_charged"] == 0


@pytest.mark.parametrize(
    ("key", "expected"),
    [(MALFORMED_KEY, "LEONARDO_API_KEY"), ("0b7c1d2e-3f40-4a5b-8c6d-000000000000", "key")],
)
def test_bad_keys_exit_1_with_a_clear_message(
    recipes: Path, make_emulator: Callable[..., EmulatorHandle], key: str, expected: str
) -> None:
    """A malformed or wrong key: exit 1, a message naming the problem, the key never shown."""
    emu = make_emulator(api_key="0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
    result = leobatch("plan", "quickstart.yaml", cwd=recipes, emu=emu, key=key)
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert key not in result.stdout + result.stderr


def test_429s_and_dropped_connections_on_the_calculator_are_retried(
    recipes: Path, make_emulator: Callable[..., EmulatorHandle]
) -> None:
    """A 429 storm until 3 requests were refused, 20% dropped connections: priced all the same."""
    from leobatch.emulator.limits import Storm

    emu = make_emulator(storm=1.0, drop_rate=0.2, seed=5)
    done = threading.Event()

    def lift_after_three_refusals() -> None:
        # A plain attribute swap, read by the server thread on its next request.
        while not done.is_set() and emu.state.faults["storm"] < 3:
            time.sleep(0.005)
        emu.state.storm = Storm(0.0, 1.0, 0.0)

    lifter = threading.Thread(target=lift_after_three_refusals)
    lifter.start()
    try:
        result = leobatch("plan", "upscale-pipeline.yaml", "--json", cwd=recipes, emu=emu)
    finally:
        done.set()
        lifter.join()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["credits"]["source"] == "calculator"
    stats = emu.stats()
    assert stats["faults"]["storm"] > 0
    assert stats["requests"]["POST /pricing-calculator"] >= 3  # the 3 calculator classes


def test_a_saved_plan_runs_exactly_and_a_stale_one_is_refused(
    recipes: Path, emulator: EmulatorHandle
) -> None:
    """plan -o, run plan.json: same jobs and price; after an edit the saved plan is refused."""
    saved = leobatch("plan", "quickstart.yaml", "-o", "qs.json", cwd=recipes, emu=emulator)
    assert saved.returncode == 0, saved.stderr
    plan = json.loads((recipes / "qs.json").read_text())
    ran = leobatch("run", "qs.json", "--yes", "--time-scale", "0.01", cwd=recipes, emu=emulator)
    assert ran.returncode == 0, ran.stderr
    stats = emulator.stats()
    assert stats["credits_charged"] - stats["credits_refunded"] == plan["credits"]["total"]
    recipe = recipes / "quickstart.yaml"
    recipe.write_text(recipe.read_text().replace("ceramic", "porcelain"))
    stale = leobatch("run", "qs.json", "--yes", cwd=recipes, emu=emulator)
    assert stale.returncode == 1
    assert "qs.json is stale: the recipe file changed" in stale.stderr
    # The hint is a command that works from where the user stands.
    assert "run `leobatch plan quickstart.yaml -o qs.json` again" in stale.stderr
    above = leobatch("run", "recipes/qs.json", "--yes", cwd=recipes.parent, emu=emulator)
    assert "run `leobatch plan recipes/quickstart.yaml -o recipes/qs.json` again" in above.stderr
    assert emulator.stats()["creates"] == stats["creates"]


def test_plan_shows_what_is_already_rendered(recipes: Path, emulator: EmulatorHandle) -> None:
    """After a run, plan's diff says done; after an edit, new and no longer in the recipe."""
    leobatch("run", "quickstart.yaml", "--yes", "--time-scale", "0.01", cwd=recipes, emu=emulator)
    done = json.loads(
        leobatch("plan", "quickstart.yaml", "--json", cwd=recipes, emu=emulator).stdout
    )
    assert done["diff"] == {"new": 0, "done": 6, "removed": 0, "in_flight": 0}
    recipe = recipes / "quickstart.yaml"
    recipe.write_text(recipe.read_text().replace("ceramic", "porcelain"))
    edited = json.loads(
        leobatch("plan", "quickstart.yaml", "--json", cwd=recipes, emu=emulator).stdout
    )
    assert edited["diff"] == {"new": 6, "done": 0, "removed": 6, "in_flight": 0}


def test_ten_thousand_jobs_over_twelve_price_classes_cost_twelve_calls(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """A 10,008-job recipe (3 models x 4 sizes x 834 seeds): 12 calculator calls, then none."""
    (tmp_path / "seeds.txt").write_text("\n".join(str(n) for n in range(834)) + "\n")
    (tmp_path / "big.yaml").write_text(
        "version: 1\nname: big\n"
        "matrix:\n"
        "  model: [phoenix-1.0, lightning-xl, flux-dev]\n"
        "  size: [{w: 512, h: 512}, {w: 768, h: 512}, {w: 1024, h: 768}, {w: 1024, h: 1024}]\n"
        "  seed: {file: seeds.txt}\n"
        "stages:\n  grid:\n    kind: image\n    model: '{{ model }}'\n"
        "    prompt: 'a mug, take {{ seed }}'\n"
        "    params: {width: '{{ size.w }}', height: '{{ size.h }}', num_images: 1,"
        " contrast: 3.5, seed: '{{ seed | int }}'}\n"
    )
    first = leobatch("plan", "big.yaml", "--json", cwd=tmp_path, emu=emulator)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert (data["jobs"], data["price_classes"]) == (10_008, 12)
    assert _calculator_calls(emulator) == 12
    second = leobatch("plan", "big.yaml", "--json", cwd=tmp_path, emu=emulator)
    assert json.loads(second.stdout)["credits"] == data["credits"]
    assert _calculator_calls(emulator) == 12


def test_the_key_is_nowhere_after_plan_and_run(recipes: Path, emulator: EmulatorHandle) -> None:
    """Not in stdout, stderr, the journal, the manifest, the price cache or any output file."""
    outputs = [
        leobatch("plan", "upscale-pipeline.yaml", "-o", "p.json", cwd=recipes, emu=emulator),
        leobatch(
            "run", "p.json", "--yes", "--json", "--time-scale", "0.01", cwd=recipes, emu=emulator
        ),
        leobatch("status", "upscale-pipeline.yaml", cwd=recipes, emu=emulator),
        leobatch("balance", cwd=recipes, emu=emulator),
    ]
    assert [o.returncode for o in outputs] == [0, 0, 0, 0], [o.stderr for o in outputs]
    key = emulator.api_key.encode()
    fragment = emulator.api_key.split("-")[-1].encode()  # no piece of it either
    for result in outputs:
        assert key not in (result.stdout + result.stderr).encode()
    written = [p for p in recipes.parent.rglob("*") if p.is_file()]
    assert any(p.name == "state.sqlite" for p in written)
    assert any(p.name == "prices.json" for p in written)
    for path in written:
        data = path.read_bytes()
        assert key not in data and fragment not in data, path
