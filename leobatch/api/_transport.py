"""The HTTP edge: one ``httpx.AsyncClient``, errors translated, idempotent calls retried.

Retries follow a :class:`RetryPolicy` with :func:`delay_s` and ``anyio.sleep``. A call that is
not idempotent (a create, which may be charged) is tried exactly once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from leobatch.api._backoff import RetryPolicy, delay_s
from leobatch.api._translate import error_from_response, error_from_transport
from leobatch.errors import RateLimitedError, TransientError

__all__ = ["Transport"]

log = logging.getLogger("leobatch.api")
_URL_CACHE = 64


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
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Accept": "application/json"},
            transport=transport,
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
        policy = self.retry
        transient = limited = 0
        while True:
            try:
                return await self.send_once(method, url, what, **kw), 1 + transient + limited
            except (RateLimitedError, TransientError) as e:
                retry_after = None
                if isinstance(e, RateLimitedError):
                    limited += 1
                    retry_after = e.retry_after_s
                    attempt, spent = limited - 1, limited >= policy.rate_limited_attempts
                else:
                    transient += 1
                    attempt, spent = transient - 1, transient >= policy.attempts
                too_long = retry_after is not None and retry_after > policy.max_retry_after_s
                if not idempotent or spent or too_long:
                    raise
                wait = delay_s(
                    attempt, retry_after, self._rng, base_s=policy.base_s, cap_s=policy.cap_s
                )
                log.debug("%s: retry in %.3f s after: %s", what, wait, e)
                await anyio.sleep(wait)

    async def call(
        self, method: str, path: str, *, idempotent: bool, **kw: Any
    ) -> tuple[Mapping[str, Any], int]:
        """The JSON object at ``base_url + path``, and how many tries it took."""
        what = f"{method} {path}"
        tries = cut = 0
        while True:
            response, sent = await self.send(
                method, self.base_url + path, what, idempotent=idempotent, **kw
            )
            tries += sent
            try:
                data = response.json()
            except (ValueError, UnicodeDecodeError) as e:
                # a 2xx whose body does not parse was cut short: what happened is unknown
                error = TransientError(f"{what}: the response is not JSON", status=200)
                error.__cause__ = e
            else:
                if isinstance(data, Mapping):
                    return data, tries
                error = TransientError(f"{what}: the response is not a JSON object", status=200)
            # A body cut short with no Content-Length to tell (the connection closed early) is a
            # dropped connection by another name: an idempotent call is asked again, like one.
            cut += 1
            if not idempotent or cut >= self.retry.attempts:
                raise error
            policy = self.retry
            wait = delay_s(cut - 1, None, self._rng, base_s=policy.base_s, cap_s=policy.cap_s)
            log.debug("%s: retry in %.3f s after: %s", what, wait, error)
            await anyio.sleep(wait)
