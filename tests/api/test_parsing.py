"""Tolerant parsing: extra fields, new enum values, nulls and odd scalars never break the client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leobatch.api._models import (
    parse_account,
    parse_created,
    parse_element,
    parse_generation,
    parse_variation,
)
from leobatch.api.client import LeonardoClient

KEY = "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a"

DRIFTED_GENERATION: dict[str, Any] = {
    "id": "g-1",
    "createdAt": "2026-11-24T06:00:00.000Z",
    "status": "QUEUED_FOR_RENDER",  # an enum value leobatch has never seen
    "prompt": "a mug",
    "negativePrompt": None,
    "modelId": None,
    "imageWidth": 1024,
    "imageHeight": "768",  # a number sent as a string
    "seed": "905778432",  # seen as a string in webhook samples
    "brandNewField": {"nested": [1, 2, 3]},
    "generation_notes": [],
    "generated_images": [
        {
            "id": "i-1",
            "url": "https://cdn.example/i-1.jpg",
            "nsfw": None,
            "motionMP4URL": None,
            "likeCount": 0,
            "someFutureFlag": True,
            "generated_image_variation_generics": [
                {"id": "v-1", "status": "COMPLETE", "transformType": "HYPER_UPSCALE", "url": None}
            ],
        }
    ],
}


def test_generation_with_unknown_fields_and_values() -> None:
    """Unknown fields are ignored, unknown enum values kept, numeric strings read as numbers."""
    gen = parse_generation(DRIFTED_GENERATION)
    assert gen.status == "QUEUED_FOR_RENDER"
    assert (gen.width, gen.height, gen.seed) == (1024, 768, 905778432)
    assert gen.negative_prompt is None
    image = gen.images[0]
    assert (image.id, image.nsfw, image.motion_mp4_url) == ("i-1", False, None)
    assert image.variations[0].transform_type == "HYPER_UPSCALE"
    assert gen.raw["brandNewField"] == {"nested": [1, 2, 3]}


def test_generation_with_nulls_and_wrong_types() -> None:
    """Nulls and wrongly-typed values become None or empty, not exceptions."""
    gen = parse_generation(
        {"id": "g", "status": None, "generated_images": None, "seed": 1.5, "imageWidth": True}
    )
    assert (gen.status, gen.images, gen.seed, gen.width) == ("UNKNOWN", (), None, None)


def test_created_reads_credits_from_cost_when_api_credit_cost_is_null() -> None:
    """PAYG-era responses: apiCreditCost null, cost in CREDITS as a string."""
    created = parse_created(
        {"generationId": "g", "apiCreditCost": None, "cost": {"amount": "24", "unit": "CREDITS"}},
        "generationId",
    )
    assert (created.id, created.credits, created.cost_amount, created.cost_unit) == (
        "g",
        24,
        "24",
        "CREDITS",
    )


def test_created_in_dollars_has_no_credits() -> None:
    """A DOLLARS cost is kept as given and credits stay unknown."""
    created = parse_created(
        {"id": "v", "apiCreditCost": None, "cost": {"amount": "0.0147", "unit": "DOLLARS"}}, "id"
    )
    assert (created.credits, created.cost_amount, created.cost_unit) == (None, "0.0147", "DOLLARS")


def test_video_upscale_carries_both_ids() -> None:
    """Video upscale is polled by variationId but also names its generation."""
    created = parse_created(
        {"generationId": "g", "variationId": "v", "apiCreditCost": 5, "cost": None}, "variationId"
    )
    assert (created.id, created.generation_id, created.credits) == ("v", "g", 5)


def test_account_with_fractional_and_missing_balances() -> None:
    """A fractional balance is floored; a missing one counts as 0."""
    account = parse_account(
        {"user": {"id": "u", "username": None}, "apiPaidTokens": 12.4567, "usedAPIBoosters": 3}
    )
    assert (account.paid_credits, account.subscription_credits, account.credits) == (12, 0, 12)
    assert (account.slots, account.renewal_date) == (None, None)


def test_motion_variation_and_element() -> None:
    """Motion variations read motionTransformType; element weights may be fractional."""
    variation = parse_variation({"id": "m", "status": "PENDING", "motionTransformType": "UPSCALE"})
    element = parse_element({"akUUID": "a", "weightDefault": 0.8, "weightMin": -1, "extra": 1})
    assert (variation.transform_type, element.weight_default, element.weight_min) == (
        "UPSCALE",
        0.8,
        -1.0,
    )


@pytest.mark.anyio
async def test_client_survives_a_drifted_server() -> None:
    """Through the real client: a server that grew fields and enum values still parses."""

    def server(request: httpx.Request) -> httpx.Response:
        body: dict[str, Any]
        if request.url.path.endswith("/generations/g-1"):
            body = {"generations_by_pk": DRIFTED_GENERATION, "extensions": {"cost": 1}}
        else:
            body = {"generated_image_variation_generic": [{"id": "v", "status": "NEW_STATE"}]}
        return httpx.Response(200, content=json.dumps(body).encode())

    async with LeonardoClient(KEY, "http://api.test", transport=httpx.MockTransport(server)) as c:
        gen = await c.get_generation("g-1")
        variation = await c.get_variation("v")
    assert gen is not None
    assert gen.status == "QUEUED_FOR_RENDER"
    assert variation is not None
    assert variation.status == "NEW_STATE"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_FIELDS = st.sampled_from(
    ["id", "status", "seed", "imageWidth", "generated_images", "cost", "apiCreditCost", "user",
     "apiPaidTokens", "generated_image_variation_generics", "url", "nsfw", "weightMin"]
)  # fmt: skip


@given(st.dictionaries(_FIELDS | st.text(max_size=6), _JSON, max_size=8))
def test_parsers_never_raise_on_arbitrary_json(obj: dict[str, Any]) -> None:
    """Any JSON object, however wrong, parses to a value (junk becomes None or empty)."""
    parse_generation(obj)
    parse_account(obj)
    parse_created(obj, "generationId")
    parse_variation(obj)
    element = parse_element(obj)
    assert element.weight_min is None or isinstance(element.weight_min, float)
