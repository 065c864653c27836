"""The v2 wire (api-v2-facts 1.1-1.4, 1.8): the create's envelope, its cost, and every error shape.

The v2 answers below are the shapes the facts document or say a client must tolerate (the
flat ``{error, path, code}``, the GraphQL array, HTTP 200 carrying an error, a top-level
``generationId``). A small ASGI stand-in in front of the emulator answers ``/api/rest/v2/...``
with them, recording what arrived; everything else reaches the real emulator.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest
from api_support import FAST_RETRY, Emulated

from leobatch.api.client import LeonardoClient, v2_root
from leobatch.errors import (
    ApiError,
    ApiValidationError,
    AuthError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

pytestmark = pytest.mark.anyio

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

GEN_ID = "5c1f7e5a-7a2b-4b8e-9d3c-2f1e0a9b8c7d"
BODY = {
    "model": "gemini-image-2",
    "public": False,
    "parameters": {"prompt": "a mug", "width": 1024, "height": 1024, "quantity": 1},
}


class V2Answers:
    """Answers ``/api/rest/v2/<path>`` requests with scripted (status, body) pairs in turn."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.arrived: list[tuple[str, str, dict[str, str], bytes]] = []

    def __call__(self, app: App) -> App:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not scope["path"].startswith("/api/rest/v2/"):
                await app(scope, receive, send)
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.arrived.append((scope["method"], scope["path"], headers, body))
            status, answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": raw})

        return wrapped


def _graphql(message: str, code: str, status: int | None, detail: str | None = None) -> Any:
    extensions: dict[str, Any] = {"code": code}
    if status is not None:
        extensions["statusCode"] = status
    if detail is not None:
        extensions["details"] = {"message": detail, "statusCode": status}
    return [{"message": message, "path": ["generate"], "extensions": extensions}]


async def test_create_posts_the_envelope_to_the_v2_root(emulated: Emulated) -> None:
    """POST /api/rest/v2/generations with the key and the body as given; the id and the cost
    come from ``generate`` (credits from ``apiCreditCost``, amount and unit kept)."""
    answer = {
        "generate": {
            "generationId": GEN_ID,
            "cost": {"amount": "24", "unit": "CREDITS"},
            "apiCreditCost": 24,
        }
    }
    v2 = V2Answers((200, answer))
    async with emulated(wrap=v2) as (client, _state):
        created = await client.create("/v2/generations", BODY)
    assert (created.id, created.credits) == (GEN_ID, 24)
    assert (created.cost_amount, created.cost_unit) == ("24", "CREDITS")
    [(method, path, headers, sent)] = v2.arrived
    assert (method, path) == ("POST", "/api/rest/v2/generations")
    assert headers["authorization"] == f"Bearer {client._key}"
    assert json.loads(sent) == BODY


async def test_dollar_cost_keeps_amount_and_unit_and_no_credits(emulated: Emulated) -> None:
    """A PAYG account is charged in dollars: no credits, the decimal string kept exactly."""
    answer = {
        "generate": {
            "generationId": GEN_ID,
            "cost": {"amount": "0.1047", "unit": "DOLLARS"},
            "apiCreditCost": None,
        }
    }
    async with emulated(wrap=V2Answers((200, answer))) as (client, _state):
        created = await client.create("/v2/generations", BODY)
    assert (created.id, created.credits) == (GEN_ID, None)
    assert (created.cost_amount, created.cost_unit) == ("0.1047", "DOLLARS")


@pytest.mark.parametrize(
    ("answer", "credits"),
    [
        ({"generationId": GEN_ID, "apiCreditCost": 12}, 12),  # no ``generate`` wrapper (3P)
        ({"generate": {"generationId": GEN_ID}}, None),  # id only (a 3P fixture)
        ({"generate": {"generationId": GEN_ID, "cost": {"amount": 7, "unit": "CREDITS"}}}, 7),
    ],
)
async def test_tolerated_create_answers(
    emulated: Emulated, answer: dict[str, Any], credits: int | None
) -> None:
    """A top-level ``generationId``, a missing cost, a numeric amount: all read."""
    async with emulated(wrap=V2Answers((200, answer))) as (client, _state):
        created = await client.create("/v2/generations", BODY)
    assert (created.id, created.credits) == (GEN_ID, credits)


@pytest.mark.parametrize(
    ("status", "answer", "error", "text"),
    [
        # GraphQL arrays with HTTP 400, and with HTTP 200 (a failed create, never a success)
        (
            400,
            _graphql("Bad Request Exception", "BadRequestException", 400, "width must be 1024"),
            ApiValidationError,
            "width must be 1024",
        ),
        (200, _graphql("invalid init image id", "BAD_REQUEST", 400), ApiValidationError,
         "invalid init image id"),
        (200, _graphql("Too many images", "BAD_REQUEST", None), ApiValidationError,
         "Too many images"),
        (200, _graphql("failed to find init variation", "NOT_FOUND", None), NotFoundError,
         "failed to find init variation"),
        (200, _graphql("slow down", "TOO_MANY_REQUESTS", 429), RateLimitedError, "slow down"),
        (200, {"errors": _graphql("model retired", "BAD_REQUEST", 400)}, ApiValidationError,
         "model retired"),
        (200, _graphql("internal", "INTERNAL_SERVER_ERROR", 500), TransientError, "internal"),
        # the flat object
        (500, {"error": "Service Error", "path": "$", "code": "unexpected"}, TransientError,
         "Service Error"),
        (401, {"error": "Authentication hook unauthorized this request", "path": "$",
               "code": "access-denied"}, AuthError, "unauthorized"),
        (200, {"error": "Unexpected variable parameter", "path": "$", "code": "validation"},
         ApiValidationError, "Unexpected variable parameter"),
    ],
)  # fmt: skip
async def test_error_shapes(
    emulated: Emulated, status: int, answer: Any, error: type[Exception], text: str
) -> None:
    """Each error shape raises its class with the API's own message, after one request."""
    v2 = V2Answers((status, answer))
    async with emulated(wrap=v2) as (client, _state):
        with pytest.raises(error) as info:
            await client.create("/v2/generations", BODY)
    assert text in str(info.value)
    assert str(info.value).startswith("POST /v2/generations: HTTP ")
    assert len(v2.arrived) == 1  # a create is never retried


@pytest.mark.parametrize(
    "answer",
    [b"", b'{"generate": {"generationId": "5c1f', {"generate": {}}, {"unrelated": 1}, []],
)
async def test_a_2xx_without_an_id_is_of_unknown_effect(emulated: Emulated, answer: Any) -> None:
    """Cut short, empty or id-less: TransientError (the engine reconciles), never resent here."""
    v2 = V2Answers((200, answer))
    async with emulated(wrap=v2) as (client, _state):
        with pytest.raises(TransientError):
            await client.create("/v2/generations", BODY)
    assert len(v2.arrived) == 1


async def test_v2_models_reads_the_documented_listing(emulated: Emulated) -> None:
    """``productionApiAvailableModels``: UUID ids, display names, parameter schemas; junk
    entries skipped, a slug taken only when an entry carries a non-UUID one."""
    schema = {"type": "object", "properties": {"prompt": {"type": "string"}}}
    answer = {
        "productionApiAvailableModels": [
            {"id": "1e7c2b9a-0c4d-4e5f-8a9b-0c1d2e3f4a5b", "name": "Nano Banana Pro",
             "parameters": schema},
            {"id": "2f8d3cab-1d5e-4f60-9bac-1d2e3f4a5b6c", "name": "GPT Image 1.5",
             "model": "gpt-image-1.5", "parameters": None},
            "not an object",
            {"name": "no id"},
        ]
    }  # fmt: skip
    v2 = V2Answers((200, answer))
    async with emulated(wrap=v2) as (client, _state):
        models = await client.v2_models()
    assert [(m.id, m.name, m.slug) for m in models] == [
        ("1e7c2b9a-0c4d-4e5f-8a9b-0c1d2e3f4a5b", "Nano Banana Pro", None),
        ("2f8d3cab-1d5e-4f60-9bac-1d2e3f4a5b6c", "GPT Image 1.5", "gpt-image-1.5"),
        ("", "no id", None),
    ]
    assert models[0].parameters == schema and models[1].parameters == {}
    assert [(m, p) for m, p, _h, _b in v2.arrived] == [("GET", "/api/rest/v2/models")]


async def test_v2_models_tolerates_a_bare_array_and_retries_5xx(emulated: Emulated) -> None:
    """A read: a 503 and a 429 are retried; a bare array is a listing too."""
    v2 = V2Answers(
        (503, {"error": "upstream", "path": "$", "code": "unexpected"}),
        (429, {"error": "slow down", "path": "$", "code": "unexpected"}),
        (200, [{"id": "m-1", "name": "Seedream 4.5", "parameters": {}}]),
    )
    async with emulated(wrap=v2, retry=FAST_RETRY) as (client, _state):
        models = await client.v2_models()
    assert [(m.id, m.name) for m in models] == [("m-1", "Seedream 4.5")]
    assert len(v2.arrived) == 3


async def test_v2_models_unauthorised_is_an_auth_error(emulated: Emulated) -> None:
    """The 401 seen on GET /v2/models with a bad key (3P probe) is an AuthError, not retried."""
    answer = {"error": "Authentication hook unauthorized this request", "path": "$",
              "code": "access-denied"}  # fmt: skip
    v2 = V2Answers((401, answer))
    async with emulated(wrap=v2) as (client, _state):
        with pytest.raises(AuthError):
            await client.v2_models()
    assert len(v2.arrived) == 1


def test_v2_root_replaces_the_v1_suffix() -> None:
    """The v2 surface hangs off the v1 base URL's parent; a base without /v1 is refused."""
    assert v2_root("https://cloud.leonardo.ai/api/rest/v1") == "https://cloud.leonardo.ai/api/rest"
    assert v2_root("http://127.0.0.1:8765/api/rest/v1/") == "http://127.0.0.1:8765/api/rest"
    with pytest.raises(ApiError, match="must end in /v1"):
        v2_root("https://proxy.example/leonardo")


async def test_v2_create_through_a_base_without_v1_is_a_clear_error() -> None:
    """Nothing is sent when the v2 URL cannot be derived; the message says why."""
    async with LeonardoClient(
        "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a", "https://proxy.example/leonardo"
    ) as client:
        with pytest.raises(ApiError, match="LEONARDO_API_BASE_URL must end in /v1"):
            await client.create("/v2/generations", BODY)


def test_api_message_reads_the_graphql_array() -> None:
    """A bare array's first error: its ``details.message`` when given, else its ``message``;
    an array of data (a listing) is no error."""
    from leobatch.api._translate import api_message, graphql_errors

    detailed = json.dumps(_graphql("Bad Request", "BadRequestException", 400, "no such model"))
    assert api_message(detailed.encode()) == "no such model"
    plain = json.dumps(_graphql("Unexpected variable quantty", "validation-failed", None))
    assert api_message(plain.encode()) == "Unexpected variable quantty"
    assert graphql_errors([{"id": "m-1", "name": "Seedream 4.5"}]) is None
