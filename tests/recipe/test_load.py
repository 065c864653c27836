"""load_recipe on real files: values, marks, file axes, confinement, and what it refuses."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from leobatch import load_recipe
from leobatch.errors import RecipeError
from leobatch.recipe import Recipe


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    """``text`` (dedented) written as a recipe file."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def messages(path: Path) -> list[str]:
    """The located problem lines load_recipe reports for ``path``, with the folder cut off."""
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    return [str(p).replace(f"{path.parent}{os.sep}", "") for p in caught.value.problems]


def test_loads_every_part_of_the_format(tmp_path: Path) -> None:
    """Name, description, vars, defaults, matrix, budget, limits, retry, output and stages."""
    (tmp_path / "items.csv").write_text("sku,colour\nA,red\n")
    recipe = load_recipe(
        write(
            tmp_path,
            """\
            version: 1
            name: mugs
            description: Mug shots.
            vars: {product: mug}
            defaults: {image: {width: 512}}
            matrix:
              seed: [1, 2]
              item: {file: items.csv}
              exclude: [{seed: 2}]
              include: [{seed: 3}]
            budget: {max_credits: 100}
            limits: {concurrency: 2}
            retry: {failed_jobs: 1}
            output: {dir: renders, path: "{{ job }}.{{ ext }}"}
            stages:
              a: {kind: image, model: lightning-xl, prompt: "{{ product }}", when: true}
              b: {kind: nobg, from: a}
            """,
        )
    )
    assert isinstance(recipe, Recipe)
    assert (recipe.name, recipe.description, recipe.vars) == (
        "mugs",
        "Mug shots.",
        {"product": "mug"},
    )
    assert recipe.defaults == {"image": {"width": 512}}
    assert [a.name for a in recipe.matrix.axes] == ["seed", "item"]
    assert recipe.matrix.axes[1].values == ({"sku": "A", "colour": "red"},)
    assert recipe.matrix.size == 2 * 1 + 1
    assert (recipe.budget_credits, recipe.concurrency, recipe.retry_failed_jobs) == (100, 2, 1)
    assert recipe.output_dir == (tmp_path / "renders").resolve()
    assert [(s.name, s.kind, s.upstream) for s in recipe.stages] == [
        ("a", "image", None),
        ("b", "nobg", "a"),
    ]
    assert recipe.marks[("stages", "b", "from")] == (17, 19)
    assert len(recipe.sha256) == 64 and [f.path for f in recipe.files] == ["items.csv"]


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    """Without `name`, the recipe is named after its file."""
    path = write(tmp_path, "version: 1\nstages: {a: {kind: improve-prompt}}\n", "launch.yaml")
    recipe = load_recipe(path)
    assert recipe.name == "launch"
    assert recipe.output_dir == (tmp_path / "out" / "launch").resolve()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["r.yaml:1:1: a recipe is a mapping with at least `version` and `stages`"]),
        ("- 1\n", ["r.yaml:1:1: a recipe is a mapping with at least `version` and `stages`"]),
        ("version: '1'\nstages: {}\n",
         ["r.yaml:1:1: unsupported recipe version '1': this leobatch reads version 1"]),
        ("version: 1\nstages: {}\n",
         ["r.yaml:2:1: stages: needs at least 1 entry"]),
        ("version: 1\nstages: {a: {kind: image}}\nx: &a [*a]\n",
         ["r.yaml:3:4: an alias refers to a value that contains it"]),
        ("version: 1\nstages: {a: {kind: image}}\nx: 1\n",
         ["r.yaml:3:1: the recipe: unknown key 'x' (known: budget, defaults, description, "
          "limits, matrix, name, output, retry, stages, vars, version)"]),
        ("version: 1\nstages: {a: {kind: image}}\nvars: {stage: 1}\n",
         ["r.yaml:3:8: vars.stage: 'stage' is reserved for leobatch's own use"]),
        ("version: 1\nmatrix: {index: [1]}\nstages: {a: {kind: image}}\n",
         ["r.yaml:2:10: matrix axis 'index' is reserved for leobatch's own use"]),
        ("version: 1\nmatrix: {a: [1], exclude: [{b: 1}]}\nstages: {a: {kind: image}}\n",
         ["r.yaml:2:29: exclude: 'b' is not an axis of this matrix (axes: a)"]),
        ("version: 1\nstages: {a: {kind: image}}\nvars: {x: .nan}\n",
         ["r.yaml:3:11: '.nan' is not a finite number"]),
        ("version: 1\nstages: {a: {kind: image}}\nvars: {x: !!binary aGk=}\n",
         ["r.yaml:3:11: tag '!!binary' is not allowed in a recipe"]),
        ("version: 1\nstages: {a: {kind: image}}\nvars: {<<: {a: 1}}\n",
         ["r.yaml:3:8: merge keys ('<<') are not supported in a recipe"]),
        ("version: 1\nstages: {a: {kind: image}}\noutput: {dir: /tmp/x}\n",
         ["r.yaml:3:10: output.dir: '/tmp/x' is absolute; use a path inside the recipe's folder"]),
    ],
)  # fmt: skip
def test_refused_recipes(tmp_path: Path, text: str, expected: list[str]) -> None:
    """Each malformed recipe gives exactly these located messages."""
    assert messages(write(tmp_path, text)) == expected


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A 'billion laughs' alias expansion is cut off, not built."""
    lines = ["version: 1", "stages: {a: {kind: image}}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    result = messages(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(result) == 1 and "expands to more than 200000 values" in result[0]


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    """A missing file and random bytes are located problems, not exceptions."""
    assert messages(tmp_path / "nope.yaml")[0].startswith("nope.yaml:1:1: cannot read the recipe")
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01garbage\x00")
    assert messages(path)[0].startswith("bin.yaml:1:")


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("a.csv", "sku,sku\n1,2\n", "duplicate column names"),
        ("a.csv", "sku,colour\n1\n", "different number of columns"),
        ("a.jsonl", '{"a": 1}\n[1]\n', "line 2: each line must be a JSON object"),
        ("a.jsonl", '{"a": NaN}\n', "line 1: not JSON"),
        ("a.txt", "\n\n", "has no values"),
        ("a.txt", b"\xff\xfe".decode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_axis_files(tmp_path: Path, name: str, content: str, needle: str) -> None:
    """Unusable axis files are refused at the axis's `file` key, saying why."""
    (tmp_path / name).write_bytes(content.encode("latin-1"))
    found = messages(
        write(
            tmp_path,
            f"version: 1\nmatrix: {{x: {{file: {name}}}}}\nstages: {{a: {{kind: image}}}}\n",
        )
    )
    assert len(found) == 1 and found[0].startswith("r.yaml:2:14: matrix axis 'x': ")
    assert needle in found[0]


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    """A file axis that is a symlink to a file outside the recipe's folder is refused."""
    outside = tmp_path / "secret.txt"
    outside.write_text("key\n")
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "link.txt").symlink_to(outside)
    path = write(folder, "version: 1\nmatrix: {x: {file: link.txt}}\nstages: {a: {kind: image}}\n")
    assert messages(path) == [
        "r.yaml:2:14: matrix axis 'x': 'link.txt' is outside the recipe's folder"
    ]


def test_schema_messages_say_what_is_wrong(tmp_path: Path) -> None:
    """Schema errors inside alternatives (axis, element) name the actual mistake."""
    path = write(
        tmp_path,
        """\
        version: 1
        matrix:
          a: hello
          b: []
          c: {file: x.png}
        stages:
          s:
            kind: image
            elements: [{nam: x}]
        """,
    )
    assert messages(path) == [
        "r.yaml:3:3: matrix.a: expected a list or a mapping, got string",
        "r.yaml:4:3: matrix.b: needs at least 1 value",
        "r.yaml:5:7: matrix.c.file: an axis file must be .csv, .jsonl or .txt, not 'x.png'",
        "r.yaml:9:16: stages.s.elements[0]: missing required key 'name' (or 'akUUID')",
        "r.yaml:9:17: stages.s.elements[0]: unknown key 'nam'; did you mean 'name'?",
    ]
