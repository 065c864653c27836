"""The lean HTTP/1.1 transport against a scripted loopback server: reuse, faults, TLS, limits."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h11
import httpx
import pytest
import trustme
from anyio.streams.tls import TLSListener

from leobatch.api.http11 import Http11Transport, _proxy_configured, async_client

pytestmark = pytest.mark.anyio

Reply = Callable[["Conn", h11.Request, bytes], Awaitable[bool]]


@dataclass
class Conn:
    """One accepted connection: its number and the raw stream to answer on."""

    number: int
    stream: anyio.abc.ByteStream
    served: int = 0  # requests answered on it before this one


@dataclass
class Server:
    port: int
    scheme: str = "http"
    accepted: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[tuple[int, str, bytes]] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def serve(reply: Reply, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A loopback server: reads each request with h11, lets ``reply`` answer with raw bytes.

    ``reply`` returns whether to keep reading requests on that connection.
    """
    listener: anyio.abc.Listener[anyio.abc.ByteStream]
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, tls, standard_compatible=False) if tls else tcp
    server = Server(port, "https" if tls else "http")

    async def handle(stream: anyio.abc.ByteStream) -> None:
        server.accepted += 1
        server.open_now += 1
        server.most_open = max(server.most_open, server.open_now)
        conn = Conn(server.accepted, stream)
        parser = h11.Connection(h11.SERVER)
        try:
            async with stream:
                while True:
                    request, body = await _read_request(stream, parser)
                    if request is None:
                        return
                    server.requests.append((conn.number, request.method.decode(), body))
                    if not await reply(conn, request, body):
                        return
                    conn.served += 1
                    parser = h11.Connection(h11.SERVER)  # answers are raw: start afresh
        except (anyio.BrokenResourceError, anyio.EndOfStream, h11.RemoteProtocolError):
            return
        finally:
            server.open_now -= 1

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield server
        tg.cancel_scope.cancel()


async def _read_request(
    stream: anyio.abc.ByteStream, parser: h11.Connection
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = b""
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            try:
                parser.receive_data(await stream.receive())
            except anyio.EndOfStream:
                return None, b""
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, body
        elif isinstance(event, h11.ConnectionClosed):
            return None, b""


def ok(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def echo(conn: Conn, request: h11.Request, body: bytes) -> bool:
    await conn.stream.send(ok(request.target + b" " + body))
    return True


def client(**kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=Http11Transport(**kw), timeout=5)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection() -> None:
    """Sequential requests to one origin share a connection; bodies and targets arrive intact."""
    async with serve(echo) as server, client() as http:
        first = await http.get(server.url("/a?x=1"))
        second = await http.post(server.url("/b"), json={"k": "v"})
    assert first.text == "/a?x=1 "
    assert second.text == '/b {"k":"v"}'
    assert server.accepted == 1


async def test_connection_close_is_not_reused() -> None:
    """A response saying ``Connection: close`` retires its connection."""

    async def closing(conn: Conn, request: h11.Request, body: bytes) -> bool:
        await conn.stream.send(ok(b"bye", "Connection: close"))
        return False

    async with serve(closing) as server, client() as http:
        texts = [(await http.get(server.url())).text for _ in range(2)]
    assert texts == ["bye", "bye"]
    assert server.accepted == 2


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    """The server closing an idle keep-alive connection costs nothing: a new one is opened."""

    async def once(conn: Conn, request: h11.Request, body: bytes) -> bool:
        await conn.stream.send(ok(b"one"))
        return False  # closes silently, without Connection: close

    async with serve(once) as server, client() as http:
        first = await http.get(server.url())
        await anyio.sleep(0.05)  # the close reaches the client's idle socket
        second = await http.get(server.url())
    assert (first.text, second.text) == ("one", "one")
    assert server.accepted == 2


async def _answer_once_then_hang_up(conn: Conn, request: h11.Request, body: bytes) -> bool:
    """Connection 1 answers its first request and hangs up on its second; others answer."""
    if conn.number == 1 and conn.served >= 1:
        return False
    await conn.stream.send(ok(b"fine"))
    return True


async def test_reused_connection_dropped_before_answer_retries_a_get() -> None:
    """A GET whose reused connection is dropped before any answer is sent again, once."""
    async with serve(_answer_once_then_hang_up) as server, client() as http:
        await http.get(server.url())
        again = await http.get(server.url())
    assert again.text == "fine"
    assert [(n, m) for n, m, _ in server.requests] == [(1, "GET"), (1, "GET"), (2, "GET")]


async def test_reused_connection_dropped_before_answer_does_not_resend_a_post() -> None:
    """A POST may have been acted on: it is never resent; the caller sees a protocol error."""
    async with serve(_answer_once_then_hang_up) as server, client() as http:
        await http.get(server.url())
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.post(server.url(), content=b"create")
    assert [(n, m) for n, m, _ in server.requests] == [(1, "GET"), (1, "POST")]


async def test_truncated_body_is_a_transport_error() -> None:
    """A body shorter than its Content-Length fails the read instead of passing as complete."""

    async def short(conn: Conn, request: h11.Request, body: bytes) -> bool:
        await conn.stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
        return False

    async with serve(short) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url())


async def test_silent_server_is_a_read_timeout() -> None:
    """No answer within the read timeout raises httpx.ReadTimeout."""

    async def silent(conn: Conn, request: h11.Request, body: bytes) -> bool:
        await anyio.sleep(5)
        return False

    quick = httpx.AsyncClient(transport=Http11Transport(), timeout=0.2)
    async with serve(silent) as server, quick as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url())


async def test_refused_connection_is_a_connect_error() -> None:
    """Nothing listening: httpx.ConnectError, as with httpx's own transport."""
    async with serve(echo) as server:
        port = server.port
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_informational_chunked_and_gzip_responses() -> None:
    """A 100 Continue is skipped; a chunked, gzipped body is reassembled and decoded by httpx."""
    payload = gzip.compress(b"hello " * 100)

    async def fancy(conn: Conn, request: h11.Request, body: bytes) -> bool:
        half = len(payload) // 2
        chunks = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n"
            for part in (payload[:half], payload[half:])
        )
        await conn.stream.send(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
            + chunks
            + b"0\r\n\r\n"
        )
        return True

    async with serve(fancy) as server, client() as http:
        response = await http.get(server.url())
        again = await http.get(server.url())
    assert response.text == "hello " * 100
    assert again.text == response.text
    assert server.accepted == 1


async def test_streamed_request_body_arrives_whole() -> None:
    """A request body from an async iterator is sent chunked and arrives complete."""

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"abc", b"def", b"ghi"):
            yield part

    async with serve(echo) as server, client() as http:
        response = await http.post(server.url("/up"), content=parts())
    assert response.text == "/up abcdefghi"


async def test_connection_limit_is_kept() -> None:
    """No more than ``max_connections`` are open at once; the others wait their turn."""

    async def slow(conn: Conn, request: h11.Request, body: bytes) -> bool:
        await anyio.sleep(0.05)
        await conn.stream.send(ok(b"done"))
        return True

    results: list[str] = []
    async with serve(slow) as server, client(max_connections=2) as http:

        async def one() -> None:
            results.append((await http.get(server.url())).text)

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
    assert results == ["done"] * 6
    assert server.most_open == 2


async def test_https_verifies_the_server_certificate() -> None:
    """TLS works with a trusted CA; an untrusted certificate is refused with ConnectError."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with serve(echo, tls=server_context) as server:
        async with client(ssl_context=trusting) as http:
            first = await http.get(server.url("/secure"))
            second = await http.get(server.url("/again"))
        async with client() as http:  # certifi's CAs do not include the test CA
            with pytest.raises(httpx.ConnectError):
                await http.get(server.url("/secure"))
    assert (first.text, second.text) == ("/secure ", "/again ")
    assert server.accepted == 1  # the trusted pair shared one; the refused handshake never served


async def test_proxy_in_the_environment_keeps_httpx_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a proxy configured, the client is left to httpx's own (proxy-aware) transport."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    assert not _proxy_configured()
    async with async_client(timeout=1, max_connections=1) as http:
        assert isinstance(http._transport, Http11Transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert _proxy_configured()
    async with async_client(timeout=1, max_connections=1) as http:
        assert not isinstance(http._transport, Http11Transport)


async def test_dispatch_follows_a_get_redirect_but_not_a_post_one() -> None:
    """The lean client's fast path hands a GET redirect to httpx; a POST's comes back as is."""

    async def moved(conn: Conn, request: h11.Request, body: bytes) -> bool:
        if request.target == b"/old":
            await conn.stream.send(
                b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"
            )
        else:
            await conn.stream.send(ok(b"new " + request.method))
        return True

    http = async_client(timeout=5, max_connections=2, follow_redirects=True)
    async with serve(moved) as server, http:
        got = await http.dispatch(http.build_request("GET", server.url("/old")))
        posted = await http.dispatch(http.build_request("POST", server.url("/old")))
    assert (got.status_code, got.text) == (200, "new GET")
    assert posted.status_code == 302
    # the fast path's GET, then send()'s GET and its redirect; the POST once
    assert [m for _, m, _ in server.requests] == ["GET", "GET", "GET", "POST"]
