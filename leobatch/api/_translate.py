"""HTTP failures become :mod:`leobatch.errors` (api-facts section 2).

Every message names the request (method and path, never headers) and quotes the API's own
``error`` text. Callers pass ``secret`` so that the key can never leak through an echoed message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from leobatch.api._backoff import parse_retry_after
from leobatch.api._scalars import as_int
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

__all__ = [
    "api_message",
    "error_from_body",
    "error_from_response",
    "error_from_transport",
    "graphql_errors",
    "scrub",
]

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


def graphql_errors(data: Any) -> list[Mapping[str, Any]] | None:
    """The GraphQL error objects of a parsed body, or ``None`` if it holds none.

    Leonardo answers validation and business errors in the Hasura/GraphQL shape, either as a
    bare array ``[{"message", "extensions": {...}}]`` (v2, api-v2-facts 1.8) or under ``errors``.
    """
    items = data if isinstance(data, list) else None
    if items is None and isinstance(data, Mapping):
        errors = data.get("errors")
        items = errors if isinstance(errors, list) else None
    if not items:
        return None
    # An error object has a message or extensions: a bare array of anything else (a listing)
    # is data, not an error.
    found = [
        item
        for item in items
        if isinstance(item, Mapping)
        and (isinstance(item.get("message"), str) or isinstance(item.get("extensions"), Mapping))
    ]
    return found or None


def _graphql_text(error: Mapping[str, Any]) -> str | None:
    """One error's text: ``extensions.details.message`` (the specific one) else ``message``."""
    extensions = error.get("extensions")
    details = extensions.get("details") if isinstance(extensions, Mapping) else None
    specific = details.get("message") if isinstance(details, Mapping) else None
    if isinstance(specific, str) and specific.strip():
        return specific
    message = error.get("message")
    return message if isinstance(message, str) else None


#: ``extensions.code`` values -> the HTTP status they stand for, when no statusCode is given
_GRAPHQL_CODES = {
    "BAD_REQUEST": 400,
    "BADREQUESTEXCEPTION": 400,
    "VALIDATION_FAILED": 400,
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "ACCESS-DENIED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "NOTFOUNDEXCEPTION": 404,
    "TOO_MANY_REQUESTS": 429,
    "RATE_LIMITED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "INTERNAL": 500,
}


def _graphql_status(error: Mapping[str, Any]) -> int | None:
    """The HTTP status an error object states (``extensions.statusCode``, its ``details``' or
    what its ``code`` means), or ``None``."""
    extensions = error.get("extensions")
    if not isinstance(extensions, Mapping):
        return None
    details = extensions.get("details")
    for holder in (extensions, details if isinstance(details, Mapping) else {}):
        status = as_int(holder.get("statusCode"))
        if status is not None and 100 <= status <= 599:
            return status
    code = extensions.get("code")
    return _GRAPHQL_CODES.get(code.upper()) if isinstance(code, str) else None


def api_message(body: bytes) -> str | None:
    """The API's ``error`` text (or a GraphQL error's message, or an S3 XML ``Message``)."""
    if body.lstrip().startswith(b"<"):
        found = _XML_MESSAGE.search(body.decode("utf-8", "replace"))
        return found.group(1).strip() if found else None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, Mapping) and isinstance(data.get("error"), str):
        return str(data["error"])
    errors = graphql_errors(data)
    return _graphql_text(errors[0]) if errors else None


def error_from_body(
    what: str, data: Any, headers: httpx.Headers, secret: str, *, expected_key: str
) -> ApiError | None:
    """The error a *2xx* answer carries, or ``None`` when it is not an error.

    The API sometimes answers a refusal with HTTP 200 and a GraphQL error array (api-v2-facts
    1.8: "do not trust the HTTP status alone"), or with a flat ``{error, path, code}`` object.
    Either is a failed request, never a success: its class comes from the status the error
    states (``extensions.statusCode`` / ``code``), else it is a refusal (400). A body that also
    holds ``expected_key`` (the response object) is a success with warnings, not an error.
    """
    if isinstance(data, Mapping) and isinstance(data.get(expected_key), Mapping):
        return None
    errors = graphql_errors(data)
    if errors is not None:
        text = _graphql_text(errors[0]) or "an error without a message"
        status = _graphql_status(errors[0]) or 400
    elif isinstance(data, Mapping) and isinstance(data.get("error"), str) and "code" in data:
        text, status = str(data["error"]), 400
    else:
        return None
    return _classify(what, status, scrub(text, secret), headers, shown=f"HTTP 200 ({status})")


def error_from_response(
    what: str, status: int, body: bytes, headers: httpx.Headers, secret: str
) -> ApiError:
    """The error for a non-2xx answer to ``what`` (``"POST /generations"``)."""
    text = api_message(body)
    if text is None:
        snippet = body[:200].decode("utf-8", "replace").strip()
        text = snippet or httpx.codes.get_reason_phrase(status) or "no message"
    return _classify(what, status, scrub(text, secret), headers, shown=f"HTTP {status}")


def _classify(what: str, status: int, text: str, headers: httpx.Headers, *, shown: str) -> ApiError:
    """The error class for ``status`` and the API's ``text`` (already scrubbed)."""
    lowered = text.lower()
    message = f"{what}: {shown}: {text}"
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
