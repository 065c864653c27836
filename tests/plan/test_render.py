"""The template renderer: native values, the sandbox, bounded operations, memo correctness."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from leobatch.plan.render import Renderer, TemplateFailure

CONTEXT: dict[str, Any] = {
    "n": 3,
    "f": 1.5,
    "flag": True,
    "none": None,
    "s": "Mug",
    "shot": {"name": "wide", "w": 1536},
    "items": [1, 2],
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ n }}", 3),
        ("{{ f }}", 1.5),
        ("{{ flag }}", True),
        ("{{ none }}", None),
        ("{{ shot }}", {"name": "wide", "w": 1536}),
        ("{{ items }}", [1, 2]),
        ("{{ shot.w * 2 }}", 3072),
        ("  {{ n }}  ", "  3  "),
        ("{{ n }}px", "3px"),
        ("{{ n }}{{ n }}", "33"),
        ("{{ s | lower }}-{{ shot.name }}", "mug-wide"),
        ("{% if flag %}yes{% endif %}", "yes"),
        ("no template", "no template"),
    ],
)
def test_renders_native_or_text(source: str, expected: Any) -> None:
    """One expression keeps its type; anything else is text."""
    result = Renderer().render(source, CONTEXT)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ nope }}", "'nope' is undefined"),
        ("x {{ nope }}", "'nope' is undefined"),
        ("{{ shot.nope }}", "'dict object' has no attribute 'nope'"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "refused by the template sandbox"),
        ("x{{ s.__class__ }}", "refused by the template sandbox"),
        ("{{ shot.update({}) }}", "refused by the template sandbox"),
        ("{{ 'a' * 10**9 }}", "the result of '*' would pass the 1 MB limit"),
        ("{{ 9 ** 99999 }}", "the result of '**' would pass the 4096-bit integer limit"),
        ("{{ range(10) }}", "renders to a range, not a plain value"),
        ("{{ lipsum() }}", "'lipsum' is undefined"),
        ("{{ items | random }}", "template syntax error"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ n", "template syntax error"),
    ],
)
def test_failures_are_messages(source: str, message: str) -> None:
    """Every failure is a TemplateFailure with a readable message, never another exception."""
    with pytest.raises(TemplateFailure) as caught:
        Renderer().render(source, CONTEXT)
    assert message in str(caught.value)


def test_memo_keeps_types_apart() -> None:
    """1, 1.0 and True render differently even though they compare equal."""
    renderer = Renderer()
    assert [renderer.render("{{ v }}", {"v": v}) for v in (1, 1.0, True)] == [1, 1.0, True]
    assert [renderer.render("v={{ v }}", {"v": v}) for v in (1, 1.0, True)] == [
        "v=1",
        "v=1.0",
        "v=True",
    ]


def test_memo_follows_values_inside_mappings() -> None:
    """A memoised result is reused only for equal values, nested ones included."""
    renderer = Renderer()
    a, b = {"x": {"y": 1}}, {"x": {"y": 2}}
    renderer.pin([a])
    assert renderer.render("{{ m.x.y }}!", {"m": a}) == "1!"
    assert renderer.render("{{ m.x.y }}!", {"m": b}) == "2!"
    assert renderer.render("{{ m.x.y }}!", {"m": a}) == "1!"


def test_fast_path_matches_jinja() -> None:
    """Plain '{{ name.attr }}' templates render exactly as Jinja renders them."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    source = "{{ s }}/{{ shot.name }}-{{ n }}-{{ f }}-{{ flag }}-{{ none }}-{{ items }}.png"
    assert Renderer().render(source, CONTEXT) == env.from_string(source).render(CONTEXT)


def test_fast_path_with_filters_matches_jinja() -> None:
    """Argument-less filters and globals in plain templates render as Jinja renders them."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for source in (
        "{{ s | lower }}/{{ shot.name | upper | trim }}-{{ n | string }}.png",
        "{{ items | length }}-{{ s | title }}-{{ namespace }}",
    ):
        assert Renderer().render(source, CONTEXT) == env.from_string(source).render(CONTEXT)


def test_memo_is_per_values_across_contexts() -> None:
    """One template over many contexts gives each its own value (no stale memo)."""
    renderer = Renderer()
    results = [renderer.render("{{ s | lower }}!", {"s": s}) for s in ("A", "B", "A")]
    assert results == ["a!", "b!", "a!"]


def test_native_results_are_copies() -> None:
    """A mapping rendered natively is a copy: changing it cannot change the recipe's value."""
    result = Renderer().render("{{ shot }}", CONTEXT)
    result["name"] = "changed"
    assert CONTEXT["shot"]["name"] == "wide"
