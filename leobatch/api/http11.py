"""A lean HTTP/1.1 transport for httpx: h11 over anyio streams, a keep-alive pool per origin.

Why not httpx's default transport: under concurrency a request through httpcore's pool costs
1.3-2 ms of CPU on loopback (it re-examines every pooled connection and takes several locks per
request), and a run makes two or three requests per job. Through this transport, which does
the same protocol work with h11 (the HTTP/1.1 parser httpcore itself uses), the same request
costs 0.6-0.8 ms. httpx stays the API: requests, responses, content decoding, redirects and the
exception types are all httpx's.

Scope: HTTP/1.1 over http and https (verified against certifi's CAs, or ``SSL_CERT_FILE`` /
``SSL_CERT_DIR``, as httpx does). Proxies are not spoken here: :func:`async_client` uses httpx's
own transport when the environment configures one.
"""

from __future__ import annotations

import os
import select
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import anyio
import anyio.abc
import h11
import httpx

__all__ = ["Http11Transport", "LeanClient", "async_client", "send"]

_RECEIVE = 65536
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
Origin = tuple[bytes, str, int]


def async_client(
    *,
    timeout: float,
    max_connections: int,
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LeanClient:
    """A :class:`LeanClient` on :class:`Http11Transport` (or on ``transport`` if given).

    With a proxy configured in the environment the client keeps httpx's own transport, which
    speaks to proxies.
    """
    lean = None
    if transport is None and not _proxy_configured():
        lean = transport = Http11Transport(max_connections=max_connections)
    return LeanClient(
        lean,
        timeout=httpx.Timeout(timeout),
        transport=transport,
        # (for httpx's own transport, when proxied: few idle connections, each costs per request)
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=min(4, max_connections),
        ),
        headers=headers,
        follow_redirects=follow_redirects,
    )


class LeanClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` with :meth:`dispatch`: ``send`` without the per-request work a
    run does not use (auth flows, the cookie jar, event hooks, redirect bookkeeping), which
    costs about 0.1 ms of CPU per request. Everything else is plain httpx."""

    def __init__(self, lean: Http11Transport | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lean = lean

    async def dispatch(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """The response to ``request`` (built with :meth:`build_request`), read unless
        ``stream``. A redirect answering a GET is asked again through :meth:`send`, which
        follows it (one extra request, for what the API's CDN never does)."""
        lean = self._lean
        if lean is None or self.is_closed:
            return await self.send(request, stream=stream)
        response = await lean.handle_async_request(request)
        response.request = request
        if response.is_redirect and self.follow_redirects and request.method in ("GET", "HEAD"):
            await response.aclose()
            return await self.send(request, stream=stream)
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool = False
) -> httpx.Response:
    """``client.dispatch`` for a :class:`LeanClient`, ``client.send`` for any other client."""
    if isinstance(client, LeanClient):
        return await client.dispatch(request, stream=stream)
    return await client.send(request, stream=stream)


def _proxy_configured() -> bool:
    names = {name.lower() for name, value in os.environ.items() if value}
    return any(variable in names for variable in _PROXY_VARIABLES)


@cache
def _default_ssl_context() -> ssl.SSLContext:
    # Built once per process (loading the CA bundle costs about 50 ms), only when https is used.
    return httpx.create_ssl_context()


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive: at most ``max_connections`` requests at once, each on its own
    connection; idle connections are kept per origin and reused newest first.

    An idle connection is dropped when it has been idle ``keepalive_expiry_s`` or when the server
    has closed it (its socket turned readable). A reused connection that the server closed before
    answering is retried once on a new connection, for idempotent methods only: a create may have
    been received, and the caller decides what an ambiguous create means.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry_s: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._expiry_s = keepalive_expiry_s
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: anyio.Semaphore | None = None  # made on first use: it needs an event loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        if self._open is None:
            self._open = anyio.Semaphore(self._max_connections)
        try:
            self._open.acquire_nowait()
        except anyio.WouldBlock:
            with _mapped(request, "pool"), anyio.fail_after(timeouts.get("pool")):
                await self._open.acquire()
        try:
            while True:
                conn = await self._checkout(origin)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(request, origin, timeouts.get("connect"))
                try:
                    head = await conn.exchange(request, timeouts)
                except _Stale as e:
                    await conn.close()
                    if reused and request.method in _IDEMPOTENT:
                        continue
                    raise e.error from e.error.__cause__
                except BaseException:
                    await conn.close()
                    raise
                break
        except BaseException:
            self._open.release()
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers,
            stream=_Body(self, conn, request, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await conn.close()

    async def _checkout(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self._expiry_s and not conn.closed_by_peer():
                return conn
            await conn.close()
        return None

    async def _connect(
        self, request: httpx.Request, origin: Origin, timeout: float | None
    ) -> _Connection:
        scheme, host, port = origin
        stream: anyio.abc.ByteStream
        with _mapped(request, "connect"):
            with anyio.fail_after(timeout):
                if scheme == b"https":
                    context = self._ssl_context or _default_ssl_context()
                    stream = await anyio.connect_tcp(
                        host, port, tls=True, ssl_context=context, tls_hostname=host
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
        return _Connection(stream)

    async def _release(self, conn: _Connection, origin: Origin, reusable: bool) -> None:
        assert self._open is not None
        self._open.release()
        if reusable:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(conn)
        else:
            await conn.close()


class _Stale(Exception):
    """The connection failed before the server answered: on a reused one, try a new one."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _ClosedBeforeAnswer(Exception):
    """The server closed the connection before any byte of a response."""


class _Head:
    __slots__ = ("headers", "reason", "status_code")

    def __init__(self, response: h11.Response) -> None:
        self.status_code = response.status_code
        self.headers = response.headers.raw_items()
        self.reason = bytes(response.reason)


class _Connection:
    """One socket and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "sock", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    async def exchange(self, request: httpx.Request, timeouts: Mapping[str, float | None]) -> _Head:
        """Send ``request`` and read the response's head (the body is read by :class:`_Body`)."""
        target = request.url.raw_path
        try:
            await self._send(request, target, timeouts.get("write"))
        except httpx.WriteError as e:
            raise _Stale(e) from None
        with _mapped(request, "read"):
            while True:
                try:
                    event = await self.next_event(timeouts.get("read"), before_answer=True)
                except _ClosedBeforeAnswer:
                    error = httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request
                    )
                    raise _Stale(error) from None
                if isinstance(event, h11.Response):
                    return _Head(event)
                # an informational (1xx) response: the real one follows

    async def _send(self, request: httpx.Request, target: bytes, timeout: float | None) -> None:
        with _mapped(request, "write"):
            out = self.h11.send(
                h11.Request(method=request.method, target=target, headers=request.headers.raw)
            )
            assert out is not None
            with anyio.fail_after(timeout):
                if isinstance(request.stream, httpx.ByteStream):
                    # the whole request in one write: one syscall, one segment
                    body = b"".join([chunk async for chunk in request.stream])
                    if body:
                        out += self.h11.send(h11.Data(data=body)) or b""
                    out += self.h11.send(h11.EndOfMessage()) or b""
                    await self.stream.send(out)
                else:
                    await self.stream.send(out)
                    async for chunk in request.stream:  # type: ignore[union-attr]
                        await self.stream.send(self.h11.send(h11.Data(data=chunk)) or b"")
                    await self.stream.send(self.h11.send(h11.EndOfMessage()) or b"")

    async def next_event(self, timeout: float | None, *, before_answer: bool = False) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                with anyio.fail_after(timeout):
                    data = await self.stream.receive(_RECEIVE)
            except anyio.EndOfStream:
                data = b""
            except TimeoutError:
                raise  # (an OSError too, but not a dropped connection)
            except (anyio.BrokenResourceError, OSError):
                if before_answer and self.h11.their_state is h11.SEND_RESPONSE:
                    raise _ClosedBeforeAnswer from None
                raise
            if not data and before_answer and self.h11.their_state is h11.SEND_RESPONSE:
                raise _ClosedBeforeAnswer
            self.h11.receive_data(data)

    def closed_by_peer(self) -> bool:
        """Whether an idle connection became readable: the server closed it (or misbehaves)."""
        sock = self.sock
        if sock is None:
            return False
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(self.stream)


class _Body(httpx.AsyncByteStream):
    """A response body read event by event; the connection goes back to the pool at the end."""

    def __init__(
        self,
        transport: Http11Transport,
        conn: _Connection,
        request: httpx.Request,
        timeout: float | None,
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._request = request
        self._timeout = timeout
        self._complete = False
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        with _mapped(self._request, "read"):
            while not self._complete:
                event = await conn.next_event(self._timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._complete = True
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection mid-response", request=self._request
                    )

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        reusable = False
        if self._complete:
            state = conn.h11
            if state.our_state is h11.DONE and state.their_state is h11.DONE:
                state.start_next_cycle()
                reusable = True
        await self._transport._release(conn, _origin(self._request.url), reusable)


def _origin(url: httpx.URL) -> Origin:
    scheme = url.raw_scheme
    if scheme not in (b"http", b"https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
    port = url.port or (443 if scheme == b"https" else 80)
    return scheme, url.host, port


_TIMEOUTS: dict[str, type[httpx.TimeoutException]] = {
    "pool": httpx.PoolTimeout,
    "connect": httpx.ConnectTimeout,
    "write": httpx.WriteTimeout,
    "read": httpx.ReadTimeout,
}
_FAILURES: dict[str, type[httpx.TransportError]] = {
    "pool": httpx.PoolTimeout,
    "connect": httpx.ConnectError,
    "write": httpx.WriteError,
    "read": httpx.ReadError,
}


@contextmanager
def _mapped(request: httpx.Request, phase: str) -> Iterator[None]:
    """Socket, TLS and protocol failures of one phase raised as httpx's exceptions."""
    try:
        yield
    except TimeoutError as e:
        raise _TIMEOUTS[phase](f"{phase} timed out", request=request) from e
    except h11.RemoteProtocolError as e:
        raise httpx.RemoteProtocolError(str(e), request=request) from e
    except h11.LocalProtocolError as e:
        raise httpx.LocalProtocolError(str(e), request=request) from e
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as e:
        text = str(e) or type(e).__name__
        raise _FAILURES[phase](text, request=request) from e
