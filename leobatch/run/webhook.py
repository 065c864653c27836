"""Completion callbacks: a small HTTP receiver for Leonardo's ``image_generation.complete``.

``leobatch run --webhook-listen HOST:PORT`` serves it for the length of the run. Each POST must
carry ``Authorization: Bearer <LEOBATCH_WEBHOOK_KEY>`` (compared in constant time); there is no
unauthenticated mode. Its JSON body is the documented envelope (api-facts §5), of which only the
generation id is read: a callback is a hint to look at that generation now, and the engine takes
status and URLs from a GET of it, never from the body (a lying sender changes nothing).

The receiver faces the network, so nothing a peer sends can raise out of it: a malformed body is
a 400, a handler failure a 500, and a connection that misbehaves is closed. Headers, bodies,
requests per connection, open connections and the time a request may take are all bounded.
The run's polling sweep still catches a callback that never came or was refused.

Built on anyio's TCP listener and h11 (httpx's own HTTP/1.1 parser), so it runs on asyncio and
trio alike.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import anyio
import h11
from anyio.abc import ByteStream, SocketListener, TaskStatus

from leobatch.errors import LeobatchError

__all__ = ["Callback", "MalformedCallback", "authorized", "parse_callback", "serve_webhooks"]

log = logging.getLogger("leobatch.webhook")

#: Larger bodies are refused: a generation row with its images is a few kilobytes.
MAX_BODY_BYTES = 1 << 20
#: The request line and headers together; Leonardo's sender uses well under 1 KB.
MAX_HEAD_BYTES = 16 * 1024
#: Leonardo closes after each callback; a peer that keeps one connection busy is cut off here.
MAX_REQUESTS_PER_CONNECTION = 100
#: Connections served at once; more are closed on arrival (the polling sweep covers for them).
MAX_CONNECTIONS = 64
#: Each request must arrive whole within this long (of the connection opening or the previous
#: reply), so a peer trickling bytes cannot hold a connection open.
REQUEST_TIMEOUT_S = 10.0
#: The longest generation id believed (the API's are 36-character UUIDs).
MAX_ID_CHARS = 128


class MalformedCallback(ValueError):
    """A webhook body that is not the documented envelope (answered 400)."""


@dataclass(frozen=True, slots=True)
class Callback:
    """A webhook's hint that a generation finished: only its id, nothing else is believed."""

    generation_id: str


def authorized(header: str | None, key: str | None) -> bool:
    """Whether an ``Authorization`` header is exactly ``Bearer <key>``; never true without a key."""
    if not key or header is None:
        return False
    expected = f"Bearer {key}".encode()
    return hmac.compare_digest(header.strip().encode(), expected)


def parse_callback(payload: Any) -> Callback | None:
    """The generation a webhook body names; None for a well-formed event of another type.

    :class:`MalformedCallback` when ``payload`` (parsed JSON) is not a webhook envelope, or is an
    ``image_generation.complete`` without a generation id.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedCallback("not a webhook envelope: an object with a string type")
    if payload["type"] != "image_generation.complete":
        return None  # an event we do not act on (none other is documented)
    data = payload.get("data")
    row = data.get("object") if isinstance(data, dict) else None
    if not isinstance(row, dict):
        raise MalformedCallback("image_generation.complete without data.object")
    generation_id = row.get("id")
    if not isinstance(generation_id, str) or not 0 < len(generation_id) <= MAX_ID_CHARS:
        raise MalformedCallback("image_generation.complete without a generation id")
    return Callback(generation_id)


OnCallback = Callable[[Callback], Awaitable[None]]


async def serve_webhooks(
    host: str,
    port: int,
    key: str | None,
    on_callback: OnCallback,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve callbacks on ``host:port`` until cancelled; reports the bound port when started.

    ``key`` is required: without one, anyone who can reach the port could post callbacks.
    """
    if not key or not key.strip():
        raise LeobatchError(
            "webhooks need a bearer key (LEOBATCH_WEBHOOK_KEY): "
            "unauthenticated callbacks are never accepted"
        )
    try:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    except OSError as e:
        raise LeobatchError(f"cannot receive webhooks on {host}:{port}: {e.strerror or e}") from e
    async with listener, anyio.create_task_group() as tg:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        slots = anyio.CapacityLimiter(MAX_CONNECTIONS)
        for each in listener.listeners:  # one per address family ("localhost": v4 and v6)
            tg.start_soon(_accept_loop, cast(SocketListener, each), slots, key.strip(), on_callback)


async def _accept_loop(
    listener: SocketListener, slots: anyio.CapacityLimiter, key: str, on_callback: OnCallback
) -> None:
    """Accept forever; an accept failure (out of file descriptors) is waited out, not raised."""
    async with anyio.create_task_group() as tg:
        while True:
            try:
                stream = await listener.accept()
            except (OSError, anyio.BrokenResourceError) as e:
                log.warning("webhook receiver: accept failed: %s", e)
                await anyio.sleep(0.1)
                continue
            try:
                slots.acquire_on_behalf_of_nowait(stream)
            except anyio.WouldBlock:
                await anyio.aclose_forcefully(stream)
                continue
            tg.start_soon(_connection, stream, slots, key, on_callback)


async def _connection(
    stream: ByteStream, slots: anyio.CapacityLimiter, key: str, on_callback: OnCallback
) -> None:
    """One connection, whatever happens on it: nothing a peer does may end the run."""
    try:
        async with stream:
            await _serve_connection(stream, key, on_callback)
    except Exception as e:  # a receiver bug must cost one connection, never the run
        log.warning("webhook receiver: connection failed: %s: %s", type(e).__name__, e)
        log.debug("webhook receiver: connection failed", exc_info=True)
    finally:
        slots.release_on_behalf_of(stream)


class _Closed(Exception):
    """The peer went away (or stalled) before a whole request arrived."""


async def _serve_connection(stream: ByteStream, key: str, on_callback: OnCallback) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    for served in range(1, MAX_REQUESTS_PER_CONNECTION + 1):
        try:
            with anyio.fail_after(REQUEST_TIMEOUT_S):
                status, body = await _read_request(stream, conn, key)
        except (_Closed, TimeoutError):
            return
        if status == 0:
            status = await _handle(body, on_callback)
        # The peer's body is unread after an early refusal: close rather than parse past it.
        close = conn.their_state is not h11.DONE or served == MAX_REQUESTS_PER_CONNECTION
        await _reply(stream, conn, status, close=close)
        if close or conn.our_state is not h11.DONE:
            return
        conn.start_next_cycle()


async def _read_request(stream: ByteStream, conn: h11.Connection, key: str) -> tuple[int, bytes]:
    """Read one request: ``(0, body)`` when it is to be handled, else ``(status, b"")``.

    The head is checked before any of the body is read, so a sender without the key cannot
    make the receiver buffer a megabyte.
    """
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as e:
            # 400, or 431 for an oversized head (h11's hint); the connection cannot be reused
            return (e.error_status_hint if 400 <= e.error_status_hint < 500 else 400), b""
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise _Closed from None
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            status = _check_head(event, key)
            if status:
                return status, b""
            if conn.they_are_waiting_for_100_continue:  # curl does this for larger bodies
                go_on = h11.InformationalResponse(status_code=100, headers=[])
                try:
                    await _send(stream, conn, go_on)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    raise _Closed from None
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                return 413, b""
        elif isinstance(event, h11.EndOfMessage):
            return 0, bytes(body)
        else:  # ConnectionClosed (PAUSED cannot happen: each cycle ends with our reply)
            raise _Closed


def _check_head(request: h11.Request, key: str) -> int:
    """The status that refuses ``request`` on its head alone, or 0 to read its body."""
    # (h11 bounds only a head still arriving; one that came whole in one read is measured here)
    size = (
        len(request.method) + len(request.target) + sum(len(n) + len(v) for n, v in request.headers)
    )
    if size > MAX_HEAD_BYTES:
        return 431
    if request.method != b"POST":
        return 405
    auth = [value for name, value in request.headers if name == b"authorization"]
    if len(auth) != 1 or not authorized(auth[0].decode("utf-8", "replace"), key):
        return 401
    lengths = [value for name, value in request.headers if name == b"content-length"]
    if lengths and int(lengths[0]) > MAX_BODY_BYTES:  # (h11 has checked it is digits)
        return 413
    return 0


async def _handle(body: bytes, on_callback: OnCallback) -> int:
    """The status for an authenticated body: 204 handled or ignored, 400 malformed, 500 failed."""
    try:
        # bytes in: invalid UTF-8 is a UnicodeDecodeError (a ValueError); deep nesting, a
        # RecursionError
        callback = parse_callback(json.loads(body))
    except (ValueError, RecursionError):
        return 400
    if callback is None:
        return 204
    try:
        await on_callback(callback)
    except Exception as e:  # the engine's trouble is answered, never raised into the receiver
        log.warning("webhook receiver: callback for %s failed: %s", callback.generation_id, e)
        log.debug("webhook receiver: callback failed", exc_info=True)
        return 500
    return 204


async def _reply(stream: ByteStream, conn: h11.Connection, status: int, *, close: bool) -> None:
    headers = [(b"content-length", b"0")]
    if close:
        headers.append((b"connection", b"close"))
    try:
        await _send(stream, conn, h11.Response(status_code=status, headers=headers))
        await _send(stream, conn, h11.EndOfMessage())
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, h11.LocalProtocolError):
        return


async def _send(stream: ByteStream, conn: h11.Connection, event: Any) -> None:
    data = conn.send(event)
    if data:
        await stream.send(data)
