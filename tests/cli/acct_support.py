"""Recipes and emulator helpers shared by the history, clean and drift tests."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from tests.cli.support import on_emulator
from tests.conftest import EmulatorHandle

SKETCH = Path(__file__).resolve().parents[2] / "recipes" / "images" / "sketch.png"


def pipeline_recipe(
    folder: Path,
    name: str,
    colours: tuple[str, ...] = ("red", "navy"),
    *,
    upload: bool = False,
    cutout: bool = True,
) -> Path:
    """A two-stage recipe: one image per colour (from a local sketch with ``upload``), then its
    background removed (a variation) unless not ``cutout``."""
    folder.mkdir(parents=True, exist_ok=True)
    init = ""
    if upload:
        (folder / "images").mkdir(exist_ok=True)
        shutil.copy(SKETCH, folder / "images" / "sketch.png")
        init = "    init_image: images/sketch.png\n"
    path = folder / f"{name}.yaml"
    path.write_text(
        f"version: 1\nname: {name}\nmatrix:\n  colour: [{', '.join(colours)}]\nstages:\n"
        "  render:\n    kind: image\n    model: lightning-xl\n"
        f'    prompt: "a {{{{ colour }}}} {name} sneaker"\n{init}'
        "    params: {width: 512, height: 512, num_images: 1}\n"
        + ("  cutout:\n    kind: nobg\n    from: render\n" if cutout else ""),
        encoding="utf-8",
    )
    return path


def run(emu: EmulatorHandle, recipe: Path, *args: str) -> dict[str, Any]:
    """Run ``recipe`` to the end on ``emu``; its manifest."""
    done = on_emulator(emu, "run", str(recipe), "--yes", "--time-scale", "0.01", *args)
    assert done.returncode == 0, done.stderr
    return manifest(recipe)


def manifest(recipe: Path) -> dict[str, Any]:
    """The manifest of ``recipe`` (default output directory)."""
    text = (recipe.parent / "out" / recipe.stem / "manifest.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def direct_generation(emu: EmulatorHandle, prompt: str) -> str:
    """A generation made on the account by something else than leobatch; its id."""
    body = {"prompt": prompt, "width": 512, "height": 512, "num_images": 1}
    for _ in range(100):
        response = httpx.post(
            f"{emu.base_url}/generations", json=body, headers=emu.headers, timeout=10
        )
        if response.status_code != 429:
            response.raise_for_status()
            generation_id: str = response.json()["sdGenerationJob"]["generationId"]
            return generation_id
        time.sleep(0.05)
    raise AssertionError("the emulator kept answering 429")


def listed_ids(emu: EmulatorHandle) -> set[str]:
    """Every generation id the account's listing shows (paged)."""
    ids: set[str] = set()
    offset = 0
    while True:
        response = httpx.get(
            f"{emu.base_url}/generations/user/{emu.state.config.user_id}",
            params={"offset": offset, "limit": 50},
            headers=emu.headers,
            timeout=10,
        )
        response.raise_for_status()
        page = response.json()["generations"]
        ids.update(g["id"] for g in page)
        if len(page) < 50:
            return ids
        offset += 50


def exists(emu: EmulatorHandle, path: str, key: str) -> bool:
    """Whether ``GET path`` finds the object (``key`` non-null / non-empty)."""
    response = httpx.get(f"{emu.base_url}{path}", headers=emu.headers, timeout=10)
    response.raise_for_status()
    return bool(response.json()[key])
