"""Key and base URL from the environment: clear refusals, https unless loopback."""

from __future__ import annotations

import anyio
import pytest

from leobatch.api._config import DEFAULT_BASE_URL, check_base_url, settings_from_env
from leobatch.api.client import LeonardoClient
from leobatch.errors import ApiError, AuthError

KEY = "0b7c8a43-51f2-4b1e-9d6a-3f0e2c1d4b5a"


def test_default_base_url() -> None:
    """Without LEONARDO_API_BASE_URL the real API is used."""
    assert settings_from_env({"LEONARDO_API_KEY": KEY}) == (KEY, DEFAULT_BASE_URL)


def test_missing_key_names_the_variable() -> None:
    """An unset or blank key says which variable to set."""
    for env in ({}, {"LEONARDO_API_KEY": "  "}):
        with pytest.raises(AuthError, match="LEONARDO_API_KEY is not set"):
            settings_from_env(env)


def test_key_that_cannot_be_a_header_is_refused_without_echo() -> None:
    """A key with a newline is refused locally and its text is not quoted."""
    secret = "0b7c8a43-51f2\n-4b1e-9d6a-3f0e2c1d4b5a"
    with pytest.raises(AuthError, match="malformed") as info:
        settings_from_env({"LEONARDO_API_KEY": secret})
    assert "4b1e" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/api/rest/v1",
        "http://127.9.9.9/api/rest/v1",
        "http://localhost:1/x",
        "http://[::1]:8765/api/rest/v1/",
        "https://cloud.leonardo.ai/api/rest/v1/",
    ],
)
def test_https_or_loopback_accepted(url: str) -> None:
    """https anywhere, plain http to 127.0.0.0/8, ::1 and localhost; trailing slash dropped."""
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://cloud.leonardo.ai/api/rest/v1", "http://10.0.0.1/x", "http://128.0.0.1/"]
)
def test_plain_http_elsewhere_refused(url: str) -> None:
    """The key must not travel unencrypted to a non-loopback host."""
    with pytest.raises(ApiError, match="refusing plain http"):
        check_base_url(url)


@pytest.mark.parametrize("url", ["ftp://x/y", "cloud.leonardo.ai", ""])
def test_non_http_urls_refused(url: str) -> None:
    """Only http(s) URLs are base URLs."""
    with pytest.raises(ApiError, match="must be an http"):
        check_base_url(url)


def test_from_env_reads_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env takes the key and base URL from the environment; repr shows no key."""
    monkeypatch.setenv("LEONARDO_API_KEY", KEY)
    monkeypatch.setenv("LEONARDO_API_BASE_URL", "http://127.0.0.1:9/api/rest/v1")
    client = LeonardoClient.from_env()
    assert client.base_url == "http://127.0.0.1:9/api/rest/v1"
    assert KEY not in repr(client)
    anyio.run(client.aclose)
