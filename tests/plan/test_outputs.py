"""Output paths: normalised, confined to output.dir, and collisions found (case-insensitively)."""

from __future__ import annotations

import pytest

from leobatch.plan.outputs import BadPath, PathRegistry, normalise


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [("a/b.png", "a/b.png"), ("a/./b.png", "a/b.png"), ("a/x/../b.png", "a/b.png"), (7, "7")],
)
def test_normalise_keeps_paths_inside(rendered: object, expected: str) -> None:
    """Relative paths are normalised and kept."""
    assert normalise(rendered) == expected


@pytest.mark.parametrize(
    ("rendered", "reason"),
    [
        ("../x.png", "escapes output.dir"),
        ("a/../../x.png", "escapes output.dir"),
        ("/etc/x.png", "is absolute"),
        ("C:/x.png", "is absolute"),
        ("a\\x.png", "backslash"),
        ("a/", "names a folder"),
        ("", "empty path"),
        (".", "escapes output.dir"),
    ],
)
def test_normalise_refuses_escapes(rendered: str, reason: str) -> None:
    """Absolute, escaping, folder-like and empty paths are refused with a reason."""
    with pytest.raises(BadPath, match=reason):
        normalise(rendered)


def test_registry_reports_second_writer_case_insensitively() -> None:
    """Two owners of one path (or of paths differing only in case) are a collision."""
    registry = PathRegistry(describe=str)
    registry.claim("a/B.png", "first")
    registry.claim("a/c.png", "second")
    registry.claim("a/b.png", "third")
    assert registry.collisions == [("a/b.png", "first", "third")]
