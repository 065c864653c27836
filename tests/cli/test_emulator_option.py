"""`--emulator` on plan, balance and catalog --live, and what a missing key says (issue 13,
item 13): the message points at --emulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leobatch.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
MISSING = (
    "error: LEONARDO_API_KEY is not set; set it to a Production API key, "
    "or add --emulator to try the offline emulator\n"
)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEONARDO_API_KEY", raising=False)
    monkeypatch.delenv("LEONARDO_API_BASE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "recipes" / "quickstart.yaml"


def test_balance_without_a_key_suggests_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    """No key, no --emulator: exit 1, and the way out named."""
    assert _cli(capsys, "balance") == (1, "", MISSING)


def test_run_without_a_key_suggests_the_emulator(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same for run, before anything is priced or written."""
    assert _cli(capsys, "run", str(quickstart), "--yes") == (1, "", MISSING)
    assert not (quickstart.parent / "out").exists()


def test_plan_without_a_key_prices_from_the_rate_card_and_mentions_the_emulator(
    quickstart: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan keeps working without a key (an estimate), and says how to get calculator prices."""
    code, out, _ = _cli(capsys, "plan", str(quickstart))
    assert code == 0
    assert (
        "(estimate: built-in rate card; no LEONARDO_API_KEY set; "
        "add --emulator to price on the offline emulator)" in out
    )


def test_plan_on_the_emulator(quickstart: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan --emulator prices with the emulator's calculator, against its balance."""
    code, out, err = _cli(capsys, "plan", str(quickstart), "--emulator", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["credits"] == {"source": "calculator", "total": 51, "unknown_jobs": 0}
    assert data["balance"] == 1_000_000


def test_balance_on_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    """balance --emulator shows the embedded account."""
    code, out, err = _cli(capsys, "balance", "--emulator", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["credits"] == 1_000_000


def test_catalog_live_on_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    """catalog models --live --emulator lists the emulator's platform models."""
    code, out, err = _cli(capsys, "catalog", "models", "--live", "--emulator", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert rows and all(row["catalogue slug"] for row in rows)
    assert {row["surface"] for row in rows} == {"v1", "v2"}


def test_emulator_without_live_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The built-in catalogue needs no API: --emulator alone is a mistake, said so."""
    code, _, err = _cli(capsys, "catalog", "--emulator")
    assert code == 2
    assert "--emulator goes with --live" in err
