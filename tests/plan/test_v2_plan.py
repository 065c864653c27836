"""Recipes mixing the v1 and v2 surfaces: one stage shape, chaining, located errors, lifecycle."""

# ruff: noqa: E501  (exact user-facing messages read best on one line)

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from leobatch import catalog, expand_plan, load_recipe, plan_recipe
from leobatch.catalog import Model, v2
from leobatch.errors import RecipeError
from leobatch.plan.jobs import Plan

DESIGN = Path(__file__).with_name("fixtures") / "design-example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    """``recipe.yaml`` in ``tmp_path`` holding ``text`` (dedented), with a ``ref.png``."""
    Image.new("RGB", (640, 480), "red").save(tmp_path / "ref.png")
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def plan_of(tmp_path: Path, text: str) -> Plan:
    """The plan of the recipe ``text``."""
    return plan_recipe(write(tmp_path, text))


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """Every problem line of the recipe ``text`` (the file shown as ``recipe.yaml``)."""
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as caught:
        plan_recipe(path)
    return [str(p).replace(str(path), "recipe.yaml") for p in caught.value.problems]


def test_one_stage_compares_models_of_both_surfaces(tmp_path: Path) -> None:
    """model: [phoenix-1.0, nano-banana-pro, gpt-image-1.5, seedream-4.5] in one image stage."""
    plan = plan_of(tmp_path, """
        version: 1
        matrix:
          model: [phoenix-1.0, nano-banana-pro, gpt-image-1.5, seedream-4.5]
        stages:
          hero:
            kind: image
            model: "{{ model }}"
            prompt: a ceramic mug on a marble table
            width: 1024
            height: 1024
            num_images: 2
        defaults:
          image: {contrast: 3.5, alchemy: true}
        """)  # fmt: skip
    by_model = {j.matrix["model"]: j for j in plan.jobs}
    assert [j.endpoint for j in plan.jobs] == ["/generations"] + ["/v2/generations"] * 3
    assert by_model["phoenix-1.0"].body["num_images"] == 2
    assert by_model["phoenix-1.0"].body["alchemy"] is True
    nano = by_model["nano-banana-pro"]
    assert nano.body == {"model": "gemini-image-2", "public": False, "parameters": {
        "prompt": "a ceramic mug on a marble table", "width": 1024, "height": 1024, "quantity": 2,
        "prompt_enhance": "OFF"}}  # fmt: skip
    assert [j.outputs for j in plan.jobs] == [2, 2, 2, 2] and plan.outputs == 8
    assert all(j.size == (1024, 1024) for j in plan.jobs)
    assert [p.rsplit(".", 1)[1] for p in nano.paths] == ["png", "png"]
    assert by_model["phoenix-1.0"].paths[0].endswith(".jpg")


def test_v1_and_v2_outputs_chain_both_ways(tmp_path: Path) -> None:
    """Phoenix (v1) still -> Kling 2.6 (v2) start frame; Nano Banana (v2) still -> v1 nobg -> v2 upscaler."""
    plan = plan_of(tmp_path, """
        version: 1
        stages:
          still:
            kind: image
            model: phoenix-1.0
            prompt: a mug
            num_images: 2
            params: {contrast: 3.5}
          clip:
            kind: image-to-video
            from: still
            model: kling-2.6
            prompt: the mug turns
            params: {duration: 5}
          nano:
            kind: image
            model: nano-banana
            prompt: a mug
            width: 1024
            height: 1024
          clean:
            kind: nobg
            from: nano
          big:
            kind: upscale
            from: clean
            model: pro-upscaler-precise
            params: {upscale_factor: 2}
        """)  # fmt: skip
    counts = {s: sum(1 for j in plan.jobs if j.stage == s) for s in plan.stages}
    assert counts == {"still": 1, "clip": 2, "nano": 1, "clean": 1, "big": 1}
    clip = next(j for j in plan.jobs if j.stage == "clip")
    assert clip.endpoint == "/v2/generations" and clip.outputs == 1
    assert clip.body["parameters"]["guidances"] == {
        "start_frame": [{"image": {"type": "GENERATED"}}]
    }
    assert clip.inputs[0].field == "parameters.guidances.start_frame.0.image.id"
    clean = next(j for j in plan.jobs if j.stage == "clean")
    assert clean.endpoint == "/variations/nobg" and clean.body == {"isVariation": False}
    big = next(j for j in plan.jobs if j.stage == "big")
    assert big.body["parameters"]["guidances"]["image_reference"] == [
        {"image": {"type": "VARIATION"}}
    ]
    assert (big.body["parameters"]["width"], big.body["parameters"]["height"]) == (1024, 1024)
    assert big.size == (2048, 2048) and big.input_size == (1024, 1024)
    assert plan.outputs == 2 + 2 + 1 + 1 + 1


def test_every_v2_problem_is_located_at_its_line(tmp_path: Path) -> None:
    """A bad size, an unknown param, too many references, a retired model: all at once, each at its line."""
    got = problems_of(tmp_path, """
        version: 1
        stages:
          a:
            kind: image
            model: nano-banana-2
            prompt: a mug
            width: 1024
            height: 768
          b:
            kind: image
            model: gpt-image-1.5
            prompt: a mug
            params:
              qualty: HIGH
          c:
            kind: image
            model: nano-banana-pro
            prompt: a mug
            guidance: [{image: ref.png}, {image: ref.png}, {image: ref.png}, {image: ref.png},
                       {image: ref.png}, {image: ref.png}, {image: ref.png}]
          d:
            kind: text-to-video
            model: veo3
            prompt: a mug
        """)  # fmt: skip
    assert got[0].startswith(
        "recipe.yaml:7:5: stage 'a': nano-banana-2 renders 1024x768 as a square silently, so leobatch refuses it"
    )
    assert got[1].startswith(
        "recipe.yaml:14:7: stage 'b': gpt-image-1.5 has no parameter 'qualty'; did you mean 'quality'?"
    )
    assert (
        got[2]
        == "recipe.yaml:19:5: stage 'c': gemini-image-2 takes at most 6 image_reference, not 7"
    )
    assert (
        got[3]
        == "recipe.yaml:23:5: stage 'd': model 'veo3' was retired by Leonardo on 2026-06-29; use 'veo-3.1' instead"
    )
    assert len(got) == 4


def test_retired_v2_model_and_kind_refused_with_date_and_replacement(tmp_path: Path) -> None:
    """`kind: motion-svd` and a retired v2 model (Seedance 1.0 Lite) are refused at validate."""
    got = problems_of(tmp_path, """
        version: 1
        stages:
          still: {kind: image, model: phoenix-1.0, prompt: a, params: {contrast: 3.5}}
          wobble: {kind: motion-svd, from: still}
          clip: {kind: image-to-video, from: still, model: seedance-1.0-lite, prompt: turns}
        """)  # fmt: skip
    assert got == [
        "recipe.yaml:4:12: stage 'wobble': kind 'motion-svd' was retired by Leonardo on 2026-06-17; use kind 'image-to-video' with model 'hailuo-2.3' instead (in 4 combinations)",
        "recipe.yaml:5:45: stage 'clip': model 'seedance-1.0-lite' was retired by Leonardo on 2026-05-13; use 'seedance-1.0-pro-fast' instead (in 4 combinations)",
    ]


RETIRING = """
    version: 1
    stages:
      clip: {kind: image-to-video, image: ref.png, model: kling-2.1, prompt: turns}
    """


def test_a_model_retiring_soon_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within 30 days of its retirement a model plans, with a located warning."""
    monkeypatch.setenv("LEOBATCH_TODAY", "2026-09-01")
    plan = plan_of(tmp_path, RETIRING)
    assert len(plan.jobs) == 1
    (warning,) = plan.warnings
    assert str(warning).endswith(
        ":3:48: warning: model 'kling-2.1' retires on 2026-09-15 (in 14 days); use 'kling-3.0' instead"
    )
    monkeypatch.setenv("LEOBATCH_TODAY", "2026-08-01")
    assert plan_of(tmp_path, RETIRING).warnings == ()
    monkeypatch.setenv("LEOBATCH_TODAY", "2026-09-15")
    with pytest.raises(RecipeError, match="was retired by Leonardo on 2026-09-15"):
        plan_of(tmp_path, RETIRING)


def test_validate_prints_the_warning_and_succeeds(tmp_path: Path) -> None:
    """`leobatch validate` and `plan` exit 0 on a retiring model and say so on stderr."""
    path = write(tmp_path, RETIRING)
    done = subprocess.run(
        [sys.executable, "-m", "leobatch", "validate", str(path)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "LEOBATCH_TODAY": "2026-09-10"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning: model 'kling-2.1' retires on 2026-09-15 (in 5 days)" in done.stderr
    assert "ok — 1 job, 1 output" in done.stdout
    planned = subprocess.run(
        [sys.executable, "-m", "leobatch", "plan", str(path), "--offline", "--json"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "LEOBATCH_TODAY": "2026-09-10"},
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "warning: model 'kling-2.1' retires on 2026-09-15" in planned.stderr
    assert json.loads(planned.stdout)["jobs"] == 1  # stdout stays JSON


def test_params_may_be_one_expression_rendering_to_a_mapping(tmp_path: Path) -> None:
    """`params: "{{ p }}"` with a mapping axis: each job gets its mapping; defaults still merge under."""
    plan = plan_of(tmp_path, """
        version: 1
        matrix:
          p: [{seed: 1}, {seed: 2}]
        defaults:
          image: {prompt_enhance: "ON"}
        stages:
          hero:
            kind: image
            model: seedream-4.5
            prompt: a mug
            params: "{{ p }}"
        """)  # fmt: skip
    got = [dict(j.body["parameters"]) for j in plan.jobs]
    assert [g.get("seed") for g in got] == [1, 2]
    assert all(g["prompt_enhance"] == "ON" for g in got)
    bad = problems_of(tmp_path, """
        version: 1
        stages:
          hero: {kind: image, model: seedream-4.5, prompt: a, params: "{{ 'x' }}"}
        """)  # fmt: skip
    assert bad == ["recipe.yaml:3:55: stage 'hero': params must render to a mapping, not 'x'"]


def test_v1_job_keys_are_unchanged() -> None:
    """The design example's 147 job keys are those leobatch made before the v2 surface."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        (root / "data" / "items.csv").write_text("prop\nspoon\ncup\n")
        shutil.copy(DESIGN, root / "recipe.yaml")
        plan = expand_plan(load_recipe(root / "recipe.yaml"))
    digest = hashlib.sha256("".join(j.key for j in plan.jobs).encode()).hexdigest()
    assert (len(plan.jobs), digest) == (
        147,
        "ce7c7cfc1681ebf9db46d980efc8579496e9df1ae1e7fb8e80b40119e40b2b6e",
    )


def _minimal(model: Model) -> str:
    """The smallest stage of the kind that takes ``model`` (a local image where it needs one)."""
    name = model.aliases[0] if model.aliases else model.slug
    if model.kind == "image":
        return f"{{kind: image, model: {name!r}, prompt: a mug}}"
    if model.kind == "video":
        return f"{{kind: image-to-video, model: {name!r}, prompt: a mug turns, image: ref.png}}"
    kind = "nobg" if model.kind == "remove-bg" else "upscale"
    return f"{{kind: {kind}, model: {name!r}, image: ref.png}}"


V2 = list(catalog.v2_models())
TODAY = datetime.date(2026, 12, 1)


@pytest.mark.parametrize("model", V2, ids=[m.slug for m in V2])
def test_every_v2_model_plans_or_is_refused_as_retired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Model
) -> None:
    """Each catalogued v2 model plans from its smallest stage (one job, its own checks pass),
    or, retired, is refused at validate with its retirement date."""
    monkeypatch.setenv("LEOBATCH_TODAY", TODAY.isoformat())
    text = f"version: 1\nstages:\n  s: {_minimal(model)}\n"
    if catalog.lifecycle(model, TODAY).state == "retired":
        (line,) = problems_of(tmp_path, text)
        assert f"was retired by Leonardo on {model.retire_on}" in line
        return
    (job,) = plan_of(tmp_path, text).jobs
    assert job.endpoint == "/v2/generations" and job.model == model.slug
    assert job.body["model"] == model.id and job.body["public"] is False
    parameters = job.body["parameters"]
    assert parameters["quantity"] == 1 and job.outputs == 1
    if "prompt_enhance" in v2.parameter_names(model):
        assert parameters["prompt_enhance"] == "OFF"
    assert job.paths[0].endswith(".mp4" if model.kind == "video" else ".png")


@pytest.mark.parametrize(
    "model",
    [m for m in catalog.all_models() if catalog.lifecycle(m, TODAY).state == "retired"],
    ids=lambda m: f"{m.surface}-{m.slug}",
)
def test_every_retired_model_is_refused_with_date_and_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Model
) -> None:
    """v1 and v2 retired models alike: refused at the model key, with date and replacement."""
    monkeypatch.setenv("LEOBATCH_TODAY", TODAY.isoformat())
    kind = "text-to-video" if model.kind == "video" else "image"
    (line,) = problems_of(
        tmp_path, f"version: 1\nstages:\n  s: {{kind: {kind}, model: {model.slug!r}, prompt: a}}\n"
    )
    assert f"model {model.slug!r} was retired by Leonardo on {model.retire_on}" in line
    if model.replacement:
        assert f"use {model.replacement!r} instead" in line
