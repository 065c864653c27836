"""The values the client returns, and their tolerant parsers.

Parsers read the API's JSON (api-facts sections 4-10) leniently: unknown fields are ignored,
enum values leobatch has never seen are kept as strings, nulls and wrongly-typed scalars become
``None`` (a count sent as ``"12"`` or ``12.0`` is still read as 12). The official SDK raises on
such drift; a batch run must not die because the API grew a field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from leobatch.api._scalars import as_bool, as_int, as_list, as_map, as_number, as_str

__all__ = [
    "Account",
    "Created",
    "Element",
    "GeneratedImage",
    "Generation",
    "ImprovedPrompt",
    "InitImage",
    "PlatformModel",
    "V2Model",
    "Variation",
    "parse_account",
    "parse_created",
    "parse_element",
    "parse_generation",
    "parse_init_image",
    "parse_platform_model",
    "parse_v2_model",
    "parse_variation",
]


@dataclass(frozen=True, slots=True)
class Account:
    """``GET /me``: API credits are ``paid_credits + subscription_credits`` (= ``credits``)."""

    user_id: str
    username: str | None
    paid_credits: int
    subscription_credits: int
    credits: int
    slots: int | None
    renewal_date: str | None
    #: A pay-as-you-go account's balance in US dollars (``apiDollarBalance``; the real field is
    #: undocumented, pricing-facts 5 [U]: the emulator's choice), ``None`` on a credits account.
    dollars: Decimal | None = None

    @property
    def unit(self) -> str:
        """How the account is billed: ``"DOLLARS"`` with a dollar balance, else ``"CREDITS"``."""
        return "DOLLARS" if self.dollars is not None else "CREDITS"


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a create request.

    ``id`` is the job id to poll (a generation id, or a variation id for variations and video
    upscale); ``generation_id`` is the response's ``generationId`` when it has one (video upscale
    carries both). ``credits`` is ``apiCreditCost``, else ``cost.amount`` when its unit is
    CREDITS, else ``None`` (a PAYG account charged in dollars). ``text`` is the improved prompt
    of the synchronous ``/prompt/improve``.
    """

    id: str
    credits: int | None
    cost_amount: str | None = None
    cost_unit: str | None = None
    generation_id: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Variation:
    """A post-processing job (upscale, unzoom, nobg, universal upscale, video upscale)."""

    id: str
    status: str
    transform_type: str | None
    url: str | None
    created_at: str | None = None


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One output of a generation; ``motion_mp4_url`` is set for video kinds."""

    id: str
    url: str | None
    nsfw: bool
    motion_mp4_url: str | None
    variations: tuple[Variation, ...] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    """A generation as ``GET /generations/{id}`` shows it. ``raw`` keeps the whole object."""

    id: str
    status: str
    created_at: str | None
    prompt: str | None
    model_id: str | None
    width: int | None
    height: int | None
    seed: int | None
    images: tuple[GeneratedImage, ...]
    negative_prompt: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class ImprovedPrompt:
    """``POST /prompt/improve``: the improved prompt and what it cost."""

    text: str
    credits: int | None


@dataclass(frozen=True, slots=True)
class InitImage:
    """An uploaded init image."""

    id: str
    url: str | None
    created_at: str | None


@dataclass(frozen=True, slots=True)
class PlatformModel:
    """A platform model from ``GET /platformModels``."""

    id: str
    name: str | None
    description: str | None
    nsfw: bool
    featured: bool
    image_url: str | None


@dataclass(frozen=True, slots=True)
class V2Model:
    """A model from ``GET /v2/models`` (api-v2-facts 1.1).

    ``id`` is what the listing calls its id (a UUID as probed, not the request's ``model``
    string); ``slug`` is a request string when an entry carries one (``model``, ``slug`` or
    ``modelId`` holding a non-UUID string: none was seen, tolerated in case the listing grows
    one); ``parameters`` is the JSON Schema of its ``parameters`` object, as sent.
    """

    id: str
    name: str | None
    slug: str | None
    parameters: Mapping[str, Any]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Element:
    """An element (LoRA) from ``GET /elements``; weights are numbers (the SDK says int)."""

    ak_uuid: str
    name: str | None
    description: str | None
    base_model: str | None
    weight_default: float | None
    weight_min: float | None
    weight_max: float | None


def parse_account(details: Mapping[str, Any]) -> Account:
    """One ``user_details`` entry."""
    user = as_map(details.get("user"))
    # Balances are whole credits in the SDK; a fractional (PAYG) value is floored, never rounded up.
    paid = math.floor(as_number(details.get("apiPaidTokens")) or 0)
    subscription = math.floor(as_number(details.get("apiSubscriptionTokens")) or 0)
    return Account(
        user_id=as_str(user.get("id")) or "",
        username=as_str(user.get("username")),
        paid_credits=paid,
        subscription_credits=subscription,
        credits=paid + subscription,
        slots=as_int(details.get("apiConcurrencySlots")),
        renewal_date=as_str(details.get("apiPlanTokenRenewalDate")),
        dollars=_dollars(details.get("apiDollarBalance")),
    )


def _dollars(value: Any) -> Decimal | None:
    """A dollar amount sent as a number or a decimal string; anything else is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    return amount if amount.is_finite() else None


def parse_created(job: Mapping[str, Any], job_id_field: str) -> Created:
    """A create response object (``sdGenerationJob``, ``sdNobgJob``, ...)."""
    cost = as_map(job.get("cost"))
    amount = cost.get("amount")
    cost_amount = None if amount is None else str(amount)
    cost_unit = as_str(cost.get("unit"))
    credits = as_int(job.get("apiCreditCost"))
    if credits is None and cost_unit == "CREDITS":
        credits = as_int(cost_amount)
    return Created(
        id=(as_str(job.get(job_id_field)) or "") if job_id_field else "",
        credits=credits,
        cost_amount=cost_amount,
        cost_unit=cost_unit,
        generation_id=as_str(job.get("generationId")),
        text=as_str(job.get("prompt")),
    )


def parse_variation(obj: Mapping[str, Any]) -> Variation:
    """A generic or motion variation object."""
    transform = obj.get("transformType", obj.get("motionTransformType"))
    return Variation(
        id=as_str(obj.get("id")) or "",
        status=as_str(obj.get("status")) or "UNKNOWN",
        transform_type=as_str(transform),
        url=as_str(obj.get("url")),
        created_at=as_str(obj.get("createdAt")),
    )


def _parse_image(obj: Mapping[str, Any]) -> GeneratedImage:
    variations = obj.get("generated_image_variation_generics")
    return GeneratedImage(
        id=as_str(obj.get("id")) or "",
        url=as_str(obj.get("url")),
        nsfw=as_bool(obj.get("nsfw")) or False,
        motion_mp4_url=as_str(obj.get("motionMP4URL")),
        variations=tuple(parse_variation(as_map(v)) for v in as_list(variations)),
    )


def parse_generation(obj: Mapping[str, Any]) -> Generation:
    """A ``generations_by_pk`` object (also each entry of the user's generation list)."""
    images = obj.get("generated_images", obj.get("images"))
    return Generation(
        id=as_str(obj.get("id")) or "",
        status=as_str(obj.get("status")) or "UNKNOWN",
        created_at=as_str(obj.get("createdAt")),
        prompt=as_str(obj.get("prompt")),
        model_id=as_str(obj.get("modelId")),
        width=as_int(obj.get("imageWidth")),
        height=as_int(obj.get("imageHeight")),
        seed=as_int(obj.get("seed")),
        images=tuple(_parse_image(as_map(i)) for i in as_list(images)),
        negative_prompt=as_str(obj.get("negativePrompt")),
        raw=dict(obj),
    )


def parse_init_image(obj: Mapping[str, Any]) -> InitImage:
    """An ``init_images_by_pk`` object."""
    return InitImage(
        id=as_str(obj.get("id")) or "",
        url=as_str(obj.get("url")),
        created_at=as_str(obj.get("createdAt")),
    )


def parse_platform_model(obj: Mapping[str, Any]) -> PlatformModel:
    """A ``custom_models`` entry."""
    return PlatformModel(
        id=as_str(obj.get("id")) or "",
        name=as_str(obj.get("name")),
        description=as_str(obj.get("description")),
        nsfw=as_bool(obj.get("nsfw")) or False,
        featured=as_bool(obj.get("featured")) or False,
        image_url=as_str(as_map(obj.get("generated_image")).get("url")),
    )


def parse_v2_model(obj: Mapping[str, Any]) -> V2Model:
    """One entry of ``productionApiAvailableModels`` (tolerant: any field may be missing)."""
    ident = obj.get("id")
    slug = None
    for name in ("model", "slug", "modelId"):
        value = as_str(obj.get(name))
        if value and not _looks_like_uuid(value):
            slug = value
            break
    return V2Model(
        id=as_str(ident) or (str(ident) if isinstance(ident, int) else ""),
        name=as_str(obj.get("name")) or as_str(obj.get("displayName")),
        slug=slug,
        parameters=as_map(obj.get("parameters")),
        raw=dict(obj),
    )


def _looks_like_uuid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for p in parts for c in p
    )


def parse_element(obj: Mapping[str, Any]) -> Element:
    """A ``loras`` entry."""
    return Element(
        ak_uuid=as_str(obj.get("akUUID")) or "",
        name=as_str(obj.get("name")),
        description=as_str(obj.get("description")),
        base_model=as_str(obj.get("baseModel")),
        weight_default=as_number(obj.get("weightDefault")),
        weight_min=as_number(obj.get("weightMin")),
        weight_max=as_number(obj.get("weightMax")),
    )
