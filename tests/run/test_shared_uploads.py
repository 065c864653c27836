"""Uploads shared across recipes: one account uploads a local image once in all (issue #12, 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle

REPO = Path(__file__).resolve().parents[2]
SKETCH = REPO / "recipes" / "images" / "sketch.png"


def _recipe(folder: Path, name: str, prompt: str) -> Path:
    """A one-job recipe of its own, rendering from ``images/sketch.png`` beside it."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy(SKETCH, folder / "images" / "sketch.png")
    path = folder / f"{name}.yaml"
    path.write_text(
        f"version: 1\nname: {name}\nstages:\n  render:\n    kind: image\n"
        f"    model: lightning-xl\n    prompt: {prompt}\n    init_image: images/sketch.png\n"
        "    params: {width: 512, height: 512, num_images: 1, init_strength: 0.4}\n",
        encoding="utf-8",
    )
    return path


def _run(emu: EmulatorHandle, recipe: Path) -> dict[str, Any]:
    """Run ``recipe`` to the end; its manifest."""
    done = on_emulator(emu, "run", str(recipe), "--yes", "--time-scale", "0.01")
    assert done.returncode == 0, done.stderr
    manifest: dict[str, Any] = json.loads(
        (recipe.parent / "out" / recipe.stem / "manifest.json").read_text(encoding="utf-8")
    )
    return manifest


def _init_id(manifest: dict[str, Any]) -> str:
    (job,) = manifest["jobs"]
    value = job["request"]["init_image_id"]
    assert isinstance(value, str)
    return value


def test_two_recipes_upload_the_same_image_once(emulator: EmulatorHandle, tmp_path: Path) -> None:
    """A second recipe (its own folder and journal) reuses the first one's upload."""
    first = _run(emulator, _recipe(tmp_path / "a", "mugs", "a mug"))
    second = _run(emulator, _recipe(tmp_path / "b", "cups", "a cup"))
    assert emulator.stats()["requests"]["POST /init-image"] == 1
    assert _init_id(first) == _init_id(second)
    assert all(j["status"] == "complete" for j in first["jobs"] + second["jobs"])


def test_an_upload_the_api_no_longer_knows_is_made_afresh(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Deleted from the account after the first recipe: the next recipe uploads it again."""
    first = _run(emulator, _recipe(tmp_path / "a", "mugs", "a mug"))
    gone = _init_id(first)
    url = f"{emulator.base_url}/init-image/{gone}"
    httpx.delete(url, headers=emulator.headers, timeout=10).raise_for_status()
    second = _run(emulator, _recipe(tmp_path / "b", "cups", "a cup"))
    assert emulator.stats()["requests"]["POST /init-image"] == 2
    assert _init_id(second) != gone
    assert second["jobs"][0]["status"] == "complete"
    third = _run(emulator, _recipe(tmp_path / "c", "bowls", "a bowl"))
    assert _init_id(third) == _init_id(second)  # the fresh upload is the one shared now
    assert emulator.stats()["requests"]["POST /init-image"] == 2


def test_another_emulator_is_uploaded_to_afresh(make_emulator: Any, tmp_path: Path) -> None:
    """Loopback emulators share an account name; a new one does not know the old id."""
    one, two = make_emulator(), make_emulator()
    first = _run(one, _recipe(tmp_path / "a", "mugs", "a mug"))
    second = _run(two, _recipe(tmp_path / "b", "cups", "a cup"))
    assert one.stats()["requests"]["POST /init-image"] == 1
    assert two.stats()["requests"]["POST /init-image"] == 1
    assert two.stats()["requests"]["GET /init-image/{id}"] == 1  # asked first, then uploaded
    assert _init_id(first) != _init_id(second)
    assert second["jobs"][0]["status"] == "complete"


def test_a_resumed_recipe_still_reuses_its_own_upload(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """The recipe's own journal still answers first: a re-run asks the API nothing more."""
    recipe = _recipe(tmp_path / "a", "mugs", "a mug")
    _run(emulator, recipe)
    text = recipe.read_text(encoding="utf-8").replace("a mug", "a tall mug")
    recipe.write_text(text, encoding="utf-8")
    _run(emulator, recipe)
    stats = emulator.stats()["requests"]
    assert stats["POST /init-image"] == 1
    assert "GET /init-image/{id}" not in stats
