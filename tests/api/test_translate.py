"""Status and message to error class (api-facts section 2), for answers the emulator never gives."""

from __future__ import annotations

import json

import httpx
import pytest

from leobatch.api._translate import api_message, error_from_response, error_from_transport
from leobatch.errors import (
    ApiError,
    ApiValidationError,
    AuthError,
    InsufficientCreditsError,
    ModerationError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

KEY = "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a"


def _body(message: str, code: str = "unexpected") -> bytes:
    return json.dumps({"error": message, "path": "$", "code": code}).encode()


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (500, "Invalid response from authorization hook", AuthError),
        (401, "Authentication hook unauthorized this request", AuthError),
        (400, "not enough api tokens userId: 6e2c", InsufficientCreditsError),
        (402, "Payment Required", InsufficientCreditsError),
        (403, "content moderation filter: naked", ModerationError),
        (
            403,
            "Your prompt appears to contain inappropriate content, please be mindful",
            ModerationError,
        ),
        (400, "Unexpected variable sd_Version", ApiValidationError),
        (403, "Forbidden", ApiValidationError),
        (404, "not found", NotFoundError),
        (429, "rate limit exceeded", RateLimitedError),
        (502, "Bad Gateway", TransientError),
        (500, "Service Error", TransientError),
    ],
)
def test_status_and_text_pick_the_error(
    status: int, message: str, expected: type[ApiError]
) -> None:
    """Each documented answer maps to its branch of the error tree, API text kept."""
    error = error_from_response("POST /generations", status, _body(message), httpx.Headers(), KEY)
    assert type(error) is expected
    assert error.status == status
    assert message in str(error)
    assert str(error).startswith(f"POST /generations: HTTP {status}: ")


def test_retry_after_is_carried() -> None:
    """A 429's Retry-After header becomes retry_after_s."""
    error = error_from_response("GET /me", 429, b"", httpx.Headers({"Retry-After": "1.5"}), KEY)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 1.5


def test_echoed_key_is_scrubbed() -> None:
    """Even if the server echoes the key, the message does not carry it."""
    error = error_from_response("GET /me", 401, _body(f"bad key {KEY}"), httpx.Headers(), KEY)
    assert KEY not in str(error)
    assert "[redacted]" in str(error)


def test_non_json_body_gives_a_snippet() -> None:
    """A proxy's HTML error page still yields a readable message."""
    error = error_from_response("GET /me", 503, b"<html>upstream down</html>", httpx.Headers(), KEY)
    assert isinstance(error, TransientError)
    assert "upstream down" in str(error)


def test_graphql_shaped_errors_are_read() -> None:
    """The web-app GraphQL error shape yields its first message."""
    body = json.dumps({"errors": [{"message": "WebhookCallbackUrl is not a valid url"}]}).encode()
    assert api_message(body) == "WebhookCallbackUrl is not a valid url"


def test_transport_failures() -> None:
    """Timeouts and dropped connections are transient; a local protocol error is not."""
    request = httpx.Request("GET", "http://127.0.0.1/x")
    timeout = error_from_transport("GET /me", httpx.ReadTimeout("slow", request=request), KEY)
    dropped = error_from_transport(
        "GET /me", httpx.RemoteProtocolError("closed", request=request), KEY
    )
    local = error_from_transport("GET /me", httpx.LocalProtocolError(f"bad header {KEY}"), KEY)
    assert isinstance(timeout, TransientError)
    assert "timed out" in str(timeout)
    assert isinstance(dropped, TransientError)
    assert "connection dropped" in str(dropped)
    assert not isinstance(local, TransientError)
    assert KEY not in str(local)
