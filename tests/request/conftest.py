"""Fixtures for the request builder: a recipe folder with real image files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from leobatch.request import BuiltRequest, FieldProblem, build_request

Build = Callable[..., BuiltRequest | list[FieldProblem]]


@pytest.fixture
def recipe_dir(tmp_path: Path) -> Path:
    """A recipe folder holding ``ref.png`` (640x480) and ``refs/face.jpg`` (512x768)."""
    root = tmp_path / "recipe"
    (root / "refs").mkdir(parents=True)
    Image.new("RGB", (640, 480), "red").save(root / "ref.png")
    Image.new("RGB", (512, 768), "blue").save(root / "refs" / "face.jpg")
    Image.new("RGB", (64, 64), "green").save(tmp_path / "outside.png")
    return root


@pytest.fixture
def build(recipe_dir: Path) -> Build:
    """``build_request`` bound to the fixture's recipe folder."""

    def _build(
        kind: str,
        fields: Mapping[str, Any],
        upstream_kind: str | None = None,
        upstream_size: tuple[int, int] | None = None,
    ) -> BuiltRequest | list[FieldProblem]:
        return build_request(
            kind,
            fields,
            upstream_kind=upstream_kind,
            upstream_size=upstream_size,
            recipe_dir=recipe_dir,
        )

    return _build
