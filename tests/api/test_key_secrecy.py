"""The API key appears in nothing the client logs, raises, prints or returns."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from api_support import FAST_RETRY

from leobatch.api.client import LeonardoClient, RetryPolicy
from leobatch.errors import ApiError, AuthError

pytestmark = pytest.mark.anyio

EmulatorHandle = Any  # tests/conftest.py's handle: base_url, api_key, state, stats()
ACCOUNT_KEY = "5ec2e7a1-0d0d-4e4e-9f9f-a1b2c3d4e5f6"
WRONG_KEY = "5ec2e7a1-1111-4222-8333-a1b2c3d4e5f6"
MALFORMED_KEY = "5ec2e7a1-secret-token-x"


def _texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


async def test_key_absent_from_logs_errors_and_output(
    make_emulator: Callable[..., EmulatorHandle],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every error path, with DEBUG logging on for leobatch, httpx and httpcore: no key anywhere."""
    caplog.set_level(logging.DEBUG)
    handle = make_emulator(api_key=ACCOUNT_KEY, credits=5)
    dropping = make_emulator(api_key=ACCOUNT_KEY, drop_rate=1.0)
    seen: list[str] = []

    async def attempt(
        key: str, call: Callable[[LeonardoClient], Awaitable[Any]], where: Any = handle
    ) -> None:
        retry = RetryPolicy(attempts=3, base_s=0.001, cap_s=0.01)
        async with LeonardoClient(key, where.base_url, retry=retry) as client:
            seen.append(repr(client))
            try:
                seen.append(repr(await call(client)))
            except ApiError as e:
                seen.extend(_texts(e))

    async def me(c: LeonardoClient) -> Any:
        return await c.me()

    async def big_create(c: LeonardoClient) -> Any:
        return await c.create("/generations", {"prompt": "x", "num_images": 4, "width": 512})

    async def bad_field(c: LeonardoClient) -> Any:
        return await c.create("/generations", {"prompt": "x", "sd_Version": "v2"})

    for key, call in [
        (ACCOUNT_KEY, me),
        (WRONG_KEY, me),
        (MALFORMED_KEY, me),
        (ACCOUNT_KEY, big_create),  # not enough credits
        (ACCOUNT_KEY, bad_field),
    ]:
        await attempt(key, call)
    await attempt(ACCOUNT_KEY, me, dropping)  # dropped connections: retried, then transient
    async with LeonardoClient(ACCOUNT_KEY, "http://127.0.0.1:9/x", retry=FAST_RETRY) as client:
        try:
            await client.me()
        except ApiError as e:
            seen.extend(_texts(e))

    out, err = capsys.readouterr()
    logged = [r.getMessage() for r in caplog.records]
    logged += [
        "".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info
    ]
    everything = "\n".join([*seen, *logged, out, err])
    assert "HTTP 401" in everything
    assert "HTTP 500: Invalid response from authorization hook" in everything
    assert "not enough api tokens" in everything
    assert "connection dropped" in everything
    assert any("/me" in line for line in logged)
    for key in (ACCOUNT_KEY, WRONG_KEY, MALFORMED_KEY):
        assert key not in everything
        assert key.split("-")[1] not in everything  # not even a fragment


async def test_key_that_breaks_a_header_is_not_echoed() -> None:
    """A key with a control character is refused before any request, without quoting it."""
    with pytest.raises(AuthError) as info:
        LeonardoClient("5ec2e7a1\r\nX-Evil: 1", "http://127.0.0.1:9/x")
    # str and repr only: the traceback quotes this test's own source line
    assert "5ec2e7a1" not in str(info.value) + repr(info.value)
