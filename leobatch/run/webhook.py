"""Completion callbacks: a small HTTP receiver for Leonardo's ``image_generation.complete``.

``leobatch run --webhook-listen HOST:PORT`` serves it for the length of the run. Each POST must
carry ``Authorization: Bearer <LEOBATCH_WEBHOOK_KEY>`` (compared in constant time); its JSON body
is the documented envelope (api-facts §5: the raw generation row, camelCase ``images``). Anything
else is answered and ignored: the run's polling sweep still catches a callback that never came.

Built on anyio's TCP listener and h11 (httpx's own HTTP/1.1 parser), so it runs on asyncio and
trio alike.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import h11
from anyio.abc import ByteStream, TaskStatus

from leobatch.errors import LeobatchError

__all__ = ["Callback", "authorized", "parse_callback", "serve_webhooks"]

#: Larger bodies are refused: a generation row with its images is a few kilobytes.
MAX_BODY_BYTES = 1 << 20
#: A connection that sends nothing for this long is closed.
IDLE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class CallbackImage:
    """One output named by a callback."""

    id: str
    url: str | None
    motion_mp4_url: str | None
    nsfw: bool


@dataclass(frozen=True, slots=True)
class Callback:
    """A completed (or failed) generation, as a webhook told it."""

    generation_id: str
    status: str
    images: tuple[CallbackImage, ...]


def authorized(header: str | None, key: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``key`` (always true without a key)."""
    if not key:
        return True
    if header is None:
        return False
    expected = f"Bearer {key}".encode()
    return hmac.compare_digest(header.strip().encode(), expected)


def parse_callback(payload: Any) -> Callback | None:
    """The generation a webhook body reports, or None when the body is not one we know."""
    if not isinstance(payload, dict) or payload.get("type") != "image_generation.complete":
        return None
    data = payload.get("data")
    row = data.get("object") if isinstance(data, dict) else None
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        return None
    images = []
    for item in row.get("images") or ():
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            url = item.get("url")
            mp4 = item.get("motionMP4URL")
            images.append(
                CallbackImage(
                    item["id"],
                    url if isinstance(url, str) else None,
                    mp4 if isinstance(mp4, str) else None,
                    bool(item.get("nsfw")),
                )
            )
    status = row.get("status")
    return Callback(row["id"], status if isinstance(status, str) else "COMPLETE", tuple(images))


OnCallback = Callable[[Callback], Awaitable[None]]


async def serve_webhooks(
    host: str,
    port: int,
    key: str | None,
    on_callback: OnCallback,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve callbacks on ``host:port`` until cancelled; reports the bound port when started."""
    try:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    except OSError as e:
        raise LeobatchError(f"cannot receive webhooks on {host}:{port}: {e.strerror or e}") from e
    async with listener:
        bound = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started(bound)

        async def handle(stream: ByteStream) -> None:
            async with stream:
                await _serve_connection(stream, key, on_callback)

        await listener.serve(handle)


async def _serve_connection(stream: ByteStream, key: str | None, on_callback: OnCallback) -> None:
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            await _reply(stream, conn, 400, b"bad request")
            return
        if event is h11.NEED_DATA:
            try:
                with anyio.fail_after(IDLE_TIMEOUT_S):
                    data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, TimeoutError):
                return
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request, body = event, bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                await _reply(stream, conn, 413, b"too large")
                return
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            status = await _handle(request, bytes(body), key, on_callback)
            await _reply(stream, conn, status, b"")
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
            request = None
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return


async def _handle(
    request: h11.Request, body: bytes, key: str | None, on_callback: OnCallback
) -> int:
    if request.method != b"POST":
        return 405
    headers = {name.lower(): value.decode("latin-1") for name, value in request.headers}
    if not authorized(headers.get(b"authorization"), key):
        return 401
    try:
        callback = parse_callback(json.loads(body))
    except ValueError:
        return 400
    if callback is not None:
        await on_callback(callback)
    return 204


async def _reply(stream: ByteStream, conn: h11.Connection, status: int, text: bytes) -> None:
    headers = [(b"content-length", str(len(text)).encode())]
    try:
        await stream.send(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        if text:
            await stream.send(conn.send(h11.Data(data=text)) or b"")
        await stream.send(conn.send(h11.EndOfMessage()) or b"")
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, h11.LocalProtocolError):
        return
