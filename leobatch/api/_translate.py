"""HTTP failures become :mod:`leobatch.errors` (api-facts section 2).

Every message names the request (method and path, never headers) and quotes the API's own
``error`` text. Callers pass ``secret`` so that the key can never leak through an echoed message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import httpx

from leobatch.api._backoff import parse_retry_after
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

__all__ = ["api_message", "error_from_response", "error_from_transport", "scrub"]

_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.DOTALL)
_AUTH_TEXTS = ("authorization hook", "authentication hook")
_MODERATION_TEXTS = ("inappropriate content", "content moderation")
_CREDITS_TEXT = "not enough api tokens"
#: failures after which the request may or may not have reached the server
_TRANSIENT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)
_KEY_HINT = "check LEONARDO_API_KEY"


def scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced."""
    return text.replace(secret, "[redacted]") if secret else text


def api_message(body: bytes) -> str | None:
    """The API's ``error`` text (or a GraphQL ``errors[0].message``, or an S3 XML ``Message``)."""
    if body.lstrip().startswith(b"<"):
        found = _XML_MESSAGE.search(body.decode("utf-8", "replace"))
        return found.group(1).strip() if found else None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, Mapping):
        return None
    error = data.get("error")
    if isinstance(error, str):
        return error
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        message = errors[0].get("message")
        if isinstance(message, str):
            return message
    return None


def error_from_response(
    what: str, status: int, body: bytes, headers: httpx.Headers, secret: str
) -> ApiError:
    """The error for a non-2xx answer to ``what`` (``"POST /generations"``)."""
    text = api_message(body)
    if text is None:
        snippet = body[:200].decode("utf-8", "replace").strip()
        text = snippet or httpx.codes.get_reason_phrase(status) or "no message"
    text = scrub(text, secret)
    lowered = text.lower()
    message = f"{what}: HTTP {status}: {text}"
    if status == 401 or any(t in lowered for t in _AUTH_TEXTS):
        # Hasura answers 500 when the auth hook rejects a malformed key: still the key's fault.
        return AuthError(f"{message} (the API key was not accepted; {_KEY_HINT})", status=status)
    if status == 402 or _CREDITS_TEXT in lowered:
        return InsufficientCreditsError(message, status=status)
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return RateLimitedError(message, status=status, retry_after_s=retry_after)
    if status == 403 and any(t in lowered for t in _MODERATION_TEXTS):
        return ModerationError(message, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    if status >= 500:
        return TransientError(message, status=status)
    return ApiValidationError(message, status=status)


def error_from_transport(what: str, exc: httpx.HTTPError, secret: str) -> ApiError:
    """The error for a request that got no usable answer (timeout, reset, refused connection)."""
    if isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        reason = "could not connect"
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        reason = "connection dropped"
    else:
        reason = "request failed"
    detail = scrub(str(exc), secret)
    suffix = f" ({type(exc).__name__}: {detail})" if detail else f" ({type(exc).__name__})"
    if isinstance(exc, _TRANSIENT):
        return TransientError(f"{what}: {reason}{suffix}")
    return ApiError(f"{what}: {reason}{suffix}")
