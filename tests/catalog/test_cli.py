"""``leobatch catalog``: the real CLI through click's runner (plain text, since not a terminal)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from click.testing import CliRunner

from leobatch import catalog
from leobatch.cli import cli


def run(*args: str) -> str:
    """The command's standard output; it must succeed."""
    result = CliRunner().invoke(cli, ["catalog", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_summary_counts_every_table() -> None:
    """Without a table name: one line per table with its entry count."""
    lines = run().splitlines()
    assert lines[0].split() == ["table", "entries", "what"]
    counts = {line.split()[0]: int(line.split()[1]) for line in lines[1:]}
    assert counts == {
        "models": len(catalog.all_models()),
        "styles": len(catalog.preset_styles()),
        "video-styles": len(catalog.video_styles()),
        "motion-controls": len(catalog.motion_controls()),
        "elements": len(catalog.elements()),
    }


def test_models_table_lists_slugs_names_and_ids() -> None:
    """Each model of both surfaces is one aligned row with slug, display name, surface and id."""
    out = run("models")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["slug", "name", "surface", "kind"]
    for model in catalog.all_models():
        row = next(line for line in lines if line.startswith(model.slug + " "))
        assert model.name in row and model.id in row and f" {model.surface} " in row
        assert all(alias in row for alias in model.aliases)
    assert "style 166, character 397, content 364" in out
    assert len(lines) == 1 + len(catalog.all_models())


def row_of(out: str, slug: str) -> str:
    """The plain-text row of ``slug``."""
    return next(line for line in out.splitlines() if line.startswith(slug + " "))


def test_models_table_shows_lifecycle_and_v2_rules() -> None:
    """Retired models say when and what instead; v2 rows summarise their rules."""
    out = run("models")
    assert "retired 2026-06-29 -> veo-3.1" in row_of(out, "veo3")
    assert "retired 2026-09-15 -> kling-3.0" in row_of(out, "kling-2.1")
    assert "retired 2026-05-13 -> seedance-1.0-pro-fast" in row_of(out, "seedance-1.0-lite")
    assert "retired 2026-07-09" in row_of(out, "sora-2")
    nano = row_of(out, "gemini-image-2")
    assert "nano-banana-pro" in nano and "quantity <= 8" in nano and "19 styles" in nano
    assert "5 or 10 s" in row_of(out, "kling-2.6")
    assert "retir" not in row_of(out, "kling-3.0")


def test_retiring_within_30_days_is_shown_with_its_date() -> None:
    """A model 30 days or less before its date is 'retiring on DATE'; earlier it is current."""
    from leobatch.cli._catalog_models import model_rows

    on = datetime.date(2026, 6, 1)
    rows = {r[0]: r[7] for r in model_rows(on)}
    assert rows["veo3"] == "retiring on 2026-06-29 -> veo-3.1"
    assert rows["svd"] == "retiring on 2026-06-17 -> hailuo-2.3"
    assert rows["kling-2.1"] == ""  # 106 days ahead
    assert rows["seedance-1.0-lite"] == "retired 2026-05-13 -> seedance-1.0-pro-fast"


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
    nano = next(m for m in models if m["slug"] == "gemini-image-2")
    assert nano["surface"] == "v2" and nano["aliases"] == ["nano-banana-pro"]
    assert nano["rules"]["quantity_max"] == 8 and nano["rules"]["sizes"]["kind"] == "axes"
    assert nano["lifecycle"] == {"state": "current", "date": None, "replacement": None}
    veo = next(m for m in models if m["slug"] == "veo3")
    assert veo["lifecycle"] == {"state": "retired", "date": "2026-06-29", "replacement": "veo-3.1"}
    controls = json.loads(run("motion-controls", "--json"))
    assert {"name": "Dolly In", "id": "ece8c6a9-3deb-430e-8c93-4d5061b6adbf"} in controls


def test_unknown_table_is_a_usage_error() -> None:
    """An unknown table name exits 2 and lists the choices."""
    result = CliRunner().invoke(cli, ["catalog", "modles"])
    assert result.exit_code == 2 and "models" in result.output


def test_live_lists_the_accounts_models_and_elements(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--live reads /platformModels, /v2/models and /elements from the API (the emulator)."""
    monkeypatch.setenv("LEONARDO_API_KEY", emulator.api_key)
    monkeypatch.setenv("LEONARDO_API_BASE_URL", emulator.base_url)
    models = json.loads(run("models", "--live", "--json"))
    assert {"surface": "v1", "id": "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3",
            "name": "Leonardo Phoenix 1.0", "catalogue slug": "phoenix-1.0",
            "status": "catalogued"} in models  # fmt: skip
    v2 = [m for m in models if m["surface"] == "v2"]
    current = {m.slug for m in catalog.v2_models() if m.retire_on is None}
    assert {m["catalogue slug"] for m in v2} == current  # the emulator lists every current one
    assert all(m["status"] == "catalogued" and m["id"] for m in v2)
    assert not any(m["catalogue slug"] == "sora-2" for m in v2)
    plain = run("elements", "--live")
    assert "Sparklecore" in plain and "90fa02f2-fb7a-4c6a-bac2-4074dfab1a4a" in plain
    assert plain.splitlines()[0].split()[:2] == ["akUUID", "name"]


def test_live_needs_models_or_elements() -> None:
    """--live with another table is a usage error."""
    result = CliRunner().invoke(cli, ["catalog", "styles", "--live"])
    assert result.exit_code == 2 and "--live lists 'models' or 'elements'" in result.output


def test_v2_listing_is_compared_with_the_catalogue() -> None:
    """Listed models match on display name (or a request string); both kinds of gap are rows."""
    from leobatch.api._models import V2Model
    from leobatch.cli._catalog_models import compare_v2

    listed = [
        V2Model(id="0f0e-1", name="Nano Banana Pro", slug=None, parameters={}),
        V2Model(id="0f0e-2", name="GPT-Image 1.5", slug=None, parameters={}),
        V2Model(id="0f0e-3", name="Some New Model", slug=None, parameters={}),
        V2Model(id="0f0e-4", name=None, slug="kling-2.6", parameters={}),
        V2Model(id="0f0e-5", name="Sora 2", slug=None, parameters={}),
    ]
    rows = compare_v2(listed, datetime.date(2026, 12, 1))
    assert rows[:5] == [
        ("v2", "0f0e-1", "Nano Banana Pro", "gemini-image-2", "catalogued"),
        ("v2", "0f0e-2", "GPT-Image 1.5", "gpt-image-1.5", "catalogued"),
        ("v2", "0f0e-3", "Some New Model", "", "not in catalogue"),
        ("v2", "0f0e-4", "", "kling-2.6", "catalogued"),
        ("v2", "0f0e-5", "Sora 2", "sora-2", "catalogued as retired 2026-07-09"),
    ]
    unlisted = {r[3] for r in rows[5:]}
    assert all(r[4] == "not listed by the API" for r in rows[5:])
    current = {m.slug for m in catalog.v2_models() if m.retire_on is None}
    assert unlisted == current - {"gemini-image-2", "gpt-image-1.5", "kling-2.6"}
