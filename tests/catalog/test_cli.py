"""``leobatch catalog``: the real CLI through click's runner (plain text, since not a terminal)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from leobatch import catalog
from leobatch.cli import cli


def run(*args: str) -> str:
    """The command's output; it must succeed."""
    result = CliRunner().invoke(cli, ["catalog", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_summary_counts_every_table() -> None:
    """Without a table name: one line per table with its entry count."""
    lines = run().splitlines()
    assert lines[0].split() == ["table", "entries", "what"]
    counts = {line.split()[0]: int(line.split()[1]) for line in lines[1:]}
    assert counts == {
        "models": len(catalog.models()),
        "styles": len(catalog.preset_styles()),
        "video-styles": len(catalog.video_styles()),
        "motion-controls": len(catalog.motion_controls()),
        "elements": len(catalog.elements()),
    }


def test_models_table_lists_slugs_names_and_ids() -> None:
    """Each model is one aligned row with slug, display name and id."""
    out = run("models")
    for model in catalog.models():
        row = next(line for line in out.splitlines() if line.startswith(model.slug + " "))
        assert model.name in row and model.id in row
    assert "style 166, character 397, content 364" in out


def test_each_table_prints_every_entry() -> None:
    """Styles, video styles, motion controls and elements: one row per entry, plain text."""
    styles = run("styles")
    assert all(p.name in styles for p in catalog.preset_styles())
    videos = run("video-styles")
    assert any(line.split()[:3] == ["Lighting", "Golden", "Hour"] for line in videos.splitlines())
    motions = run("motion-controls").splitlines()
    assert len(motions) == 1 + len(catalog.motion_controls())
    elements = run("elements")
    assert "Cybertech" in elements and "-2..3" in elements
    assert "\x1b[" not in elements + styles + videos


def test_json_output() -> None:
    """--json prints the catalogue values, or the counts without a table."""
    models = json.loads(run("models", "--json"))
    phoenix = next(m for m in models if m["slug"] == "phoenix-1.0")
    assert (
        phoenix["guidance"]["style-reference"] == 166 and phoenix["calculator_flag"] == "isPhoenix"
    )
    assert json.loads(run("--json"))["elements"] == len(catalog.elements())
    controls = json.loads(run("motion-controls", "--json"))
    assert {"name": "Dolly In", "id": "ece8c6a9-3deb-430e-8c93-4d5061b6adbf"} in controls


def test_unknown_table_is_a_usage_error() -> None:
    """An unknown table name exits 2 and lists the choices."""
    result = CliRunner().invoke(cli, ["catalog", "modles"])
    assert result.exit_code == 2 and "models" in result.output


def test_live_lists_the_accounts_models_and_elements(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--live reads /platformModels and /elements from the API (here the emulator)."""
    monkeypatch.setenv("LEONARDO_API_KEY", emulator.api_key)
    monkeypatch.setenv("LEONARDO_API_BASE_URL", emulator.base_url)
    models = json.loads(run("models", "--live", "--json"))
    assert {"id": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3", "name": "Leonardo Phoenix 1.0",
            "catalogue slug": "phoenix-1.0"} in models  # fmt: skip
    plain = run("elements", "--live")
    assert "Sparklecore" in plain and "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a" in plain
    assert plain.splitlines()[0].split()[:2] == ["akUUID", "name"]


def test_live_needs_models_or_elements() -> None:
    """--live with another table is a usage error."""
    result = CliRunner().invoke(cli, ["catalog", "styles", "--live"])
    assert result.exit_code == 2 and "--live lists 'models' or 'elements'" in result.output
