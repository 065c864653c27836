"""A job the API refuses: exit 3, and the API's message at the recipe line that produced it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RECIPE = """\
version: 1
name: mod
matrix:
  subject: [a mug, a naked mug]
stages:
  hero:
    kind: image
    model: lightning-xl
    prompt: "{{ subject }} on a table"
    params: {width: 512, height: 512, num_images: 1}
"""


def test_a_refused_job_is_reported_at_its_recipe_line(tmp_path: Path) -> None:
    """The moderated combination fails alone; the other renders; stderr locates the failure."""
    recipe = tmp_path / "m.yaml"
    recipe.write_text(RECIPE)
    result = subprocess.run(
        [sys.executable, "-m", "leobatch", "run", str(recipe), "--emulator", "--yes"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "1 of 2 jobs complete, 1 failed" in result.stdout
    assert (
        f"{recipe}:6:3: stage hero (subject=a naked mug): POST /generations: HTTP 403: "
        "content moderation filter: naked"
    ) in result.stderr
    assert "Traceback" not in result.stderr
