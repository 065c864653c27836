"""Error paths against the emulator: each failure lands on its branch of the error tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest
from api_support import FAST_RETRY, Emulated

from leobatch.api.client import RetryPolicy
from leobatch.errors import (
    ApiValidationError,
    AuthError,
    InsufficientCreditsError,
    RateLimitedError,
    TransientError,
)

pytestmark = pytest.mark.anyio

OTHER_KEY = "9f1e2d3c-4b5a-4697-8877-665544332211"
IMAGE = {"prompt": "a mug", "width": 512, "height": 512, "num_images": 1}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Flaky:
    """An ASGI wrapper that answers the first ``times`` requests to ``path`` with ``status``."""

    def __init__(self, path: str, status: int, times: int) -> None:
        self.path, self.status, self.left, self.arrived = path, status, times, 0

    def __call__(self, app: App) -> App:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].endswith(self.path):
                self.arrived += 1
                if self.left > 0:
                    self.left -= 1
                    body = b'{"error":"upstream unavailable","path":"$","code":"unexpected"}'
                    await send({"type": "http.response.start", "status": self.status,
                                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)

        return wrapped


async def test_malformed_key_is_an_auth_error_not_retried(emulated: Emulated) -> None:
    """A non-UUID key gets Hasura's 500 auth-hook answer: AuthError at once, no retries."""
    async with emulated(key="not-a-uuid") as (client, state):
        with pytest.raises(AuthError, match="LEONARDO_API_KEY") as info:
            await client.me()
    assert info.value.status == 500
    assert "Invalid response from authorization hook" in str(info.value)
    assert state.requests["GET /me"] == 1


async def test_wrong_key_is_an_auth_error(emulated: Emulated) -> None:
    """A well-formed key the account does not know: 401 access-denied, AuthError."""
    async with emulated(api_key=OTHER_KEY) as (client, _):
        with pytest.raises(AuthError, match="Authentication hook unauthorized") as info:
            await client.price("MOTION_SVD_GENERATION", {})
    assert info.value.status == 401


async def test_insufficient_credits(emulated: Emulated) -> None:
    """A create beyond the balance is refused with the API's message; nothing is charged."""
    async with emulated(credits=1) as (client, state):
        with pytest.raises(InsufficientCreditsError, match="not enough api tokens"):
            await client.create("/generations", IMAGE)
    assert state.charged == 0


async def test_unknown_field_surfaces_the_api_message(emulated: Emulated) -> None:
    """An unknown body field is a validation error quoting the API's own words."""
    async with emulated() as (client, _):
        with pytest.raises(ApiValidationError, match="Unexpected variable sd_Version") as info:
            await client.create("/generations", {**IMAGE, "sd_Version": "v2"})
    assert info.value.status == 400


async def test_calculator_429_is_retried_until_it_succeeds(emulated: Emulated) -> None:
    """Past the request limit the calculator answers 429 + Retry-After; the client waits, wins."""
    async with emulated(requests_per_minute=2) as (client, state):
        quotes = [await client.price("MOTION_SVD_GENERATION", {}) for _ in range(4)]
    assert quotes == [45, 45, 45, 45]
    assert state.too_many >= 2
    assert state.requests["POST /pricing-calculator"] == 4 + state.too_many


async def test_429_without_retry_after_gives_up_after_the_attempts(emulated: Emulated) -> None:
    """Without Retry-After, backoff is bounded: after `attempts` tries the 429 is raised."""
    policy = RetryPolicy(rate_limited_attempts=3, base_s=0.001, cap_s=0.002)
    async with emulated(requests_per_minute=1, retry_after=False, retry=policy) as (client, state):
        await client.me()
        with pytest.raises(RateLimitedError) as info:
            await client.me()
    assert info.value.retry_after_s is None
    assert state.requests["GET /me"] == 1 + 3


async def test_long_retry_after_is_not_waited_for(emulated: Emulated) -> None:
    """A Retry-After beyond max_retry_after_s is handed to the caller instead of slept through."""
    policy = RetryPolicy(attempts=5, base_s=0.001, max_retry_after_s=0.0)
    async with emulated(requests_per_minute=1, retry=policy) as (client, state):
        await client.me()
        with pytest.raises(RateLimitedError) as info:
            await client.me()
    assert info.value.retry_after_s is not None
    assert info.value.retry_after_s > 0
    assert state.requests["GET /me"] == 2


async def test_5xx_on_an_idempotent_call_is_retried(emulated: Emulated) -> None:
    """Two 503s in front of the calculator, then the real answer."""
    flaky = Flaky("/pricing-calculator", 503, times=2)
    async with emulated(wrap=flaky) as (client, state):
        assert await client.price("MOTION_SVD_GENERATION", {}) == 45
    assert flaky.arrived == 3
    assert state.requests["POST /pricing-calculator"] == 1


async def test_429s_and_5xx_have_separate_budgets(emulated: Emulated) -> None:
    """Four 503s then 429s past the limit: the 429s do not use up the transient budget."""
    flaky = Flaky("/me", 503, times=FAST_RETRY.attempts - 1)
    policy = RetryPolicy(attempts=FAST_RETRY.attempts, base_s=0.001, cap_s=0.002)
    async with emulated(wrap=flaky, requests_per_minute=1, retry=policy) as (client, state):
        await client.me()
        await client.me()
    assert flaky.arrived == FAST_RETRY.attempts + 1 + state.too_many
    assert state.too_many >= 1


async def test_5xx_retries_are_bounded(emulated: Emulated) -> None:
    """A server that keeps failing: TransientError after exactly `attempts` tries."""
    flaky = Flaky("/me", 502, times=100)
    async with emulated(wrap=flaky) as (client, _):
        with pytest.raises(TransientError, match="HTTP 502: upstream unavailable"):
            await client.me()
    assert flaky.arrived == FAST_RETRY.attempts


async def test_creates_are_never_retried(emulated: Emulated) -> None:
    """A 500 on create is TransientError after ONE request: retrying could pay twice."""
    async with emulated(error_rate=1.0) as (client, state):
        with pytest.raises(TransientError):
            await client.create("/generations", IMAGE)
    assert state.requests["POST /generations"] == 1


async def test_create_rate_limit_is_reported_not_retried(emulated: Emulated) -> None:
    """Past 10 creates per slot per minute the 429 reaches the scheduler with its Retry-After."""
    async with emulated(slots=1) as (client, state):
        for _ in range(10):
            await client.create("/generations", IMAGE)
        with pytest.raises(RateLimitedError) as info:
            await client.create("/generations", IMAGE)
    assert info.value.retry_after_s is not None
    assert state.requests["POST /generations"] == 11
