"""The ASGI application: routes, and the checks every API request goes through.

Order per API request: count it, apply due completions, auth (api-facts section 2), the 429
storm and the global request limit, then for creates the per-endpoint create limit and the
error fault (500 before anything is created); the handler; finally the drop fault.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leobatch import catalog
from leobatch.emulator import (
    routes_account,
    routes_files,
    routes_generations,
    routes_v2,
    routes_variations,
)
from leobatch.emulator.bodies import endpoint_for
from leobatch.emulator.config import EmulatorConfig
from leobatch.emulator.http import state_of
from leobatch.emulator.records import Asset
from leobatch.emulator.refusal import Refusal, envelope
from leobatch.emulator.responses import DroppedResponse
from leobatch.emulator.state import EmulatorState
from leobatch.emulator.webhooks import send_webhooks

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/rest/v1"
#: v2 paths (``/v2/...``) hang off the API root, beside ``/v1`` (api-v2-facts 1.1)
API_ROOT = "/api/rest"
_BEARER = re.compile(
    r"^[Bb]earer ([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
Handler = Callable[[Request], Awaitable[Response]]


def _check_auth(request: Request, config: EmulatorConfig) -> None:
    match = _BEARER.match(request.headers.get("authorization", "").strip())
    if match is None:
        raise Refusal(500, "Invalid response from authorization hook")
    if config.api_key is not None and match.group(1).lower() != config.api_key.lower():
        raise Refusal(401, "Authentication hook unauthorized this request", "access-denied")


def _api(name: str, handler: Handler, create: str | None) -> Handler:
    limited = create is not None and endpoint_for(create).rate_limited

    async def endpoint(request: Request) -> Response:
        state = state_of(request)
        state.requests[name] += 1
        now = state.now()
        state.advance(now)
        try:
            _check_auth(request, state.config)
            state.check_rate(now)
            if create is not None:
                if limited:
                    state.check_create_rate(create, now)
                if state.fault("error"):
                    raise Refusal(500, "internal error")
            response = await handler(request)
        except Refusal as refusal:
            response = refusal.response()
        except ClientDisconnect:
            # The client went away before its body arrived (a run stopped at once): nothing was
            # created and nobody is left to answer; not a server error worth a traceback.
            return Response(status_code=499)
        if state.fault("drop"):
            return DroppedResponse(response.body, response.status_code)
        return response

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def _no_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the API's error envelope, as Hasura does."""
    status = getattr(exc, "status_code", 404)
    message = "resource does not exist" if status == 404 else "method not allowed"
    code = "not-found" if status == 404 else "bad-request"
    return JSONResponse(envelope(message, code), status)


async def stats(request: Request) -> Response:
    """GET /_emulator/stats: what happened so far (outside the API prefix, no auth)."""
    return JSONResponse(state_of(request).stats())


def _routes() -> list[Route]:
    table: list[tuple[str, str, Any, str | None]] = [
        *routes_generations.ROUTES,
        *routes_variations.ROUTES,
        *routes_account.ROUTES,
        *routes_files.API_ROUTES,
        *routes_v2.ROUTES,
    ]
    routes = [
        Route((API_ROOT if path.startswith("/v2/") else API_PREFIX) + path,
              _api(f"{method} {path}", handler, create), methods=[method])
        for path, method, handler, create in table
    ]  # fmt: skip
    routes.append(Route("/_emulator/stats", stats, methods=["GET"]))
    routes.append(Route(routes_files.S3_PATH, routes_files.s3_upload, methods=["POST"]))
    routes.append(Route("/cdn/{path:path}", routes_files.cdn, methods=["GET"]))
    return routes


def _catalogue_pictures(state: EmulatorState) -> None:
    for model in catalog.models():  # the v1 surface (``/platformModels``)
        state.assets[f"models/{model.slug}.jpg"] = Asset(
            "jpeg", 512, 512, (model.name,), model.id, 0.0
        )
    for element in catalog.elements():
        state.assets[f"elements/{element.id}.jpg"] = Asset(
            "jpeg", 256, 256, (element.name,), element.id, 0.0
        )


def create_app(
    config: EmulatorConfig | None = None, state: EmulatorState | None = None
) -> Starlette:
    """The emulator as a Starlette app; ``app.state.emulator`` is its ``EmulatorState``.

    Works in-process with ``httpx.ASGITransport`` (webhooks need the lifespan, so a server).
    """
    if state is None:
        state = EmulatorState(config or EmulatorConfig())
    _catalogue_pictures(state)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not state.config.webhook_url:
            yield
            return
        async with httpx.AsyncClient(timeout=5.0) as client, anyio.create_task_group() as tg:
            tg.start_soon(send_webhooks, state, client)
            yield
            tg.cancel_scope.cancel()

    handlers = {404: _no_route, 405: _no_route}
    app = Starlette(routes=_routes(), lifespan=lifespan, exception_handlers=handlers)
    app.state.emulator = state
    return app
