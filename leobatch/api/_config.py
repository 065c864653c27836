"""Where the client talks to and with which key: the environment, checked (DESIGN section 7)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

import httpx

from leobatch.errors import ApiError, AuthError

__all__ = [
    "BASE_URL_VAR",
    "DEFAULT_BASE_URL",
    "KEY_VAR",
    "check_base_url",
    "check_key",
    "settings_from_env",
]

DEFAULT_BASE_URL = "https://cloud.leonardo.ai/api/rest/v1"
KEY_VAR = "LEONARDO_API_KEY"
BASE_URL_VAR = "LEONARDO_API_BASE_URL"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, if it is https (or plain http to a loopback host)."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as e:
        raise ApiError(f"{BASE_URL_VAR} is not a URL: {base_url!r}") from e
    if url.scheme == "https" and url.host:
        return base_url.rstrip("/")
    if url.scheme == "http" and url.host:
        if is_loopback(url.host):
            return base_url.rstrip("/")
        raise ApiError(
            f"refusing plain http to {url.host}: the API key would travel unencrypted; "
            f"use https (plain http is allowed only for loopback hosts, e.g. the emulator)"
        )
    raise ApiError(f"{BASE_URL_VAR} must be an http(s) URL, got {base_url!r}")


def check_key(api_key: str) -> str:
    """``api_key`` stripped, or :class:`AuthError` if it is empty or cannot go in a header.

    The key itself is never quoted in the message.
    """
    key = api_key.strip()
    if not key:
        raise AuthError(f"no API key: set {KEY_VAR}")
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise AuthError(
            f"{KEY_VAR} is malformed: it holds spaces or non-printable characters "
            "(a Leonardo API key is a UUID)"
        )
    return key


def settings_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(api_key, base_url)`` from ``LEONARDO_API_KEY`` and ``LEONARDO_API_BASE_URL``."""
    source = os.environ if env is None else env
    key = source.get(KEY_VAR, "")
    if not key.strip():
        raise AuthError(
            f"{KEY_VAR} is not set: create a Production API key in the Leonardo web app "
            f"(API Access) and export {KEY_VAR}=<key>"
        )
    base_url = source.get(BASE_URL_VAR, "").strip() or DEFAULT_BASE_URL
    return check_key(key), check_base_url(base_url)
