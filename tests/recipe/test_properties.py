"""Property tests: random recipes, random YAML and random bytes only ever raise RecipeError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leobatch import expand_plan, load_recipe
from leobatch.errors import RecipeError

KINDS = ["image", "nobg", "upscale", "universal-upscale", "text-to-video", "improve-prompt",
         "image-to-video", "unzoom", "video-upscale", "motion-svd", "picture"]  # fmt: skip
NAMES = st.sampled_from(["a", "b", "c", "seed", "model", "stage", "x y", ""])
TEMPLATES = st.sampled_from(
    ["{{ a }}", "{{ seed }}", "x {{ b | upper }}", "{{ nope }}", "{{ ''.__class__ }}",
     "{% for %}", "{{ 1/0 }}", "{{ [1,2] }}", "{{ upstream.text }}", "{{ range(3) }}",
     "{{ a", "}}{{", "{{ 'a' * 10**8 }}", "{{ upstream.prompt }}"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 2000), st.floats(allow_nan=False, width=32),
    st.text(max_size=12), TEMPLATES,
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)
PARAMS = st.dictionaries(
    st.sampled_from(["width", "height", "num_images", "seed", "contrast", "alchemy",
                     "presetStyle", "negativePrompt", "upscaleMultiplier", "resolution"]),
    VALUES, max_size=4,
)  # fmt: skip
AXIS = st.lists(SCALARS, min_size=1, max_size=3)
ELEMENT = st.sampled_from(["Sparklecore", "x"])
FILES = st.sampled_from(["../x.png", "/etc/passwd", "nope.png", "upstream", "{{ a }}", "r.yaml"])
GUIDES = st.sampled_from(["style-reference", "content-reference", "nope"])
STAGE_NAMES = st.sampled_from(["s0", "s1", "s2"])
STAGE = st.fixed_dictionaries(
    {"kind": st.sampled_from(KINDS)},
    optional={
        "from": st.sampled_from(["s0", "s1", "s2", "zz"]),
        "model": st.sampled_from(["lightning-xl", "phoenix-1.0", "motion-2.0", "nope", "{{ a }}"]),
        "prompt": st.one_of(TEMPLATES, st.text(max_size=20)),
        "when": st.one_of(st.booleans(), TEMPLATES),
        "params": PARAMS,
        "matrix": st.dictionaries(st.sampled_from(["a", "b"]), AXIS, max_size=1),
        "styles": st.lists(st.sampled_from(["Golden Hour", "Nope"]), max_size=2),
        "elements": st.lists(st.fixed_dictionaries({"name": ELEMENT}), max_size=1),
        "init_image": FILES,
        "image": FILES,
        "guidance": st.lists(st.fixed_dictionaries({"type": GUIDES, "image": FILES}), max_size=1),
        "motion": st.sampled_from(["Dolly In", "Nope", "{{ a }}"]),
    },
)  # fmt: skip
RECIPE = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 1, 1, 2]),
        "stages": st.dictionaries(STAGE_NAMES, STAGE, min_size=1, max_size=3),
    },
    optional={
        "vars": st.dictionaries(st.sampled_from(["a", "b"]), VALUES, max_size=2),
        "matrix": st.dictionaries(st.sampled_from(["a", "b", "seed"]), AXIS, max_size=2),
        "defaults": st.fixed_dictionaries({}, optional={"image": PARAMS}),
        "output": st.fixed_dictionaries({}, optional={"path": TEMPLATES | st.just("../x")}),
        "name": st.text(max_size=8),
    },
)  # fmt: skip

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def load_and_expand(data: bytes) -> None:
    """Write ``data`` as a recipe in a fresh folder, load and expand it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_bytes(data)
        try:
            expand_plan(load_recipe(path), max_jobs=500)
        except RecipeError as e:
            assert e.problems, "a RecipeError always carries its problems"
            assert all(p.line >= 1 and p.col >= 1 for p in e.problems)


@SETTINGS
@given(RECIPE)
def test_random_recipes_raise_only_recipe_errors(recipe: dict[str, Any]) -> None:
    """Recipes built from the format's parts either plan or raise RecipeError."""
    load_and_expand(yaml.safe_dump(recipe, allow_unicode=True).encode("utf-8"))


@SETTINGS
@given(
    st.recursive(
        SCALARS,
        lambda i: st.lists(i, max_size=4) | st.dictionaries(st.text(max_size=6), i, max_size=4),
        max_leaves=12,
    )
)
def test_random_yaml_raises_only_recipe_errors(document: Any) -> None:
    """Any YAML document at all either plans or raises RecipeError."""
    load_and_expand(yaml.safe_dump({"version": 1, "stages": document}).encode("utf-8"))
    load_and_expand(yaml.safe_dump(document).encode("utf-8"))


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_recipe_errors(data: bytes) -> None:
    """Arbitrary bytes never crash the loader."""
    load_and_expand(data)


@SETTINGS
@given(
    st.text(
        alphabet=st.sampled_from(list("version: 1\nstages:{}[]-&*!'\"#%@`|>? ak")), max_size=120
    )
)
def test_yaml_like_text_raises_only_recipe_errors(text: str) -> None:
    """Text made of YAML syntax characters never crashes the loader."""
    load_and_expand(text.encode("utf-8"))


SHOTS = st.lists(st.sampled_from([512, 768, 1024]), min_size=1, max_size=2, unique=True)
MODELS = st.sampled_from(["lightning-xl", "sdxl-1.0", "{{ 'lightning-xl' }}"])
PROMPTS = st.sampled_from(["a mug {{ seed }}", "{{ shot | default(1) }} cups"])
WHENS = st.sampled_from(["{{ seed % 2 == 0 }}", "true", "{{ seed > 3 }}"])
PLAUSIBLE = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "matrix": st.fixed_dictionaries(
            {"seed": st.lists(st.integers(0, 10**6), min_size=1, max_size=4, unique=True)},
            optional={"shot": SHOTS},
        ),
        "stages": st.fixed_dictionaries(
            {
                "base": st.fixed_dictionaries(
                    {
                        "kind": st.just("image"),
                        "model": MODELS,
                        "prompt": PROMPTS,
                        "params": st.fixed_dictionaries(
                            {"seed": st.just("{{ seed }}")},
                            optional={
                                "num_images": st.integers(1, 4),
                                "width": st.sampled_from([512, "{{ shot | default(512) }}"]),
                            },
                        ),
                    },
                    optional={"when": WHENS},
                ),
            },
            optional={
                "clean": st.just({"kind": "nobg", "from": "base"}),
                "up": st.just({"kind": "upscale", "from": "base"}),
            },
        ),
    }
)  # fmt: skip


@SETTINGS
@given(PLAUSIBLE)
def test_plausible_recipes_plan_with_consistent_jobs(recipe: dict[str, Any]) -> None:
    """Recipes near the valid space plan (or raise RecipeError) and the plan is consistent."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
        try:
            plan = expand_plan(load_recipe(path), max_jobs=500)
        except RecipeError as e:
            assert e.problems
            return
    seen: set[str] = set()
    paths: set[str] = set()
    for job in plan.jobs:
        assert job.key not in seen, "keys are unique"
        assert job.upstream is None or job.upstream.key in seen, "upstream comes first"
        assert len(job.paths) == job.outputs
        assert not paths & set(job.paths), "no two outputs share a path"
        seen.add(job.key)
        paths.update(job.paths)
    downstream = [j for j in plan.jobs if j.upstream is not None]
    base_outputs = sum(j.outputs for j in plan.jobs if j.stage == "base")
    assert len(downstream) == base_outputs * (len(plan.stages) - 1)
