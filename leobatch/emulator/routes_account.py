"""The account, the catalogue, the calculator and prompt tools (api-facts sections 9 and 10)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from leobatch import catalog
from leobatch.api.wire import SD_VERSIONS
from leobatch.emulator.http import ok, origin_of, read_body, state_of
from leobatch.emulator.jobs import new_id
from leobatch.emulator.refusal import Refusal, bad_request
from leobatch.emulator.views import number
from leobatch.pricing.ratecard import FIXED_CREDITS, calculator_cost, calculator_problem

__all__ = ["ROUTES"]


async def get_me(request: Request) -> Response:
    """GET /me: the balance goes down with every charge and up with every refund.

    A credit account shows its balance in ``apiPaidTokens``. A dollar (PAYG) account shows
    ``apiPaidTokens: 0`` and its balance in ``apiDollarBalance``, a JSON number of US dollars
    with at most four decimals: how the real API reports a PAYG balance is not documented
    (api-v2-facts 5.7); the name follows the webhook payload's ``apiDollarCost``.
    """
    state = state_of(request)
    config = state.config
    dollars = state.money.dollars
    details: dict[str, Any] = {
        "user": {"id": config.user_id, "username": config.username},
        "apiConcurrencySlots": config.slots,
        "apiPaidTokens": 0 if dollars else state.balance,
        "apiSubscriptionTokens": 0,
        "apiPlanTokenRenewalDate": None,
        "paidTokens": 0,
        "subscriptionTokens": 0,
        "subscriptionGptTokens": 0,
        "subscriptionModelTokens": 0,
        "tokenRenewalDate": None,
    }
    if dollars:
        details["apiDollarBalance"] = state.money.number(state.balance)
    return ok({"user_details": [details]})


async def list_platform_models(request: Request) -> Response:
    """GET /platformModels: the catalogue's image models."""
    origin = origin_of(request)
    rows = [
        {
            "id": m.id,
            "name": m.name,
            "description": f"{m.name} ({m.family})",
            "nsfw": False,
            "featured": True,
            "generated_image": {"id": m.id, "url": f"{origin}/cdn/models/{m.slug}.jpg"},
        }
        for m in catalog.models()
        if m.kind == "image"
    ]
    return ok({"custom_models": rows})


async def list_elements(request: Request) -> Response:
    """GET /elements: the catalogue's elements, typed as SDK 7.0.0 declares them.

    ``baseModel`` is left out for base models outside the SDK's closed enum (``WAN21``), and
    weights are whole numbers (see ``views.number``).
    """
    origin = origin_of(request)
    rows = [
        {
            "akUUID": e.id,
            "name": e.name,
            "description": f"{e.name} element",
            "creatorName": "Leonardo",
            "urlImage": f"{origin}/cdn/elements/{e.id}.jpg",
            **({"baseModel": e.base_model} if e.base_model in SD_VERSIONS else {}),
            "weightDefault": number(e.weight_default),
            "weightMin": number(e.weight_min),
            "weightMax": number(e.weight_max),
        }
        for e in catalog.elements()
    ]
    return ok({"loras": rows})


#: Calculator sides as the OpenAPI document bounds them (``imageWidth``/``imageHeight``: 32..1024,
#: multiples of 8). ``/generations`` itself allows 1536, and the shared rate card prices that for
#: the charge on create; the calculator endpoint refuses what its own document refuses.
_CALCULATOR_MAX_SIDE = 1024


def _calculator_side_problem(service: str, params: dict[str, Any]) -> str | None:
    for name in ("imageWidth", "imageHeight"):
        value = params.get(name)
        if isinstance(value, int) and not (32 <= value <= _CALCULATOR_MAX_SIDE and value % 8 == 0):
            limit = _CALCULATOR_MAX_SIDE
            return f"{service}.{name} must be a multiple of 8 in 32..{limit}, not {value}"
    return None


async def pricing_calculator(request: Request) -> Response:
    """POST /pricing-calculator: the same rate card the charge on create uses.

    The body's types (``service`` one of the documented services, ``serviceParams`` keyed by
    service names only, each value an object of that service's fields) are checked by
    ``bodies.check_body``; here the cross-field and value rules.
    """
    state = state_of(request)
    state.calculator_calls += 1  # refused calls count too: they reached the calculator
    body = await read_body(request, "/pricing-calculator")
    service = body.get("service")
    all_params = body.get("serviceParams") or {}
    if not isinstance(service, str):
        raise Refusal(400, 'expecting a value for non-nullable variable: "service"',
                      "validation-failed")  # fmt: skip
    extra = [k for k, v in all_params.items() if k != service and v is not None]
    if extra:
        raise Refusal(400, f"serviceParams.{extra[0]} does not match service {service}",
                      "validation-failed")  # fmt: skip
    params: Any = all_params.get(service) or {}
    problem = calculator_problem(service, params) or _calculator_side_problem(service, params)
    if problem is not None:
        raise Refusal(400, problem, "validation-failed")
    price = calculator_cost(service, params)
    if price is None:
        raise bad_request(f"no price is known for {service} with these parameters")
    return ok({"calculateProductionApiServiceCost": {"cost": price}})


async def improve_prompt(request: Request) -> Response:
    """POST /prompt/improve: synchronous, charged at once, at most 200 characters in."""
    state, path = state_of(request), "/prompt/improve"
    body = await read_body(request, path)
    prompt: str = body["prompt"]
    if len(prompt) > 200:
        raise bad_request("Prompt is too long, please keep it under 200 characters")
    amount = state.money.from_credits(FIXED_CREDITS["improve-prompt"])
    state.charge(amount)
    instructions = body.get("promptInstructions")
    if instructions:
        improved = f"{prompt}, rewritten to {instructions.rstrip('.')}"
    else:
        style = "cinematic motion, smooth camera" if body.get("isVideo") else "dramatic lighting"
        improved = f"{prompt}, highly detailed, {style}, sharp focus, rich colour"
    state.record_create(path, body, new_id(), False)
    return ok({"promptGeneration": {"prompt": improved, **state.money.cost(amount)}})


ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("/me", "GET", get_me, None),
    ("/platformModels", "GET", list_platform_models, None),
    ("/elements", "GET", list_elements, None),
    ("/pricing-calculator", "POST", pricing_calculator, None),
    ("/prompt/improve", "POST", improve_prompt, "/prompt/improve"),
]
