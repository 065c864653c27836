"""The published schema: the forms the code accepts, typed params, catalogue names, its URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from leobatch import catalog, load_recipe
from leobatch.catalog import v2
from leobatch.recipe import schema_enums
from leobatch.recipe.schema import schema, schema_findings

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def recipe(stage: dict[str, Any]) -> dict[str, Any]:
    """A recipe with one stage."""
    return {"version": 1, "stages": {"s": stage}}


def editor_errors(doc: dict[str, Any]) -> list[str]:
    """What an editor validating with the bare schema flags (every rule, catalogue included)."""
    validator = Draft202012Validator(schema())
    return sorted("/".join(map(str, e.absolute_path)) for e in validator.iter_errors(doc))


def test_schema_enums_are_the_catalogue() -> None:
    """Model (v1 and v2: slugs, aliases, names), preset style, video style and v2 style names
    in the schema are exactly the catalogue's (`python -m leobatch.recipe.schema_enums` fixes)."""
    defs = schema()["$defs"]
    models = {n for m in catalog.all_models() for n in (m.slug, m.name, *m.aliases)}
    assert set(defs["model_name"]["anyOf"][0]["enum"]) == models
    assert {"nano-banana-pro", "gemini-image-2", "gpt-image-1.5", "veo-3.1"} <= models
    styles = {p.name for p in catalog.preset_styles()}
    assert set(defs["preset_style"]["anyOf"][0]["enum"]) == styles
    assert set(defs["video_style"]["anyOf"][0]["enum"]) == {v.name for v in catalog.video_styles()}
    v2_styles = {s for m in catalog.v2_models() if m.rules for s in v2.style_names(m)}
    assert set(defs["model_style"]["anyOf"][0]["enum"]) == v2_styles
    assert schema_enums.main(["--check"]) == 0


def test_portable_keys_are_typed_for_editors() -> None:
    """Stage-level width, height, num_images and seed are integers (or templates)."""
    good = recipe({"kind": "image", "model": "nano-banana-pro", "prompt": "a", "width": 1024,
                   "height": "{{ h }}", "num_images": 2, "seed": 7, "styles": ["Dynamic"],
                   "guidance": [{"image": "upstream", "strength": "HIGH"}]})  # fmt: skip
    assert editor_errors(good) == []
    assert schema_findings(good) == []
    bad = recipe({"kind": "image", "prompt": "a", "width": "wide", "num_images": 0, "seed": 1.5})
    assert editor_errors(bad) == ["stages/s/num_images", "stages/s/seed", "stages/s/width"]


def test_params_may_be_one_template() -> None:
    """`params: "{{ p }}"` passes the schema for every kind; a plain string does not."""
    assert editor_errors(recipe({"kind": "image", "prompt": "a", "params": "{{ p }}"})) == []
    assert editor_errors(recipe({"kind": "nobg", "from": "x", "params": "{{ p }}"})) == []
    assert set(editor_errors(recipe({"kind": "image", "prompt": "a", "params": "wide"}))) == {
        "stages/s/params"
    }


def test_context_images_and_elements_take_the_mapping_forms() -> None:
    """`context_images: [{image: ...}]` and `elements: [{akUUID: ...}]` pass, as in the code."""
    doc = recipe(
        {
            "kind": "image",
            "model": "flux-kontext",
            "prompt": "a mug",
            "context_images": [{"image": "upstream"}, "images/mug.png"],
            "elements": [{"akUUID": "9b3f8f4c-0000-4000-8000-000000000000", "weight": 0.5}],
        }
    )
    assert schema_findings(doc) == []
    assert editor_errors(doc) == []


@pytest.mark.parametrize(
    ("params", "flagged"),
    [
        ({"width": 1024, "seed": "{{ seed }}", "alchemy": True, "presetStyle": "CINEMATIC"}, []),
        ({"contrast": 3.5, "someModelField": [1, 2]}, []),  # open: a model's own fields
        ({"width": "wide"}, ["stages/s/params/width"]),
        ({"width": -8}, ["stages/s/params/width"]),  # sizes per model: checked at plan time
        (
            {"num_images": 9, "alchemy": "yes"},
            ["stages/s/params/alchemy", "stages/s/params/num_images"],
        ),
        ({"presetStyle": "CINEMATC"}, ["stages/s/params/presetStyle"]),
    ],
)
def test_image_params_are_typed_for_editors(params: dict[str, Any], flagged: list[str]) -> None:
    """An editor flags a mistyped or out-of-range common field; templates and extra fields pass."""
    doc = recipe({"kind": "image", "model": "phoenix-1.0", "prompt": "a mug", "params": params})
    assert editor_errors(doc) == flagged


def test_params_are_typed_per_kind() -> None:
    """Each kind has its own fields: upscaleMultiplier is ranged for universal-upscale only."""
    upscale = recipe({"kind": "universal-upscale", "from": "x", "params": {"upscaleMultiplier": 3}})
    assert editor_errors(upscale) == ["stages/s/params/upscaleMultiplier"]
    image = recipe({"kind": "image", "prompt": "a", "params": {"upscaleMultiplier": 3}})
    assert editor_errors(image) == []


def test_editors_flag_unknown_models_and_leobatch_reports_them_at_plan_time() -> None:
    """The schema flags `phoenix-1.1` in an editor; leobatch leaves it to its own rule, which
    knows every spelling and UUID (and says what was meant)."""
    doc = recipe({"kind": "image", "model": "phoenix-1.1", "prompt": "a mug"})
    assert editor_errors(doc) == ["stages/s/model"]
    assert schema_findings(doc) == []
    for fine in ("Leonardo Phoenix 1.0", "{{ model }}", "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"):
        assert editor_errors(recipe({"kind": "image", "model": fine, "prompt": "a"})) == []


def test_schema_id_is_versioned() -> None:
    """The schema's identifier names the format version."""
    assert schema()["$id"] == "https://leobatch.dev/schema/recipe-v1.json"


def test_schema_command_prints_the_installed_schema_and_its_path() -> None:
    """`leobatch schema --path` names an existing file equal to schemas/recipe.schema.json,
    and `leobatch schema` prints that file."""

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "leobatch", "schema", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return done.stdout

    source = (REPO / "schemas" / "recipe.schema.json").read_text(encoding="utf-8")
    path = Path(run("--path").strip())
    assert path.is_file()
    assert path.read_text(encoding="utf-8") == source
    assert json.loads(run()) == json.loads(source)


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_example_recipes_pass_the_schema(path: Path) -> None:
    """Every example recipe is valid, to leobatch and to an editor using the schema."""
    load_recipe(path)
    assert editor_errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []
