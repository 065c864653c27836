"""The webhook receiver: authentication, parsing, and what it refuses without ever raising."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

from leobatch.errors import LeobatchError
from leobatch.run.webhook import (
    MAX_CONNECTIONS,
    MAX_REQUESTS_PER_CONNECTION,
    Callback,
    MalformedCallback,
    authorized,
    parse_callback,
    serve_webhooks,
)

pytestmark = pytest.mark.anyio

KEY = "k1"
AUTH = {"authorization": f"Bearer {KEY}"}
ENVELOPE = {
    "type": "image_generation.complete",
    "object": "generation",
    "timestamp": 1699490546932,
    "api_version": "v1",
    "data": {
        "object": {
            "id": "gen-1",
            "status": "COMPLETE",
            "images": [
                {"id": "img-1", "url": "https://cdn/x_0.jpg", "nsfw": False},
                {"id": "img-2", "url": "https://cdn/x_1.jpg", "motionMP4URL": "https://cdn/x.mp4"},
            ],
        }
    },
}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


OnCallback = Callable[[Callback], Awaitable[None]]


@asynccontextmanager
async def receiver(
    on_callback: OnCallback | None = None, key: str = KEY
) -> AsyncIterator[tuple[str, list[Callback]]]:
    """A real receiver on a loopback port: its URL and the callbacks it handed over."""
    got: list[Callback] = []

    async def record(cb: Callback) -> None:
        got.append(cb)

    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_webhooks, "127.0.0.1", 0, key, on_callback or record)
        yield f"http://127.0.0.1:{port}/hook", got
        tg.cancel_scope.cancel()


async def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read until the receiver closes it."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_authorization_is_exact() -> None:
    """Only the exact bearer key passes; without a key nothing does."""
    assert authorized("Bearer k1", "k1")
    assert authorized("  Bearer k1 ", "k1")
    assert not authorized("Bearer k2", "k1")
    assert not authorized("k1", "k1")
    assert not authorized(None, "k1")
    assert not authorized(None, None)
    assert not authorized("Bearer ", "")
    assert not authorized("Bearer None", None)


def test_the_documented_envelope_names_its_generation() -> None:
    """Only the generation id is taken from a callback: status and URLs are never believed."""
    assert parse_callback(ENVELOPE) == Callback("gen-1")


def test_other_event_types_are_ignored() -> None:
    """A well-formed event we do not act on yields nothing, and raises nothing."""
    assert parse_callback({"type": "video_generation.complete", "data": {}}) is None


@pytest.mark.parametrize(
    "payload",
    [None, [], "text", 7, {}, {"type": 5}, {"type": "image_generation.complete"},
     {"type": "image_generation.complete", "data": []},
     {"type": "image_generation.complete", "data": {"object": "gen-1"}},
     {"type": "image_generation.complete", "data": {"object": {"id": 7}}},
     {"type": "image_generation.complete", "data": {"object": {"id": ""}}},
     {"type": "image_generation.complete", "data": {"object": {"id": "x" * 129}}}],
)  # fmt: skip
def test_malformed_envelopes_are_refused(payload: object) -> None:
    """Anything that is not the documented envelope is MalformedCallback (a ValueError)."""
    with pytest.raises(MalformedCallback):
        parse_callback(payload)


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_there_is_no_unauthenticated_mode(key: str | None) -> None:
    """Without a key the receiver refuses to start, before binding a port."""

    async def ignore(cb: Callback) -> None:
        raise AssertionError(cb)

    with pytest.raises(LeobatchError, match=r"webhooks need a bearer key \(LEOBATCH_WEBHOOK_KEY\)"):
        with anyio.fail_after(5):  # (a receiver that starts would serve forever)
            await serve_webhooks("127.0.0.1", 0, key, ignore)


async def test_the_server_checks_the_key_and_hands_over_callbacks() -> None:
    """A real POST: 401 without the key, 204 with it, and the callback arrives."""
    async with receiver() as (url, got), httpx.AsyncClient() as http:
        denied = await http.post(url, json=ENVELOPE, headers={"authorization": "Bearer no"})
        missing = await http.post(url, json=ENVELOPE)
        twice = await http.post(url, json=ENVELOPE, headers=[("authorization", "Bearer k1")] * 2)
        ok = await http.post(url, json=ENVELOPE, headers=AUTH)
        other = await http.post(url, json={"type": "video_generation.complete"}, headers=AUTH)
        wrong = await http.get(url, headers=AUTH)
    assert [r.status_code for r in (denied, missing, twice)] == [401, 401, 401]
    assert (ok.status_code, other.status_code, wrong.status_code) == (204, 204, 405)
    assert got == [Callback("gen-1")]


MALFORMED = {
    "invalid JSON": b"{not json",
    "deep nesting": b"[" * 200_000,
    "deep objects": b'{"a":' * 100_000,
    "not UTF-8": b'{"type": "\xff\xfe"}',
    "a JSON array": b"[]",
    "a JSON string": b'"image_generation.complete"',
    "a huge number": b"1" * 5000,
    "a wrong id type": json.dumps({**ENVELOPE, "data": {"object": {"id": [1]}}}).encode(),
    "an empty body": b"",
}


async def test_malformed_bodies_are_400_and_the_receiver_lives_on() -> None:
    """Invalid JSON, 200 KB of ``[[[``, non-UTF-8, wrong types: each a 400, never a crash."""
    async with receiver() as (url, got), httpx.AsyncClient() as http:
        statuses = {
            name: (await http.post(url, content=body, headers=AUTH)).status_code
            for name, body in MALFORMED.items()
        }
        after = await http.post(url, json=ENVELOPE, headers=AUTH)
    assert statuses == dict.fromkeys(MALFORMED, 400)
    assert after.status_code == 204
    assert got == [Callback("gen-1")]


async def test_a_failing_handler_is_a_500_not_a_dead_run() -> None:
    """The engine's failure on one callback is answered 500; the next callback is served."""
    calls: list[str] = []

    async def flaky(cb: Callback) -> None:
        calls.append(cb.generation_id)
        if len(calls) == 1:
            raise RuntimeError("boom")

    async with receiver(flaky) as (url, _), httpx.AsyncClient() as http:
        first = await http.post(url, json=ENVELOPE, headers=AUTH)
        second = await http.post(url, json=ENVELOPE, headers=AUTH)
    assert (first.status_code, second.status_code) == (500, 204)
    assert calls == ["gen-1", "gen-1"]


async def test_oversized_requests_are_refused_before_their_body_is_read() -> None:
    """A head over 16 KB is 431; a declared body over 1 MB is 413; neither is read or kept."""
    async with receiver() as (url, got):
        port = _port(url)
        big_head = b"POST /hook HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 20_000 + b"\r\n\r\n"
        head_reply = await _raw(port, big_head)
        big_body = (
            b"POST /hook HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k1\r\n"
            b"content-length: 2000000\r\n\r\n{"
        )
        body_reply = await _raw(port, big_body)
        unauthenticated = await _raw(
            port, b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 999999\r\n\r\n["
        )
        garbage = await _raw(port, b"\x16\x03\x01 not http at all\r\n\r\n")
        async with httpx.AsyncClient() as http:
            after = await http.post(url, json=ENVELOPE, headers=AUTH)
    assert head_reply.startswith(b"HTTP/1.1 431 ")
    assert body_reply.startswith(b"HTTP/1.1 413 ")
    assert unauthenticated.startswith(b"HTTP/1.1 401 ")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert after.status_code == 204
    assert got == [Callback("gen-1")]


async def test_one_connection_serves_a_bounded_number_of_requests() -> None:
    """Keep-alive works, but after MAX_REQUESTS_PER_CONNECTION the receiver closes."""
    body = json.dumps(ENVELOPE).encode()
    request = (
        b"POST /hook HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k1\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    async with receiver() as (url, got):
        replies = await _raw(_port(url), request * (MAX_REQUESTS_PER_CONNECTION + 5))
    assert replies.count(b"HTTP/1.1 204 ") == MAX_REQUESTS_PER_CONNECTION
    assert replies.rstrip().endswith(b"connection: close")
    assert len(got) == MAX_REQUESTS_PER_CONNECTION


async def test_connections_beyond_the_cap_are_closed_and_service_resumes() -> None:
    """Idle connections cannot exhaust the receiver: extra ones are closed on arrival."""
    async with receiver() as (url, got):
        port = _port(url)
        idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        await anyio.sleep(0.2)  # let the receiver accept them all
        extra = await _raw(port, b"POST /hook HTTP/1.1\r\nhost: x\r\n\r\n")
        for stream in idle:
            await stream.aclose()
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(5):
                while True:
                    try:
                        after = await http.post(url, json=ENVELOPE, headers=AUTH)
                        break
                    except httpx.TransportError:  # the receiver is still closing the idle ones
                        await anyio.sleep(0.05)
    assert extra == b""
    assert after.status_code == 204
    assert got == [Callback("gen-1")]
