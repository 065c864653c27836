"""The axis grid: which axes become rows, columns and sections, and the credit totals."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from leobatch.errors import ReportError
from leobatch.report.layout import Credits, lay_out
from leobatch.report.model import MISSING, JobEntry


def _job(
    n: int, matrix: dict[str, Any], *, est: int | None = 10, charged: int | None = 10
) -> JobEntry:
    return JobEntry(
        key=hashlib.sha256(str(n).encode()).hexdigest(),
        stage="hero",
        kind="image",
        matrix=matrix,
        prompt="p",
        status="complete" if charged is not None else "failed",
        credits_estimated=est,
        credits_charged=charged,
        error=None,
        upstream=None,
        outputs=(),
        model=None,
        style=None,
        seed=None,
    )


def _grid(**axes: list[Any]) -> list[JobEntry]:
    import itertools

    names = list(axes)
    return [
        _job(n, dict(zip(names, combo, strict=True)))
        for n, combo in enumerate(itertools.product(*axes.values()))
    ]


def test_the_two_largest_axes_are_columns_then_rows_and_the_rest_are_sections() -> None:
    jobs = _grid(seed=[1, 2], model=["a", "b", "c", "d"], style=["x", "y", "z"], shot=["w"])
    page = lay_out("hero", jobs)
    assert (page.col_axis, page.row_axis, page.section_axes) == ("model", "style", ("seed",))
    assert page.constants == (("shot", "w"),)
    assert [g.title for g in page.sections] == [(("seed", "1"),), (("seed", "2"),)]
    grid = page.sections[0]
    assert grid.cols == ("a", "b", "c", "d") and grid.rows == ("x", "y", "z")
    assert all(len(slot) == 1 for row in grid.slots for slot in row)


def test_rows_and_cols_can_be_chosen() -> None:
    jobs = _grid(seed=[1, 2], model=["a", "b", "c"])
    page = lay_out("hero", jobs, rows="model", cols="seed")
    assert (page.row_axis, page.col_axis, page.section_axes) == ("model", "seed", ())
    assert page.sections[0].rows == ("a", "b", "c")


def test_an_axis_that_does_not_vary_is_refused_with_the_ones_that_do() -> None:
    jobs = _grid(seed=[1, 2], model=["a"])
    with pytest.raises(ReportError) as e:
        lay_out("hero", jobs, rows="model")
    assert str(e.value) == (
        "--rows: stage hero has no axis 'model' with more than one value (its axes that vary: seed)"
    )


def test_values_follow_the_recipe_order_then_natural_order() -> None:
    jobs = _grid(seed=[10, 9, 100], model=["zeta", "Alpha", "beta"])
    page = lay_out("hero", jobs, order={"model": ["zeta", "beta"]})
    assert page.sections[0].cols == ("9", "10", "100")
    assert page.sections[0].rows == ("zeta", "beta", "Alpha")


def test_mapping_values_are_shown_by_name_and_a_missing_axis_is_its_own_value() -> None:
    jobs = [
        _job(0, {"shot": {"name": "wide", "w": 1536}, "seed": 1}),
        _job(1, {"shot": {"name": "square", "w": 1024}, "seed": 1}),
        _job(2, {"seed": 7}),  # an include entry without the shot axis
    ]
    page = lay_out("hero", jobs)
    grid = page.sections[0]
    assert set(grid.cols) | set(grid.rows) >= {"wide", "square", MISSING}


def test_an_excluded_combination_is_an_empty_slot_and_a_missing_section_is_left_out() -> None:
    jobs = _grid(model=["a", "b"], style=["x", "y"], seed=[1, 2])[:-1]  # b/y/2 excluded
    page = lay_out("hero", jobs, cols="model", rows="style")
    last = page.sections[-1]
    assert last.slots[1][1] == ()
    jobs = [j for j in jobs if j.matrix["seed"] == 1] + [
        _job(99, {"model": "a", "style": "x", "seed": 3})
    ]
    page = lay_out("hero", jobs, cols="model", rows="style")
    assert [g.title for g in page.sections] == [(("seed", "1"),), (("seed", "3"),)]


def test_row_column_and_page_totals_add_each_job_once() -> None:
    jobs = [
        _job(0, {"m": "a", "s": "x"}, est=10, charged=12),
        _job(1, {"m": "b", "s": "x"}, est=20, charged=None),
        _job(2, {"m": "a", "s": "y"}, est=None, charged=5),
        _job(3, {"m": "b", "s": "y"}, est=40, charged=40),
    ]
    page = lay_out("hero", jobs, cols="m", rows="s")
    grid = page.sections[0]
    assert grid.row_totals == (Credits(12, 30, 0), Credits(45, 40, 1))
    assert grid.col_totals == (Credits(17, 10, 1), Credits(40, 60, 0))
    assert grid.total == page.total == Credits(57, 70, 1)


def test_a_stage_without_axes_is_one_slot() -> None:
    page = lay_out("hero", [_job(0, {}), _job(1, {})])
    assert (page.col_axis, page.row_axis) == (None, None)
    assert len(page.sections) == 1 and len(page.sections[0].slots[0][0]) == 2
