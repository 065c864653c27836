"""Small request/response helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from leobatch.emulator.bodies import check_body, endpoint_for
from leobatch.emulator.refusal import Refusal
from leobatch.emulator.state import EmulatorState

__all__ = ["ok", "origin_of", "read_body", "state_of"]


def state_of(request: Request) -> EmulatorState:
    """The emulator state the app serves."""
    state = request.app.state.emulator
    assert isinstance(state, EmulatorState)
    return state


def origin_of(request: Request) -> str:
    """The origin written into CDN and upload URLs: configured, or the one asked on."""
    state = state_of(request)
    if state.origin:
        return state.origin
    return f"{request.url.scheme}://{request.url.netloc}"


async def read_body(request: Request, path: str) -> dict[str, Any]:
    """The JSON body, checked against the endpoint's field table."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as e:
        raise Refusal(400, f"invalid JSON body: {e}", "bad-request") from e
    return check_body(endpoint_for(path), body)


def ok(payload: Any) -> JSONResponse:
    """A 200 JSON response."""
    return JSONResponse(payload)
