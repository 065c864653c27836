"""A read whose answer is lost on the way is asked again; a create never is.

Over a real loopback socket, a one-shot server breaks its first answer in each of the ways a
connection can die (reset, closed before answering, a 5xx from a gateway, a 2xx body cut short
with or without a Content-Length) and answers properly afterwards.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from api_support import FAST_RETRY, KEY

from leobatch.api.client import LeonardoClient
from leobatch.errors import TransientError

pytestmark = pytest.mark.anyio

ACCOUNT = {"user": {"id": "u-1", "username": "me"}, "apiConcurrencySlots": 3, "apiPaidTokens": 5}
ME = json.dumps({"user_details": [ACCOUNT]}).encode()
JOB = {"generationId": "g-1", "apiCreditCost": 9, "cost": {"amount": "9", "unit": "CREDITS"}}
CREATED = json.dumps({"sdGenerationJob": JOB}).encode()
LISTING = json.dumps({"generations": []}).encode()

#: No Content-Length: the close ends the body, so only the JSON shows that it was cut short.
CUT_SHORT = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
#: How the first answer breaks: bytes to send before closing, or "reset" for a TCP RST.
BREAKS: dict[str, bytes | str] = {
    "reset": "reset",
    "closed before answering": b"",
    "503": b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
    "502 from a gateway": b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\n"
    b"content-length: 6\r\n\r\n<html>",
    "body cut short": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: 300\r\n\r\n" + ME[:30],
    "close-delimited body cut short": CUT_SHORT + ME[:30],
}


def _ok(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


@asynccontextmanager
async def once_broken(broken: bytes | str, good: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server whose first answer is ``broken`` and every later one ``good``: its base URL and
    the request lines it received."""
    seen: list[bytes] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                try:
                    data += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
            head, _, body = data.partition(b"\r\n\r\n")
            seen.append(head.split(b"\r\n", 1)[0])
            # read the whole body: closing on unread bytes would send a RST, not the break asked
            lines = head.lower().split(b"\r\n")
            sizes = [int(line[15:]) for line in lines if line.startswith(b"content-length:")]
            length = sizes[0] if sizes else 0
            while len(body) < length:
                body += await stream.receive()
            if len(seen) > 1:
                await stream.send(good)
            elif broken == "reset":
                sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif isinstance(broken, bytes) and broken:
                await stream.send(broken)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/api/rest/v1", seen
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("broken", list(BREAKS.values()), ids=list(BREAKS))
async def test_a_dropped_get_me_is_retried(broken: bytes | str) -> None:
    """Whichever way the first answer to GET /me dies, the second try gives the account."""
    async with (
        once_broken(broken, _ok(ME)) as (base_url, seen),
        LeonardoClient(KEY, base_url, retry=FAST_RETRY) as client,
    ):
        account = await client.me()
    assert (account.user_id, account.slots) == ("u-1", 3)
    assert seen == [b"GET /api/rest/v1/me HTTP/1.1"] * 2


async def test_a_listing_cut_short_is_retried() -> None:
    """The same for the status listing: any idempotent GET."""
    async with (
        once_broken(CUT_SHORT + LISTING[:10], _ok(LISTING)) as (base_url, seen),
        LeonardoClient(KEY, base_url, retry=FAST_RETRY) as client,
    ):
        assert await client.list_generations("u-1") == ()
    assert len(seen) == 2


async def test_a_create_cut_short_is_not_retried() -> None:
    """A create whose answer was cut short may have been charged: one try, then TransientError
    (the scheduler reconciles it before any resubmission)."""
    async with (
        once_broken(CUT_SHORT + CREATED[:20], _ok(CREATED)) as (base_url, seen),
        LeonardoClient(KEY, base_url, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(TransientError, match="POST /generations: the response is not JSON"):
            await client.create("/generations", {"prompt": "a mug"})
    assert seen == [b"POST /api/rest/v1/generations HTTP/1.1"]


async def test_reads_cut_short_every_time_give_up_after_the_attempts() -> None:
    """Retries are bounded: a server that always cuts the body short gets FAST_RETRY.attempts
    requests, then the TransientError."""
    async with (
        once_broken(CUT_SHORT + ME[:30], CUT_SHORT + ME[:30]) as (base_url, seen),
        LeonardoClient(KEY, base_url, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(TransientError, match="GET /me: the response is not JSON"):
            await client.me()
    assert len(seen) == FAST_RETRY.attempts
