"""Every example recipe validates and plans with its exact job and output counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from leobatch import expand_plan, load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

#: recipe -> {stage: (jobs, outputs)}, counted by hand from each recipe:
EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    # 3 seeds x 1 image; one cut-out per image
    "quickstart": {"shot": (3, 3), "cutout": (3, 3)},
    # 2 models x 3 styles x 2 seeds = 12, minus lightning-xl/STOCK_PHOTO (2 seeds), plus 1 include
    "model-grid": {"grid": (11, 11)},
    # 4 CSV rows x 2 images; `when` keeps the 3 featured rows, 1 image each
    "product-batch": {"packshot": (4, 8), "hero": (3, 3)},
    # 2 colourways x 2 images -> 4 cut-outs -> x 2 multipliers = 8 upscales
    "upscale-pipeline": {"render": (2, 4), "cutout": (4, 4), "large": (8, 8)},
    # 2 motion controls, one video each
    "text-to-video": {"teaser": (2, 2)},
    # 3 strengths x 2 images from one local sketch
    "image-to-image": {"render": (3, 6)},
    # 5 models (Phoenix on v1, four on v2) x 2 subjects, one image each
    "model-comparison": {"compare": (10, 10)},
    # one Phoenix still -> Kling 2.6 and Veo 3.1 clips
    "still-to-video": {"still": (1, 1), "clip": (2, 2)},
}


def test_every_example_is_listed() -> None:
    """No example recipe goes untested."""
    assert {p.stem for p in RECIPES.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_plans_with_exact_counts(name: str) -> None:
    """Jobs and outputs per stage are exactly the hand-counted numbers."""
    plan = expand_plan(load_recipe(RECIPES / f"{name}.yaml"))
    counts = dict.fromkeys(plan.stages, (0, 0))
    for job in plan.jobs:
        jobs, outputs = counts[job.stage]
        counts[job.stage] = (jobs + 1, outputs + job.outputs)
    assert counts == EXPECTED[name]
    assert all(len(job.paths) == job.outputs for job in plan.jobs)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_has_schema_modeline(name: str) -> None:
    """Each example starts with the yaml-language-server modeline pointing at the schema."""
    first = (RECIPES / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/recipe.schema.json"
    assert (RECIPES / first.split("=", 1)[1]).resolve().is_file()


def test_image_to_image_uploads_its_local_sketch() -> None:
    """The local init image becomes a file input with its sha256, part of the inputs hash."""
    plan = expand_plan(load_recipe(RECIPES / "image-to-image.yaml"))
    files = {(i.path, i.sha256) for job in plan.jobs for i in job.inputs if i.source == "file"}
    assert len(files) == 1
    ((path, digest),) = files
    assert path is not None and path.endswith("sketch.png") and digest is not None
    assert len(digest) == 64


def test_text_to_video_sends_styles_and_motion() -> None:
    """Video styles and the motion control (an element) reach the body."""
    plan = expand_plan(load_recipe(RECIPES / "text-to-video.yaml"))
    bodies = [job.body for job in plan.jobs]
    assert all(len(body["styleIds"]) == 2 for body in bodies)
    assert bodies[0]["elements"] != bodies[1]["elements"]
