"""expand_plan: matrix semantics, templates, fan-out, keys and paths, on real recipe files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from leobatch import expand_plan, load_recipe
from leobatch.errors import RecipeError
from leobatch.plan.jobs import UPSTREAM_TEXT, Input, Plan


def plan_of(tmp_path: Path, text: str, name: str = "r.yaml") -> Plan:
    """Write ``text`` as a recipe in ``tmp_path`` and expand it."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return expand_plan(load_recipe(path))


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problem messages (without file:line:col) expanding ``text`` reports."""
    with pytest.raises(RecipeError) as caught:
        plan_of(tmp_path, text)
    return [p.message for p in caught.value.problems]


GRID = """\
version: 1
matrix:
  model: [lightning-xl, sdxl-1.0]
  style: [CINEMATIC, MOODY, FILM]
  seed: [1, 2]
  exclude: [{model: sdxl-1.0, style: FILM}]
  include: [{model: flux-dev, style: NONE, seed: 9}]
output: {path: "{{ stage }}/{{ model }}-{{ style }}-{{ seed }}-{{ index }}.{{ ext }}"}
stages:
  hero:
    kind: image
    model: "{{ model }}"
    prompt: "a mug, {{ style | lower }}"
    params: {num_images: 1, seed: "{{ seed }}", presetStyle: "{{ style }}", contrast: 3.5}
"""


def test_product_exclude_include_in_recipe_order(tmp_path: Path) -> None:
    """Axes cross in recipe order; exclude drops matching combos; include adds one each."""
    plan = plan_of(tmp_path, GRID)
    combos = [(j.matrix["model"], j.matrix["style"], j.matrix["seed"]) for j in plan.jobs]
    assert combos[:3] == [("lightning-xl", "CINEMATIC", 1), ("lightning-xl", "CINEMATIC", 2),
                          ("lightning-xl", "MOODY", 1)]  # fmt: skip
    assert len(combos) == 2 * 3 * 2 - 2 + 1
    assert ("sdxl-1.0", "FILM", 1) not in combos
    assert combos[-1] == ("flux-dev", "NONE", 9)


def test_single_expression_renders_native_values(tmp_path: Path) -> None:
    """'{{ seed }}' stays an int in the body; mixed text renders to a string."""
    plan = plan_of(tmp_path, GRID)
    job = plan.jobs[0]
    assert job.body["seed"] == 1 and isinstance(job.body["seed"], int)
    assert job.prompt == "a mug, cinematic"
    assert job.paths == ("hero/lightning-xl-CINEMATIC-1-0.jpg",)


def test_same_recipe_same_keys_and_one_edit_changes_only_its_jobs(tmp_path: Path) -> None:
    """Keys are deterministic; editing one stage's prompt changes that stage and downstream."""
    text = (
        GRID
        + "  clean: {kind: nobg, from: hero}\n  other:\n    kind: image\n"
        + (
            "    model: lightning-xl\n    prompt: a cup {{ model }} {{ style }}\n"
            "    params: {num_images: 1, seed: '{{ seed }}'}\n"
        )
    )
    first = plan_of(tmp_path, text)
    assert [j.key for j in first.jobs] == [j.key for j in plan_of(tmp_path, text).jobs]
    edited = plan_of(tmp_path, text.replace("a mug, {{ style", "a jug, {{ style"))
    before = {j.stage: set() for j in first.jobs}
    after = {j.stage: set() for j in edited.jobs}
    for j in first.jobs:
        before[j.stage].add(j.key)
    for j in edited.jobs:
        after[j.stage].add(j.key)
    assert before["other"] == after["other"]
    assert not before["hero"] & after["hero"]
    assert not before["clean"] & after["clean"]


def test_from_fans_out_per_upstream_output_with_stage_matrix(tmp_path: Path) -> None:
    """One downstream job per upstream output, crossed with the stage-local matrix."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix: {colour: [red, blue]}
        stages:
          base:
            kind: image
            model: lightning-xl
            prompt: "a {{ colour }} shoe"
            params: {num_images: 3, width: 512, height: 512}
          cut: {kind: nobg, from: base}
          big:
            kind: universal-upscale
            from: cut
            matrix: {mult: [1.5, 2.0]}
            params: {upscaleMultiplier: "{{ mult }}", ultraUpscaleStyle: REALISTIC}
        """,
    )
    by_stage = {s: [j for j in plan.jobs if j.stage == s] for s in plan.stages}
    assert [len(by_stage[s]) for s in ("base", "cut", "big")] == [2, 6, 12]
    base_keys = [j.key for j in by_stage["base"]]
    ups = [
        (base_keys.index(j.upstream.key), j.upstream.output) for j in by_stage["cut"] if j.upstream
    ]
    assert ups == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    big = by_stage["big"][0]
    assert big.matrix == {"colour": "red", "mult": 1.5}
    assert big.body["upscaleMultiplier"] == 1.5
    assert big.input_size == (512, 512)
    assert plan.outputs == 6 + 6 + 12
    order = [j.stage for j in plan.jobs]
    assert order == sorted(order, key=("base", "cut", "big").index)


def test_when_skips_falsy_combinations(tmp_path: Path) -> None:
    """`when` is rendered per combination; falsy results skip the job."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix: {n: [1, 2, 3, 4]}
        stages:
          s:
            kind: image
            model: lightning-xl
            when: "{{ n is even }}"
            prompt: "mug {{ n }}"
            params: {num_images: 1, seed: "{{ n }}"}
        """,
    )
    assert [j.matrix["n"] for j in plan.jobs] == [2, 4]


def test_file_axes_csv_jsonl_txt(tmp_path: Path) -> None:
    """File axes read .csv rows, .jsonl objects and .txt lines, relative to the recipe."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("sku,colour\nA1,red\nB2,blue\n")
    (data / "b.jsonl").write_text('{"w": 512}\n\n{"w": 768}\n')
    (data / "c.txt").write_text("wide\n\nclose\n")
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix:
          item: {file: data/a.csv}
          size: {file: data/b.jsonl}
          shot: {file: data/c.txt}
        output: {path: "{{ item.sku }}/{{ size.w }}-{{ shot }}-{{ index }}.{{ ext }}"}
        stages:
          s:
            kind: image
            model: lightning-xl
            prompt: "a {{ item.colour }} mug, {{ shot }} shot"
            params: {num_images: 1, width: "{{ size.w }}", height: 512}
        """,
    )
    assert len(plan.jobs) == 8
    assert plan.jobs[0].paths == ("A1/512-wide-0.jpg",)
    assert plan.jobs[0].body["width"] == 512


def test_inputs_hash_follows_axis_files(tmp_path: Path) -> None:
    """Changing a file the recipe reads changes inputs_sha256 (a stale plan is detectable)."""
    (tmp_path / "t.txt").write_text("a\nb\n")
    text = """\
    version: 1
    matrix: {w: {file: t.txt}}
    stages:
      s: {kind: image, model: lightning-xl, prompt: "{{ w }}", params: {num_images: 1}}
    """
    first = plan_of(tmp_path, text)
    assert plan_of(tmp_path, text).inputs_sha256 == first.inputs_sha256
    (tmp_path / "t.txt").write_text("a\nc\n")
    assert plan_of(tmp_path, text).inputs_sha256 != first.inputs_sha256


def test_improve_prompt_text_flows_downstream(tmp_path: Path) -> None:
    """A downstream prompt may use upstream.text; the job gets an upstream-text input."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        stages:
          idea: {kind: improve-prompt, prompt: a mug on a table}
          img:
            kind: image
            from: idea
            model: lightning-xl
            prompt: "{{ upstream.text }}"
            params: {num_images: 2}
        """,
    )
    idea, img = plan.jobs
    assert idea.outputs == 0 and img.upstream is not None and img.upstream.key == idea.key
    assert img.prompt == UPSTREAM_TEXT
    assert Input(field="prompt", source="upstream-text", id_kind=None) in img.inputs
    assert img.outputs == 2


def test_downstream_sees_upstream_values(tmp_path: Path) -> None:
    """Downstream templates see the upstream's matrix values and `upstream`."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix: {c: [red]}
        output:
          path: "{{ stage }}/{{ c }}-{{ upstream.stage if upstream is defined else 'root' }}-\\
            {{ upstream.index if upstream is defined else index }}.{{ ext }}"
        stages:
          a:
            kind: image
            model: lightning-xl
            prompt: "a {{ c }} cup"
            params: {num_images: 2, width: 512, height: 512}
          b:
            kind: universal-upscale
            from: a
            params: {prompt: "{{ upstream.prompt }} ({{ stage }}, {{ recipe.name }})"}
        """,
    )
    b0, b1 = (j for j in plan.jobs if j.stage == "b")
    assert b0.body["prompt"] == "a red cup (b, r)"
    assert (b0.paths, b1.paths) == (("b/red-a-0.jpg",), ("b/red-a-1.jpg",))


def test_same_problem_in_many_combinations_is_one_line(tmp_path: Path) -> None:
    """One bad template in 1,000 combinations prints one problem with the count."""
    messages = problems_of(
        tmp_path,
        """\
        version: 1
        matrix: {a: [0,1,2,3,4,5,6,7,8,9], b: [0,1,2,3,4,5,6,7,8,9], c: [0,1,2,3,4,5,6,7,8,9]}
        stages:
          s: {kind: image, model: lightning-xl, prompt: "{{ nope }}"}
        """,
    )
    assert messages == [
        "stage 's' (a=0, b=0, c=0): prompt: 'nope' is undefined (in 1000 combinations)"
    ]


def test_param_from_defaults_is_located_at_the_default(tmp_path: Path) -> None:
    """A bad param that came from `defaults` points at its line in `defaults`."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\ndefaults:\n  image: {width: 1001}\nstages:\n"
        "  s: {kind: image, model: lightning-xl, prompt: a}\n"
    )
    with pytest.raises(RecipeError) as caught:
        expand_plan(load_recipe(path))
    (problem,) = caught.value.problems
    assert (problem.line, problem.col) == (3, 11)


def test_max_jobs_counts_downstream_fan_out(tmp_path: Path) -> None:
    """The guard multiplies by a literal num_images before anything is built."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nmatrix: {n: [1, 2, 3]}\nstages:\n"
        "  s: {kind: image, model: lightning-xl, prompt: a,\n"
        "      params: {num_images: 4, seed: '{{ n }}'}}\n"
        "  t: {kind: nobg, from: s}\n"
    )
    recipe = load_recipe(path)
    assert len(expand_plan(recipe, max_jobs=15).jobs) == 15
    with pytest.raises(RecipeError, match="15 jobs, more than the limit of 14"):
        expand_plan(recipe, max_jobs=14)


def test_output_dir_default_and_plan_settings(tmp_path: Path) -> None:
    """output.dir defaults to out/<name> beside the recipe; budget/limits/retry carried."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        name: mugs
        budget: {max_credits: 500}
        limits: {concurrency: 3, create_per_minute: 30, requests_per_minute: 600}
        retry: {failed_jobs: 0}
        stages:
          s: {kind: image, model: lightning-xl, prompt: a, params: {num_images: 1}}
        """,
    )
    assert plan.output_dir == (tmp_path / "out" / "mugs").resolve()
    assert (plan.budget_credits, plan.concurrency, plan.create_per_minute) == (500, 3, 30)
    assert (plan.requests_per_minute, plan.retry_failed_jobs) == (600, 0)
    assert plan.recipe_name == "mugs" and len(plan.recipe_sha256) == 64


def test_when_template_error_is_located_at_when(tmp_path: Path) -> None:
    """A failing `when` names the stage and values, at the `when` line."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nmatrix: {n: [1]}\nstages:\n  s:\n    kind: image\n"
        "    when: '{{ m > 1 }}'\n    model: lightning-xl\n    prompt: a\n"
    )
    with pytest.raises(RecipeError) as caught:
        expand_plan(load_recipe(path))
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:6:5: stage 's' (n=1): when: 'm' is undefined"
    ]


def test_include_only_matrix_makes_just_the_includes(tmp_path: Path) -> None:
    """A matrix with only `include` entries makes one combination per entry."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix:
          include: [{seed: 1}, {seed: 2, extra: x}]
        stages:
          s:
            kind: image
            model: lightning-xl
            prompt: a
            params: {num_images: 1, seed: "{{ seed }}"}
        """,
    )
    assert [dict(j.matrix) for j in plan.jobs] == [{"seed": 1}, {"seed": 2, "extra": "x"}]


def test_exclude_matches_part_of_a_mapping_value(tmp_path: Path) -> None:
    """An exclude entry may give only some keys of a mapping-valued axis."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix:
          shot: [{name: wide, w: 1024}, {name: tall, w: 512}]
          seed: [1, 2]
          exclude: [{shot: {name: wide}, seed: 2}]
        output: {path: "{{ shot.name }}-{{ seed }}-{{ index }}.{{ ext }}"}
        stages:
          s:
            kind: image
            model: lightning-xl
            prompt: a
            params: {num_images: 1, seed: "{{ seed }}", width: "{{ shot.w }}"}
        """,
    )
    assert [j.paths[0] for j in plan.jobs] == ["wide-1-0.jpg", "tall-1-0.jpg", "tall-2-0.jpg"]


def test_guard_points_at_a_big_stage_matrix(tmp_path: Path) -> None:
    """A stage-local matrix that passes the limit is refused at that stage's matrix."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nstages:\n  s:\n    kind: image\n    model: lightning-xl\n    prompt: a\n"
        "    matrix: {a: [1, 2, 3], b: [1, 2, 3]}\n"
    )
    with pytest.raises(RecipeError) as caught:
        expand_plan(load_recipe(path), max_jobs=8)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:7:5: stage 's': its matrix of 9 combinations makes 9 jobs, more than the limit"
        " of 8; narrow the matrix or raise the limit with --max-jobs"
    ]


def test_stage_exclude_may_name_upstream_axes(tmp_path: Path) -> None:
    """A stage-local exclude matches the upstream's values crossed with the local ones."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix: {colour: [red, blue]}
        stages:
          base:
            kind: image
            model: lightning-xl
            prompt: "a {{ colour }} shoe"
            params: {num_images: 1, width: 512, height: 512}
          big:
            kind: universal-upscale
            from: base
            matrix:
              mult: [1.5, 2.0]
              exclude: [{colour: blue, mult: 2.0}]
            params: {upscaleMultiplier: "{{ mult }}"}
        """,
    )
    big = [(j.matrix["colour"], j.matrix["mult"]) for j in plan.jobs if j.stage == "big"]
    assert big == [("red", 1.5), ("red", 2.0), ("blue", 1.5)]


def test_a_bad_template_does_not_hide_the_other_mistakes(tmp_path: Path) -> None:
    """An undefined variable in the prompt, an unknown model and a misspelt field: all three."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nstages:\n  hero:\n    kind: image\n    model: phoenix-1.1\n"
        "    prompt: 'a mug {{ colour }}'\n    params: {negativePrompt: blurry}\n"
    )
    with pytest.raises(RecipeError) as caught:
        expand_plan(load_recipe(recipe))
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 3, messages
    assert any("'colour' is undefined" in m for m in messages)
    assert any("unknown model 'phoenix-1.1'" in m for m in messages)
    assert any("unknown request field 'negativePrompt'" in m for m in messages)
    assert not any("needs a prompt" in m for m in messages)
