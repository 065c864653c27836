"""Responses that break on purpose: a dropped connection, a truncated or a slow download.

Both start a response and then raise ``ConnectionDropped``; uvicorn closes the socket when an
application fails after its response started, so the client sees the connection die mid-reply.
Through ``httpx.ASGITransport`` the exception itself reaches the client; it is an
``httpx.RemoteProtocolError``, which is what httpx raises for a connection that dies mid-reply.
"""

from __future__ import annotations

import logging

import anyio
import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "ConnectionDropped",
    "DroppedResponse",
    "SlowResponse",
    "TruncatedResponse",
    "quiet_uvicorn",
]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised to make the server close the connection before the reply is complete."""


class DroppedResponse(Response):
    """Headers go out, then the connection closes before any body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        raise ConnectionDropped("dropped by the emulator (drop fault)")


class TruncatedResponse(Response):
    """The full Content-Length is announced, half the body is sent, then the connection closes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2],
                    "more_body": True})  # fmt: skip
        raise ConnectionDropped("truncated by the emulator (truncate fault)")


class SlowResponse(Response):
    """The whole body, complete and correct, trickled out in 10 pieces over ``duration_s``."""

    def __init__(self, content: bytes, media_type: str, duration_s: float) -> None:
        super().__init__(content, media_type=media_type)
        self.duration_s = duration_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        step = -(-len(self.body) // 10)
        for start in range(0, len(self.body), step):
            await anyio.sleep(self.duration_s / 10)
            await send({"type": "http.response.body", "body": self.body[start : start + step],
                        "more_body": True})  # fmt: skip
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _HideDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def quiet_uvicorn() -> None:
    """Keep uvicorn from logging a traceback for every deliberate drop."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDrops) for f in logger.filters):
        logger.addFilter(_HideDrops())
