"""Published prices (api-v2-facts), v2 price classes, and pricing a plan beyond the calculator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from leobatch.plan.jobs import Job, Plan
from leobatch.pricing.book import PriceBook
from leobatch.pricing.classes import price_body
from leobatch.pricing.learned import class_of, complete_prices
from leobatch.pricing.money import Cost
from leobatch.pricing.offline import price_offline
from leobatch.pricing.published import published_cost


def test_gpt_image_15_formula_matches_the_published_examples() -> None:
    """1024x1024: 13 / 38 / 137 credits; x quantity; +20% with any reference."""
    size = {"width": 1024, "height": 1024, "quantity": 1}
    assert [
        published_cost("gpt-image-1.5", {**size, "quality": q}) for q in ("LOW", "MEDIUM", "HIGH")
    ] == [Cost.credits(13), Cost.credits(38), Cost.credits(137)]
    two = published_cost("gpt-image-1.5", {**size, "quantity": 2, "quality": "MEDIUM"})
    assert two == Cost.credits(76)
    ref = {"image_reference": [{"image": {"id": "x", "type": "GENERATED"}, "strength": "MID"}]}
    with_ref = published_cost("gpt-image-1.5", {**size, "quality": "MEDIUM", "guidances": ref})
    assert with_ref == Cost.credits(46)  # 37.96 x 1.2 = 45.55


def test_kling_26_and_remove_bg() -> None:
    """Kling 2.6: 604 / 1208 credits; remove-bg: USD 0.1047; everything else: no price."""
    assert published_cost("kling-2.6", {"duration": 5}) == Cost.credits(604)
    assert published_cost("kling-2.6", {"duration": 10}) == Cost.credits(1208)
    assert published_cost("kling-2.6", {"duration": 7}) is None
    assert published_cost("remove-bg", {}) == Cost.usd("0.1047")
    assert published_cost("gemini-image-2", {"width": 1024, "height": 1024}) is None


def _v2(model: str, **parameters: Any) -> dict[str, Any]:
    return {"model": model, "public": False, "parameters": parameters}


def test_v2_price_class_ignores_prompts_seeds_styles_and_ids() -> None:
    """Prompt, seed, style ids and reference ids do not change a class; sizes, counts and
    reference types do."""
    ref = [{"image": {"id": "aaa", "type": "GENERATED"}, "strength": "MID"}]
    a = price_body(
        "/v2/generations",
        _v2(
            "gemini-image-2",
            prompt="a",
            seed=1,
            width=1024,
            height=1024,
            quantity=1,
            style_ids=["s1"],
            guidances={"image_reference": ref},
        ),
    )
    ref_b = [{"image": {"id": "bbb", "type": "GENERATED"}, "strength": "MID"}]
    b = price_body(
        "/v2/generations",
        _v2(
            "gemini-image-2",
            prompt="b",
            seed=2,
            width=1024,
            height=1024,
            quantity=1,
            guidances={"image_reference": ref_b},
        ),
    )
    assert a is not None and b is not None and a.class_key == b.class_key
    assert a.service is None  # no calculator service for any v2 model
    for other in (
        _v2(
            "gemini-image-2",
            width=1024,
            height=1024,
            quantity=2,
            guidances={"image_reference": ref},
        ),
        _v2("gemini-image-2", width=1024, height=1024, quantity=1),
        _v2(
            "gemini-image-2",
            width=1024,
            height=1024,
            quantity=1,
            guidances={
                "image_reference": [{"image": {"id": "c", "type": "UPLOADED"}, "strength": "MID"}]
            },
        ),
        _v2(
            "gpt-image-1.5", width=1024, height=1024, quantity=1, guidances={"image_reference": ref}
        ),
    ):
        c = price_body("/v2/generations", other)
        assert c is not None and c.class_key != a.class_key


def _job(key: str, model: str, **parameters: Any) -> Job:
    return Job(
        key=key,
        stage="s",
        kind="image",
        endpoint="/v2/generations",
        body=_v2(model, prompt=key, **parameters),
        model=model,
        outputs=1,
    )


def test_plan_priced_published_then_learned_then_unknown(tmp_path: Path) -> None:
    """A plan of four v2 jobs: GPT 1.5 by its formula, remove-bg in dollars, Nano Banana Pro
    from the book (labelled), Seedream unknown; totals per unit, never added."""
    jobs = (
        _job("gpt", "gpt-image-1.5", width=1024, height=1024, quantity=1, quality="HIGH"),
        _job("nobg", "remove-bg", quantity=1),
        _job("nbp", "gemini-image-2", width=1024, height=1024, quantity=1),
        _job("sd", "seedream-4.5", width=2048, height=2048, quantity=1),
    )
    plan = Plan("p", tmp_path / "r.yaml", "0", "0", tmp_path / "out", ("s",), jobs)
    with PriceBook(tmp_path / "a.sqlite") as book:
        book.record("acct", class_of(jobs[2]), Cost.credits(90), "earlier:1", at=1.78e9)
        priced = complete_prices(price_offline(plan), book, account="acct")
    assert priced.credits == {"gpt": 137, "nobg": None, "nbp": 90, "sd": None}
    assert priced.usd == {"nobg": Decimal("0.1047")}
    assert (priced.total, priced.total_usd, priced.unknown_jobs) == (227, Decimal("0.1047"), 1)
    assert priced.labels["gpt"] == "published rate"
    assert priced.labels["nbp"].startswith("learned from 1 charge, last 2026-")
    assert "sd" not in priced.labels


def test_a_dollar_rate_gives_way_to_a_learned_price_in_the_accounts_unit(tmp_path: Path) -> None:
    """On a credits account, remove-bg priced in credits from the book beats USD 0.1047."""
    jobs = (_job("nobg", "remove-bg", quantity=1),)
    plan = Plan("p", tmp_path / "r.yaml", "0", "0", tmp_path / "out", ("s",), jobs)
    with PriceBook(tmp_path / "a.sqlite") as book:
        book.record("acct", class_of(jobs[0]), Cost.credits(70), "earlier:1", at=1.78e9)
        on_credits = complete_prices(price_offline(plan), book, account="acct", unit="CREDITS")
        unknown_unit = complete_prices(price_offline(plan), None, account=None)
    assert (on_credits.credits["nobg"], on_credits.usd) == (70, {})
    assert (unknown_unit.credits["nobg"], unknown_unit.usd["nobg"]) == (None, Decimal("0.1047"))


def test_a_rate_in_the_other_unit_leaves_the_job_unknown(tmp_path: Path) -> None:
    """On a credits account with nothing learned, remove-bg's USD 0.1047 says nothing of the
    credits it will be charged: the job is unknown (``run --pilot`` learns it), never a dollar
    estimate that a credits budget would not count."""
    jobs = (_job("nobg", "remove-bg", quantity=1),)
    plan = Plan("p", tmp_path / "r.yaml", "0", "0", tmp_path / "out", ("s",), jobs)
    with PriceBook(tmp_path / "a.sqlite") as book:
        on_credits = complete_prices(price_offline(plan), book, account="acct", unit="CREDITS")
        on_dollars = complete_prices(price_offline(plan), book, account="acct", unit="DOLLARS")
    assert (on_credits.credits["nobg"], on_credits.usd, on_credits.unknown_jobs) == (None, {}, 1)
    assert "nobg" not in on_credits.labels
    assert on_dollars.usd == {"nobg": Decimal("0.1047")}
