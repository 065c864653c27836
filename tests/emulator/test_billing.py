"""Billing in the account's unit: a dollar (PAYG) account is charged dollars for every create."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from leobatch.emulator import EmulatorConfig
from leobatch.emulator.money import Money, credits_for_usd
from tests.conftest import EmulatorHandle
from tests.emulator.support import client, completed_image_id, wait_done

Factory = Callable[..., EmulatorHandle]


def _me(http: httpx.Client) -> dict[str, object]:
    details: dict[str, object] = http.get("/me").json()["user_details"][0]
    return details


def _quote(http: httpx.Client, body: dict[str, object]) -> int:
    params = {"imageWidth": body["width"], "imageHeight": body["height"],
              "numImages": body["num_images"], "inferenceSteps": 15,
              "alchemyMode": True}  # fmt: skip
    calc = {"service": "IMAGE_GENERATION", "serviceParams": {"IMAGE_GENERATION": params}}
    return int(http.post("/pricing-calculator", json=calc).json()
               ["calculateProductionApiServiceCost"]["cost"])  # fmt: skip


def test_money_conversions() -> None:
    """Credits convert at USD 0.0015 exactly; dollar prices cost whole credits rounded up."""
    dollars, credits = Money("DOLLARS"), Money("CREDITS")
    assert (dollars.from_credits(13), dollars.amount(195)) == (195, "0.0195")
    assert dollars.from_usd(Decimal("0.1047")) == 1047
    assert credits.from_usd(Decimal("0.1047")) == 70 == credits_for_usd(Decimal("0.1047"))
    assert credits_for_usd(Decimal("0.003")) == 2
    assert dollars.opening(100_000, None) == 1_500_000 and dollars.number(1_500_000) == 150.0
    assert dollars.opening(1, 12.5) == 125_000
    assert credits.cost(7) == {"apiCreditCost": 7, "cost": {"amount": "7", "unit": "CREDITS"}}
    with pytest.raises(ValueError, match="billing"):
        EmulatorConfig(billing="euros")


def test_v1_create_in_a_dollar_account(make_emulator: Factory) -> None:
    """A v1 image create answers cost in DOLLARS with apiCreditCost null; /me and stats follow."""
    emulator = make_emulator(billing="dollars", usd=20.0)
    body = {"prompt": "a mug", "width": 512, "height": 512, "num_images": 2}
    with client(emulator) as http:
        assert _me(http)["apiDollarBalance"] == 20.0 and _me(http)["apiPaidTokens"] == 0
        quote = _quote(http, body)  # the calculator still answers credits
        job = http.post("/generations", json=body).json()["sdGenerationJob"]
        usd = Decimal(quote) * Decimal("0.0015")
        assert job["apiCreditCost"] is None
        assert job["cost"] == {"amount": f"{usd:.4f}", "unit": "DOLLARS"}
        assert Decimal(str(_me(http)["apiDollarBalance"])) == Decimal(20) - usd
    stats = emulator.stats()
    assert stats["billing"] == "dollars" and stats["balance_unit"] == "DOLLARS"
    assert stats["charged"] == {"CREDITS": 0, "DOLLARS": f"{usd:.4f}"}
    assert stats["credits_charged"] == 0 and stats["usd_net"] == f"{usd:.4f}"
    assert Decimal(stats["balance"]) == Decimal(20) - usd


def test_dollar_refund_and_empty_balance(make_emulator: Factory) -> None:
    """A FAILED job gives its dollars back; a create the balance cannot pay is refused."""
    emulator = make_emulator(billing="dollars", usd=0.05, fail_rate=1.0)
    body = {"prompt": "a mug", "width": 512, "height": 512, "num_images": 1, "alchemy": False}
    with client(emulator) as http:
        gen_id = http.post("/generations", json=body).json()["sdGenerationJob"]["generationId"]
        assert wait_done(http, f"/generations/{gen_id}", "generations_by_pk")["status"] == "FAILED"
        assert _me(http)["apiDollarBalance"] == 0.05
        emulator.state.set_fault_rate("fail", 0.0)
        big = {"prompt": "a mug", "width": 1024, "height": 1024, "num_images": 4}
        refused = http.post("/generations", json=big)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith("not enough api tokens")
    stats = emulator.stats()
    assert stats["net"]["DOLLARS"] == "0.0000" and stats["jobs_created"] == 1
    assert stats["charged"]["DOLLARS"] == stats["refunded"]["DOLLARS"] != "0.0000"


def test_credit_account_is_unchanged(emulator: EmulatorHandle) -> None:
    """A credit account (the default) reports credits, with zero dollars in the stats."""
    with client(emulator) as http:
        image_id = completed_image_id(http)
        job = http.post("/variations/nobg", json={"id": image_id}).json()["sdNobgJob"]
        assert job["cost"]["unit"] == "CREDITS" and isinstance(job["apiCreditCost"], int)
        assert "apiDollarBalance" not in _me(http)
    stats = emulator.stats()
    assert stats["billing"] == "credits" and stats["usd_charged"] == "0.0000"
    assert stats["charged"]["CREDITS"] == stats["credits_charged"] > 0
