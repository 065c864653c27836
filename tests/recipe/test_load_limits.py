"""Where loading refuses a recipe for its bytes or its size, the message says where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from leobatch import load_recipe
from leobatch.errors import RecipeError
from leobatch.recipe import marked


def messages(path: Path) -> list[str]:
    """The problem lines loading ``path`` reports."""
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    return [str(p) for p in caught.value.problems]


def test_non_utf8_byte_is_located_in_characters(tmp_path: Path) -> None:
    """The column counts characters: two-byte letters before the bad byte count once."""
    path = tmp_path / "r.yaml"
    text = "version: 1\nstages:\n  a:\n    kind: image\n    prompt: 'crème brûlée "
    path.write_bytes(text.encode() + b"\xe9'\n")
    assert messages(path) == [f"{path}:5:27: the recipe is not UTF-8 text (byte 0xe9)"]


def test_unprintable_character_is_located_at_its_line(tmp_path: Path) -> None:
    """PyYAML reports an offset into the file; it becomes the character's line and column."""
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\nstages:\n  a: {kind: im\x07age}\n", encoding="utf-8")
    assert messages(path) == [
        f"{path}:3:15: not a readable YAML file: special characters are not allowed"
    ]


def test_too_many_values_names_the_list_and_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long include list is refused at that list, with the counts, not as an alias bomb.

    (The real limit, 200,000 values, takes seconds of YAML parsing to reach; 1,000 is the
    same code path.)"""
    monkeypatch.setattr(marked, "MAX_VALUES", 1000)
    entries = ", ".join(f"{{seed: {i}}}" for i in range(600))
    path = tmp_path / "r.yaml"
    text = f"version: 1\nmatrix:\n  seed: [1]\n  include: [{entries}]\n"
    path.write_text(text + "stages: {a: {kind: image}}\n", encoding="utf-8")
    assert messages(path) == [
        f"{path}:4:12: the recipe has 1,816 YAML values (keys, items and scalars), more than "
        "the 1,000 allowed; this list has 600 entries"
    ]


def test_alias_expansion_says_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small document whose aliases expand past the limit is refused as such."""
    monkeypatch.setattr(marked, "MAX_VALUES", 1000)
    lines = ["version: 1", "stages: {a: {kind: image}}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 4)]
    path = tmp_path / "r.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert messages(path) == [
        f"{path}:1:1: the recipe expands to more than 1000 values through its aliases (the limit)"
    ]
