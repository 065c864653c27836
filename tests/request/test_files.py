"""Local files: resolved in the recipe's folder, confined to its tree, hashed, cached by mtime."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from leobatch.request import BuiltRequest, FieldProblem

Build = Callable[..., BuiltRequest | list[FieldProblem]]


def message(result: BuiltRequest | list[FieldProblem]) -> str:
    """The single problem's message."""
    assert isinstance(result, list) and len(result) == 1, result
    return result[0].message


def init(path: str) -> dict[str, object]:
    """A Lightning XL stage with this init image."""
    return {"model": "lightning-xl", "prompt": "p", "init_image": path}


def test_relative_path_is_hashed(build: Build, recipe_dir: Path) -> None:
    """Input.path is relative to the recipe folder; sha256 is the file's."""
    built = build("image", init("refs/face.jpg"))
    assert isinstance(built, BuiltRequest)
    (item,) = built.inputs
    expected = hashlib.sha256((recipe_dir / "refs" / "face.jpg").read_bytes()).hexdigest()
    assert (item.field, item.source, item.id_kind, item.path, item.sha256) == (
        "init_image_id", "file", "init-image", "refs/face.jpg", expected,
    )  # fmt: skip


def test_parent_escape_refused(build: Build) -> None:
    """'../x.png' leaves the recipe folder even though the file exists."""
    assert message(build("image", init("../outside.png"))) == (
        "'../outside.png' is outside the recipe's folder; local files must stay inside it"
    )


def test_absolute_paths(build: Build, recipe_dir: Path) -> None:
    """An absolute path outside is refused; one inside the tree is fine."""
    outside = str(recipe_dir.parent / "outside.png")
    assert message(build("image", init(outside))).endswith(
        "is outside the recipe's folder; local files must stay inside it"
    )
    built = build("image", init(str(recipe_dir / "ref.png")))
    assert isinstance(built, BuiltRequest) and built.inputs[0].path == "ref.png"


def test_symlink_escape_refused(build: Build, recipe_dir: Path) -> None:
    """A symlink inside the tree that points outside it is refused."""
    (recipe_dir / "link.png").symlink_to(recipe_dir.parent / "outside.png")
    assert message(build("image", init("link.png"))) == (
        "'link.png' is outside the recipe's folder; local files must stay inside it"
    )
    (recipe_dir / "inner.png").symlink_to(recipe_dir / "ref.png")
    built = build("image", init("inner.png"))
    assert isinstance(built, BuiltRequest) and built.inputs[0].path == "ref.png"


def test_missing_wrong_type_and_not_a_file(build: Build, recipe_dir: Path) -> None:
    """Missing files, non-images and folders are each a problem."""
    assert message(build("image", init("nope.png"))) == (
        "file 'nope.png' does not exist (paths are relative to the recipe's folder)"
    )
    assert (
        message(build("image", init("notes.txt")))
        == "'notes.txt' must be a .png, .jpg, .jpeg, .webp image"
    )
    (recipe_dir / "dir.png").mkdir()
    assert message(build("image", init("dir.png"))) == "'dir.png' is not a file"
    assert message(build("image", init(""))) == "must be a path to an image file, not ''"


def test_changed_file_is_rehashed(build: Build, recipe_dir: Path) -> None:
    """The hash cache is keyed by mtime and size: new content, new hash."""
    target = recipe_dir / "ref.png"
    first = build("image", init("ref.png"))
    Image.new("RGB", (320, 200), "white").save(target)
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = build("image", init("ref.png"))
    assert isinstance(first, BuiltRequest) and isinstance(second, BuiltRequest)
    assert first.inputs[0].sha256 != second.inputs[0].sha256
    assert second.inputs[0].sha256 == hashlib.sha256(target.read_bytes()).hexdigest()


def test_file_created_after_a_miss_is_found(build: Build, recipe_dir: Path) -> None:
    """A missing file is not remembered as missing."""
    assert isinstance(build("image", init("late.png")), list)
    Image.new("RGB", (8, 8)).save(recipe_dir / "late.png")
    assert isinstance(build("image", init("late.png")), BuiltRequest)
