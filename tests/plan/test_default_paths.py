"""Default output paths (no output.path): named by matrix values, downstream after the source."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from leobatch import expand_plan, load_recipe
from leobatch.api.client import LeonardoClient
from leobatch.errors import RecipeError
from leobatch.plan.jobs import Plan
from leobatch.plan.readable import slug, value_part
from leobatch.pricing.calculator import price_online
from leobatch.run.engine import RunOptions, RunResult, run_plan
from leobatch.run.journal import Journal
from tests.conftest import TEST_TIME_SCALE, EmulatorHandle

#: The issue's example: a model x seed grid, a cutout of every shot, each cut out upscaled twice.
GRID = """\
version: 1
matrix:
  model: [lightning-xl, phoenix-1.0]
  seed: [11, 42]
stages:
  shot:
    kind: image
    model: "{{ model }}"
    prompt: "a ceramic mug"
    params: {width: 512, height: 512, num_images: 2, seed: "{{ seed }}", contrast: 3.5}
  cutout:
    kind: nobg
    from: shot
  large:
    kind: universal-upscale
    from: cutout
    matrix: {mult: [1.5, 2.0]}
    params: {upscaleMultiplier: "{{ mult }}", ultraUpscaleStyle: REALISTIC}
"""


def plan_of(tmp_path: Path, text: str, name: str = "r.yaml") -> Plan:
    """Write ``text`` as a recipe in ``tmp_path`` and expand it."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return expand_plan(load_recipe(path))


def paths_of(plan: Plan, stage: str) -> list[str]:
    """Every path the stage's jobs write, in plan order."""
    return [p for job in plan.jobs if job.stage == stage for p in job.paths]


def test_grid_names_follow_the_matrix_and_the_source(tmp_path: Path) -> None:
    """The issue's example, exactly: values in axis order, a cutout named like its shot."""
    plan = plan_of(tmp_path, GRID)
    combos = [
        "lightning-xl-seed11",
        "lightning-xl-seed42",
        "phoenix-1.0-seed11",
        "phoenix-1.0-seed42",
    ]
    shots = [f"{c}-{i}" for c in combos for i in (0, 1)]
    assert paths_of(plan, "shot") == [f"shot/{s}.jpg" for s in shots]
    assert paths_of(plan, "cutout") == [f"cutout/{s}.png" for s in shots]
    assert paths_of(plan, "large") == [
        f"large/{s}-mult{m}.jpg" for s in shots for m in ("1.5", "2.0")
    ]


def test_keys_do_not_depend_on_the_paths(tmp_path: Path) -> None:
    """The same recipe with the old default written out has the same keys, at key paths."""
    old = GRID.replace(
        "stages:", 'output: {path: "{{ stage }}/{{ job }}-{{ index }}.{{ ext }}"}\nstages:'
    )
    new, explicit = plan_of(tmp_path, GRID), plan_of(tmp_path, old, "old.yaml")
    assert [j.key for j in new.jobs] == [j.key for j in explicit.jobs]
    assert [j.paths for j in new.jobs] != [j.paths for j in explicit.jobs]
    job = explicit.jobs[0]
    assert job.paths == (f"shot/{job.key[:12]}-0.jpg", f"shot/{job.key[:12]}-1.jpg")


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ("Lightning XL", "lightning-xl"),
        ("  Über  Café! ", "ber-caf"),
        ("../../etc/passwd", "etc-passwd"),
        (".hidden", "hidden"),
        ("a/b\\c:d*e?", "a-b-c-d-e"),
        ("UPPER_case.v2", "upper_case.v2"),
        ("日本", "look-ac3da3e9"),
        (7, "look7"),
        (-1, "look-1"),
        (1.5, "look1.5"),
        (2.0, "look2.0"),
        (1e20, "look1e20"),
        (True, "looktrue"),
        (None, "looknull"),
        ({"name": "Wide Shot", "width": 1536}, "wide-shot"),
        ({"id": 3, "width": 1536}, "look3"),
        ({"slug": "sq", "id": "By Id"}, "by-id"),
        ({"slug": "Sq", "width": 1}, "sq"),
        ({"width": 1536, "height": 640}, "look-bb8c32c8"),
        ([1, 2], "look-49a64717"),
    ],
)
def test_value_parts(value: object, part: str) -> None:
    """Strings slugged, numbers and bools after their axis, mappings by name/id/slug or hash."""
    assert value_part("look", value) == part


def test_slug_keeps_dots_and_underscores_inside_only() -> None:
    """No leading dot (a hidden file) and no '..' part: dots and dashes are trimmed."""
    assert [slug(s) for s in ("..", "-a.b_c-", "v1.", "...x...")] == ["", "a.b_c", "v1", "x"]


def test_mapping_axes_and_file_rows_are_named_by_their_name(tmp_path: Path) -> None:
    """A zipped axis reads as its name; a CSV row (a mapping) with neither as a hash."""
    (tmp_path / "items.csv").write_text("sku,prop\nA-1,fork\nB 2,spoon\n", encoding="utf-8")
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix:
          shot:
            - {name: Wide, width: 1536, height: 640}
            - {name: square, width: 1024, height: 1024}
          item: {file: items.csv}
        stages:
          hero:
            kind: image
            model: lightning-xl
            prompt: "a mug with a {{ item.prop }}"
            params: {width: "{{ shot.width }}", height: "{{ shot.height }}", num_images: 1}
        """,
    )
    names = paths_of(plan, "hero")
    assert names[0].startswith("hero/wide-item-") and names[2].startswith("hero/square-item-")
    assert len(set(names)) == 4 and all(n.endswith("-0.jpg") for n in names)


def test_values_that_slug_alike_fall_back_to_the_key_form(tmp_path: Path) -> None:
    """'Red' and 'red!' both name 'red': both jobs use their key, the others stay readable."""
    text = """\
        version: 1
        matrix: {colour: [COLOURS]}
        stages:
          hero:
            kind: image
            model: lightning-xl
            prompt: "a {{ colour }} mug"
            params: {num_images: 1}
          clean: {kind: nobg, from: hero}
        """
    plan = plan_of(tmp_path, text.replace("COLOURS", "Red, blue, 'red!'"))
    by_colour = {j.matrix["colour"]: j for j in plan.jobs if j.stage == "hero"}
    red, other = by_colour["Red"], by_colour["red!"]
    assert red.paths == (f"hero/{red.key[:12]}-0.jpg",)
    assert other.paths == (f"hero/{other.key[:12]}-0.jpg",)
    assert by_colour["blue"].paths == ("hero/blue-0.jpg",)
    # Downstream files are still named after their source file.
    assert paths_of(plan, "clean") == [
        f"clean/{red.key[:12]}-0.png",
        "clean/blue-0.png",
        f"clean/{other.key[:12]}-0.png",
    ]
    # Whatever the order of the jobs, the same job gets the same path.
    swapped = plan_of(tmp_path, text.replace("COLOURS", "'red!', blue, Red"), "swapped.yaml")
    assert {j.key: j.paths for j in swapped.jobs} == {j.key: j.paths for j in plan.jobs}


def test_stages_named_alike_but_for_case_do_not_share_files(tmp_path: Path) -> None:
    """'Hero/x' and 'hero/x' are one file on macOS: the later stage takes the key form."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        defaults: {image: {num_images: 1}}
        matrix: {seed: [1]}
        stages:
          hero: {kind: image, model: lightning-xl, prompt: a mug, params: {seed: "{{ seed }}"}}
          Hero: {kind: image, model: lightning-xl, prompt: a cup, params: {seed: "{{ seed }}"}}
        """,
    )
    first, second = plan.jobs
    assert first.paths[0] == "hero/seed1-0.jpg"
    assert second.paths[0] == f"Hero/{second.key[:12]}-0.jpg"


def test_a_name_too_long_for_the_file_system_falls_back_to_the_key(tmp_path: Path) -> None:
    """A 300-character value cannot name a file (NAME_MAX 255): that job uses its key."""
    plan = plan_of(
        tmp_path,
        f"""\
        version: 1
        defaults: {{image: {{num_images: 1}}}}
        matrix: {{subject: [short, "{"x" * 300}"]}}
        stages:
          hero: {{kind: image, model: lightning-xl, prompt: "{{{{ subject }}}}", params: {{}}}}
        """,
    )
    short, long = plan.jobs
    assert short.paths[0] == "hero/short-0.jpg"
    assert long.paths[0] == f"hero/{long.key[:12]}-0.jpg"


def test_even_the_key_form_too_long_is_a_located_problem(tmp_path: Path) -> None:
    """An output.dir of 4,200 bytes leaves no room for any name: the plan says so at output,
    not with a traceback from probing the (too long to stat) folder."""
    folder = "/".join(["d" * 200] * 21)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"version: 1\noutput: {{dir: {folder}}}\n"
        "stages:\n  hero: {kind: image, model: lightning-xl, prompt: a mug}\n",
        encoding="utf-8",
    )
    with pytest.raises(RecipeError) as caught:
        expand_plan(load_recipe(recipe))
    (problem,) = caught.value.problems
    assert (problem.line, problem.col) == (2, 1)
    assert re.fullmatch(
        r"stage 'hero': output path 'hero/[0-9a-f]{12}-0\.jpg' makes a \d+-byte "
        r"path under output\.dir \(with the download's temporary name\); this file system "
        r"allows \d+",
        problem.message,
    ), problem.message


def test_one_value_axes_are_named_too(tmp_path: Path) -> None:
    """A single-valued axis stays in the name, so names hold when the matrix grows."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        defaults: {image: {num_images: 1}}
        matrix: {model: [lightning-xl], seed: [1, 2]}
        stages:
          hero: {kind: image, model: "{{ model }}", prompt: a mug, params: {seed: "{{ seed }}"}}
        """,
    )
    assert paths_of(plan, "hero") == [
        "hero/lightning-xl-seed1-0.jpg",
        "hero/lightning-xl-seed2-0.jpg",
    ]


def test_no_matrix_names_files_after_the_stage(tmp_path: Path) -> None:
    """Without matrix values the stage name stands in: hero/hero-0.jpg, clean/hero-0.png."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        stages:
          hero: {kind: image, model: lightning-xl, prompt: a mug, params: {num_images: 2}}
          clean: {kind: nobg, from: hero}
        """,
    )
    assert paths_of(plan, "hero") == ["hero/hero-0.jpg", "hero/hero-1.jpg"]
    assert paths_of(plan, "clean") == ["clean/hero-0.png", "clean/hero-1.png"]


def test_include_entries_are_named_in_axis_order(tmp_path: Path) -> None:
    """An include written in another key order reads like the product's combinations."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix:
          model: [lightning-xl]
          seed: [1]
          include: [{seed: 7, extra: Bonus, model: phoenix-1.0}]
        stages:
          hero:
            kind: image
            model: "{{ model }}"
            prompt: a mug
            params: {seed: "{{ seed }}", contrast: 3.5, num_images: 1}
        """,
    )
    assert paths_of(plan, "hero") == [
        "hero/lightning-xl-seed1-0.jpg",
        "hero/phoenix-1.0-seed7-bonus-0.jpg",
    ]


def test_downstream_of_text_and_with_several_outputs(tmp_path: Path) -> None:
    """After improve-prompt (no file) the name is its values; several outputs get -index."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        matrix: {subject: [mug]}
        stages:
          idea: {kind: improve-prompt, prompt: "a {{ subject }}"}
          img:
            kind: image
            from: idea
            model: lightning-xl
            prompt: "{{ upstream.text }}"
            params: {num_images: 2}
          one:
            kind: image
            from: idea
            model: lightning-xl
            prompt: "{{ upstream.text }}"
            params: {num_images: 1}
        """,
    )
    assert paths_of(plan, "idea") == []
    assert paths_of(plan, "img") == ["img/mug-0.jpg", "img/mug-1.jpg"]
    assert paths_of(plan, "one") == ["one/mug.jpg"]


def test_an_explicit_output_path_is_rendered_as_written(tmp_path: Path) -> None:
    """output.path given: no readable names, no fallback; its own collisions stay errors."""
    plan = plan_of(
        tmp_path,
        """\
        version: 1
        defaults: {image: {num_images: 1}}
        matrix: {seed: [1, 2]}
        output: {path: "{{ stage }}/s{{ seed }}_{{ index }}.{{ ext }}"}
        stages:
          hero: {kind: image, model: lightning-xl, prompt: a mug, params: {seed: "{{ seed }}"}}
          clean: {kind: nobg, from: hero}
        """,
    )
    assert [p for j in plan.jobs for p in j.paths] == [
        "hero/s1_0.jpg",
        "hero/s2_0.jpg",
        "clean/s1_0.png",
        "clean/s2_0.png",
    ]


#: The grid with one image per shot: 4 + 4 + 8 jobs and files, a run of a second or so.
SMALL_GRID = GRID.replace("num_images: 2", "num_images: 1")
#: The old default, written out: what a journal made before readable names recorded.
OLD_DEFAULT = 'output: {path: "{{ stage }}/{{ job }}-{{ index }}.{{ ext }}"}\n'


@pytest.fixture
def anyio_backend() -> str:
    """The run tests go on asyncio only (the engine's trio runs are tested in tests/run)."""
    return "asyncio"


async def _render(recipe: Path, emu: EmulatorHandle) -> tuple[Plan, RunResult]:
    """Plan ``recipe``, price it on the emulator and run it to the end."""
    plan = expand_plan(load_recipe(recipe))
    async with LeonardoClient(emu.api_key, emu.base_url) as client:
        priced = await price_online(plan, client, cache=None)
        with Journal.open(plan.output_dir) as journal:
            options = RunOptions(time_scale=TEST_TIME_SCALE)
            return plan, await run_plan(priced, client, journal, options=options)


def _files(root: Path) -> set[str]:
    """Every output file under ``root``, relative (leobatch's state and manifest left out)."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".leobatch" not in p.parts and p.name != "manifest.json"
    }


def _manifest_paths(plan: Plan) -> set[str]:
    manifest = json.loads((plan.output_dir / "manifest.json").read_text(encoding="utf-8"))
    return {out["path"] for job in manifest["jobs"] for out in job["outputs"]}


@pytest.mark.anyio
async def test_a_run_writes_its_files_at_the_readable_names(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """End to end on the emulator: the files on disk and in the manifest are the plan's names."""
    recipe = tmp_path / "grid.yaml"
    recipe.write_text(SMALL_GRID, encoding="utf-8")
    plan, result = await _render(recipe, emulator)
    assert (result.complete, result.failed, result.missing_downloads) == (16, 0, 0)
    planned = {p for job in plan.jobs for p in job.paths}
    assert "cutout/lightning-xl-seed11-0.png" in planned
    assert "large/phoenix-1.0-seed42-0-mult2.0.jpg" in planned
    assert _files(plan.output_dir) == planned
    assert _manifest_paths(plan) == planned


@pytest.mark.anyio
async def test_a_journal_made_with_the_old_default_is_kept_as_it_is(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """Rendered with the old key paths, re-planned with the new default: nothing is rendered
    again, nothing downloaded again, no file renamed; the manifest keeps the journal's paths."""
    recipe = tmp_path / "grid.yaml"
    recipe.write_text(SMALL_GRID.replace("stages:", OLD_DEFAULT + "stages:"), encoding="utf-8")
    old, _ = await _render(recipe, emulator)
    old_files = _files(old.output_dir)
    assert "cutout/lightning-xl-seed11-0.png" not in old_files and len(old_files) == 16
    before = emulator.stats()
    recipe.write_text(SMALL_GRID, encoding="utf-8")
    new, result = await _render(recipe, emulator)
    after = emulator.stats()
    assert [j.key for j in new.jobs] == [j.key for j in old.jobs]
    assert [j.paths for j in new.jobs] != [j.paths for j in old.jobs]
    assert (result.complete, result.failed, result.missing_downloads) == (16, 0, 0)
    assert after["creates"] == before["creates"]
    assert after["requests"].get("GET /cdn", 0) == before["requests"].get("GET /cdn", 0)
    assert _files(new.output_dir) == old_files
    assert _manifest_paths(new) == old_files
