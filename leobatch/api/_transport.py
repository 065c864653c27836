"""The HTTP edge: one ``httpx.AsyncClient``, errors translated, idempotent calls retried.

Retries go through :class:`~leobatch.api._backoff.Retries` (the one retry loop, shared with the
downloader) under a :class:`RetryPolicy`. A call that is not idempotent (a create, which may be
charged) is tried exactly once.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from leobatch.api._backoff import Retries, RetryPolicy
from leobatch.api._translate import error_from_response, error_from_transport
from leobatch.errors import TransientError

__all__ = ["Transport", "tls_context"]

log = logging.getLogger("leobatch.api")
_URL_CACHE = 64
# Idle connections kept for reuse. A run's steady state needs few (a create as a slot frees,
# a listing per poll); its bursts (the first fill: twice the slots) open more, and those are
# closed as they go idle instead of lingering for the keep-alive expiry. Each idle connection
# costs every request and every response a check in httpcore's pool (about 15 us through
# anyio): with httpx's default of 20, a 10-slot run kept about 12 idle (14,600 checks per 240
# jobs); with 8, 8,600 checks, and the benchmark's CPU per job fell from a median of 10.56 to
# 9.54 ms (alternated runs; benchmarks/README, 2026-12-01 evening).
_KEEPALIVE = 8
T = TypeVar("T")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every HTTP client leobatch opens, built once per process.

    httpx's own defaults (certifi's roots, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), but httpx
    builds them anew for each client, and loading the roots costs about 40 ms of CPU: a run
    opens two clients per account (API and downloads).
    """
    return httpx.create_ssl_context()


class Transport:
    """Requests to ``base_url`` with the key as a bearer token (never in a message or repr)."""

    def __init__(
        self,
        key: str,
        base_url: str,
        *,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None,
        max_connections: int,
        retry: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self._key = key
        self._auth = {"Authorization": f"Bearer {key}"}
        self.base_url = base_url
        self.retry = retry
        self._rng = rng
        self._urls: dict[str, httpx.URL] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(_KEEPALIVE, max_connections),
            ),
            headers={"Accept": "application/json"},
            transport=transport,
            verify=tls_context(),
        )

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def send_once(
        self, method: str, url: str, what: str, *, auth: bool = True, **kw: Any
    ) -> httpx.Response:
        """One request; a non-2xx answer or a transport failure raised as an ApiError."""
        headers = self._auth if auth else None
        try:
            request = self._http.build_request(method, self._url(url), headers=headers, **kw)
            response = await self._http.send(request)
        except httpx.HTTPError as e:
            where = httpx.URL(url).netloc.decode("ascii", "replace")
            error = error_from_transport(f"{what} ({where})", e, self._key)
            log.debug("%s: %s", what, error)
            # the cause's text could quote the key (a header httpx refused): drop it if so
            raise error from (None if self._key in str(e) else e)
        log.debug("%s -> %d", what, response.status_code)
        if response.is_success:
            return response
        raise error_from_response(
            what, response.status_code, response.content, response.headers, self._key
        )

    def _url(self, url: str) -> httpx.URL:
        """``url`` parsed, from a small cache: parsing costs ~30 µs, and a run sends the same
        create URL for every job of an endpoint."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    async def send(
        self, method: str, url: str, what: str, *, idempotent: bool, **kw: Any
    ) -> tuple[httpx.Response, int]:
        """The response and how many tries it took, retrying idempotent calls per ``retry``."""

        async def once() -> httpx.Response:
            return await self.send_once(method, url, what, **kw)

        return await self._retried(once, what, idempotent)

    async def call(
        self, method: str, path: str, *, idempotent: bool, **kw: Any
    ) -> tuple[Mapping[str, Any], int]:
        """The JSON object at ``base_url + path``, and how many tries it took."""
        what = f"{method} {path}"
        url = self.base_url + path

        async def once() -> Mapping[str, Any]:
            return _json_object(await self.send_once(method, url, what, **kw), what)

        return await self._retried(once, what, idempotent)

    async def _retried(
        self, once: Callable[[], Awaitable[T]], what: str, idempotent: bool
    ) -> tuple[T, int]:
        """``once()`` tried exactly once when not ``idempotent``, else through :class:`Retries`."""
        if not idempotent:
            return await once(), 1
        retries = Retries(self.retry, self._rng)
        return await retries.run(once, what), retries.tries


def _json_object(response: httpx.Response, what: str) -> Mapping[str, Any]:
    """The 2xx body as a JSON object; a body that does not parse was cut short (a dropped
    connection by another name, with no Content-Length to tell): TransientError, so an
    idempotent call is asked again like after a reset."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError) as e:
        raise TransientError(f"{what}: the response is not JSON", status=200) from e
    if not isinstance(data, Mapping):
        raise TransientError(f"{what}: the response is not a JSON object", status=200)
    return data
