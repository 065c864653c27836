"""Template bombs (issue 9, defect 5): each is refused fast, in little memory, with its message;
ordinary templates render exactly as Jinja renders them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from leobatch import plan_recipe
from leobatch.errors import RecipeError
from leobatch.plan import render
from leobatch.plan.render import Renderer, TemplateFailure

FIXTURES = Path(__file__).parents[1] / "recipe" / "fixtures" / "invalid"
BOMBS = sorted(p.stem for p in FIXTURES.glob("template-*.yaml") if p.stem != "template-syntax")

#: Plans one recipe and prints its problems, then its own peak RSS in KiB: VmHWM, which
#: starts afresh at exec (getrusage's ru_maxrss would include the parent's, a large pytest).
CHILD = """
import resource, sys
from leobatch import plan_recipe
from leobatch.errors import RecipeError
try:
    plan_recipe(sys.argv[1])
except RecipeError as e:
    print("\\n".join(str(p) for p in e.problems))
try:
    with open("/proc/self/status") as status:
        print(next(l.split()[1] for l in status if l.startswith("VmHWM:")))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_every_bomb_of_the_issue_has_a_fixture() -> None:
    """Nested loops, widths, macro doubling, replace chains, big powers, huge loops, '*'."""
    assert {
        "template-nested-loops", "template-center-width", "template-percent-width",
        "template-format-width", "template-format-filter-width", "template-macro-doubling",
        "template-replace-chain", "template-big-power", "template-huge-range-loop",
        "template-string-multiply",
    } <= set(BOMBS)  # fmt: skip


@pytest.mark.parametrize("name", BOMBS)
def test_bomb_is_refused_fast_in_little_memory(tmp_path: Path, name: str) -> None:
    """Planned in a child process: its expected message, in seconds, under 200 MB at peak.

    Before the budget each of these hung ``plan`` or took hundreds of MB to GB; the bounds
    here are loose enough for a slow machine and far below what a bomb costs.
    """
    shutil.copy(FIXTURES / f"{name}.yaml", tmp_path)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"{name}.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    elapsed = time.perf_counter() - start
    *lines, peak_kib = done.stdout.splitlines()
    assert lines == (FIXTURES / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    assert int(peak_kib) < 200 * 1024
    assert elapsed < 15


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # a list nested in itself twice per step prints 2^60 items
        (
            "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}"
            "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
            "a value built in the template would pass the 1 MB limit",
        ),
        (
            "{% set ns = namespace(v=1) %}{% for i in range(60) %}{% set n = namespace() %}"
            "{% set n.a = ns.v %}{% set n.b = ns.v %}{% set ns.v = n %}{% endfor %}{{ ns.v }}",
            "the namespace would pass the 1 MB limit",
        ),
        (
            "{% set ns = namespace(l=1) %}{% for i in range(60) %}"
            "{% set ns.l = dict(a=ns.l, b=ns.l) %}{% endfor %}{{ ns.l }}",
            "the result of 'dict' would pass the 1 MB limit",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
            "the result of '+' would pass the 1 MB limit",
        ),
        (
            "{% set ns = namespace(v=3) %}{% for i in range(60) %}"
            "{% set ns.v = ns.v * ns.v %}{% endfor %}{{ ns.v }}",
            "the result of '*' would pass the 4096-bit integer limit",
        ),
        # a set block filled by a loop, before it is joined
        (
            "{% set a %}{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}{% endset %}"
            "{{ a | length }}",
            "template output passes the 1 MB limit",
        ),
        ("{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}", "template output passes"),
        ("{{ 'x'.center(400000000) }}", "the result of 'center' would pass the 1 MB limit"),
        ("{{ 'x'.zfill(400000000) }}", "the result of 'zfill' would pass the 1 MB limit"),
        ("{{ '{:{}}'.format(1, 400000000) }}", "the result of 'format' would pass"),
        ("{{ '%*d' % (400000000, 1) }}", "the result of '%' would pass the 1 MB limit"),
        ("{{ 'x' | indent(400000000, true) }}", "the result of 'indent' would pass"),
        ("{{ ('x ' * 400000) | wordwrap(1, wrapstring='y' * 100) }}", "'wordwrap' would pass"),
        ("{{ ('x' * 9999) | truncate(10, end='y' * 999999) }}", "'truncate' would pass"),
        ("{{ ['x' * 999999] * 1000 | join }}", "would pass the 1 MB limit"),
        ("{{ ('x' * 1000).join(['y' * 10] * 1000) }}", "the result of 'join' would pass"),
        ("{{ ('x' * 99999).translate({120: 'y' * 99999}) }}", "'translate' would pass"),
        ("{{ (1).to_bytes(400000000, 'big') | length }}", "'to_bytes' would pass"),
        ("{{ [1] | slice(400000000) | list | length }}", "the result of 'slice' would pass"),
        ("{{ [1] | batch(400000000, 0) | list | length }}", "the result of 'batch' would pass"),
        ("{{ range(10**30) | length }}", "range() of 1,000,000,000,000,000,000,000,000,000,000"),
        ("{{ 'x' * 999999 ~ 'x' * 999999 }}", "the result of '~' would pass the 1 MB limit"),
        ("{{ 2 ** 5000 }}", "the result of '**' would pass the 4096-bit integer limit"),
        ("{{ [[1]] | tojson(400000000) }}", "the result of 'tojson' would pass the 1 MB limit"),
        ("{{ ('a.io ' * 99999) | urlize(target='x' * 999) }}", "'urlize' would pass"),
    ],
)
def test_more_bombs_are_refused_at_once(source: str, message: str) -> None:
    """Ways around the issue's bombs (nesting, namespaces, methods, other filters) are refused
    by a size check (the message says which), before the clock or the memory run out."""
    with pytest.raises(TemplateFailure) as caught:
        Renderer().render(source, {})
    assert message in str(caught.value)


def test_sum_of_lists_is_linear() -> None:
    """Python's sum copies the running list at every step: 100,000 one-item lists would take
    minutes; the sandbox's sum concatenates in one pass."""
    start = time.perf_counter()
    assert Renderer().render("{{ ([['x']] * 99999) | sum(start=[]) | length }}", {}) == 99999
    assert time.perf_counter() - start < 5  # quadratic: minutes


def test_a_namespace_holding_itself_is_refused() -> None:
    """A cycle prints forever: sizing it stops and refuses rather than walking it."""
    source = "{% set ns = namespace() %}{% set ns.me = ns %}{{ [ns] }}"
    with pytest.raises(TemplateFailure, match="would pass the 1 MB limit"):
        Renderer().render(source, {})


def test_plan_time_budget_is_one_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template at its per-render limit in every job: the plan's budget stops the expansion
    after a few jobs, with one located line, instead of running for 200 x the limit."""
    monkeypatch.setattr(render, "TIME_LIMIT_S", 0.2)
    monkeypatch.setattr(render, "PLAN_TIME_LIMIT_S", 0.5)
    (tmp_path / "slow.yaml").write_text(
        "version: 1\n"
        f"matrix: {{seed: {list(range(1, 201))}}}\n"
        "stages:\n"
        "  hero:\n"
        "    kind: image\n"
        "    model: lightning-xl\n"
        '    prompt: "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}'
        '{% endfor %}{{ seed }}"\n',
        encoding="utf-8",
    )
    start = time.perf_counter()
    with pytest.raises(RecipeError) as caught:
        plan_recipe(tmp_path / "slow.yaml")
    assert [str(p).split(": ", 1)[1] for p in caught.value.problems] == [
        "stage 'hero' (seed=1): prompt: template rendering passes the 0.2 s time limit "
        "(in 2 combinations)",
        "stage 'hero' (seed=3): prompt: templates pass the 0.5 s time limit for one plan "
        "(all 3 renders together); planning stopped here",
    ]
    assert all(str(p).startswith(f"{tmp_path / 'slow.yaml'}:7:5: ") for p in caught.value.problems)
    assert time.perf_counter() - start < 3


ORDINARY = [
    "{{ a | lower }}-{{ b | upper }}",
    "{{ a | replace('a', 'xy') }}{{ b | replace('', '-', 2) }}",
    "{{ items | join(', ') }}|{{ items | join }}",
    "{{ '%5s|%-4d|%.2f' | format(a, n, n) }}",
    "{{ '%s and %s' % (a, b) }}",
    "{{ '{:>6}|{:^5}|{}'.format(a, n, b) }}",
    "{{ '{x}-{y}'.format_map({'x': a, 'y': n}) }}",
    "{{ a | center(12) }}|{{ a.ljust(7) }}|{{ a.zfill(6) }}",
    "{{ (a ~ ' ' ~ b) | wordwrap(5) }}",
    "{{ (a ~ '\n' ~ b) | indent(3, true) }}",
    "{{ (a ~ b ~ a) | truncate(9, true, '..', 0) }}",
    "{{ a * 3 }}{{ items * 2 }}{{ n ** 3 }}{{ n * n }}{{ a + b }}",
    "{% for x in items %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{% for i in range(n) %}{{ i }}{% else %}none{% endfor %}",
    "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(a) }}{{ m(b) ~ m(n) }}",
    "{% set ns = namespace(t='') %}{% for x in items %}{% set ns.t = ns.t ~ x %}{% endfor %}"
    "{{ ns.t }}",
    "{% set s %}{{ a }}/{{ b }}{% endset %}{{ s | length }}{{ s }}",
    "{{ [a, b, n] }}{{ {'k': a, 'n': n} }}{{ (a, n) }}",
    "{{ [[n], [n, n]] | sum(start=[]) }}{{ items | batch(2, '-') | list }}",
    "{{ items | slice(2) | list }}{{ items | map('upper') | join('.') }}",
    "{{ 'ab\tc'.expandtabs(4) }}{{ a.translate({97: 'AA'}) }}{{ ', '.join(items) }}",
    "{{ {'a': [a, {'n': n}], 'i': items} | tojson(2) }}{{ (a ~ ' www.a.io') | urlize(8) }}",
    # views make new (key, value) tuples each time they are iterated
    "{% for k, v in {'a': a, 'n': [n]}.items() %}{{ k }}={{ v }};{% endfor %}"
    "{{ [{'k': items}.items(), {'n': n}.values()] | length }}",
]


#: Compiled once for all examples (compiling dominates otherwise); the renderer's memo is
#: exercised across examples too.
JINJA = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
EXPECTED = [JINJA.from_string(source) for source in ORDINARY]
RENDERER = Renderer()


@settings(max_examples=60, deadline=None)
@given(
    a=st.text(alphabet="abc xyz", max_size=12),
    b=st.text(alphabet="ABC-\n", max_size=8),
    n=st.integers(min_value=0, max_value=40),
    items=st.lists(st.text(alphabet="pqr", max_size=4), max_size=5),
)
def test_ordinary_templates_render_as_jinja_renders_them(
    a: str, b: str, n: int, items: list[str]
) -> None:
    """The guards change no result below the limits: filters, methods, operators, loops,
    macros, namespaces and literals render exactly as in Jinja's own sandbox."""
    context: dict[str, Any] = {"a": a, "b": b, "n": n, "items": items}
    for source, template in zip(ORDINARY, EXPECTED, strict=True):
        assert RENDERER.render(source, context) == template.render(context), source
