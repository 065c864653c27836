"""How leobatch runs its async code: anyio on asyncio, with uvloop's event loop when it is
installed (a dependency everywhere but Windows, which uvloop does not support).

uvloop's loop and transports are written in C: on the throughput benchmark the client's CPU per
job is about a tenth lower with it (benchmarks/README). ``LEOBATCH_EVENT_LOOP=asyncio`` runs on
the standard library's loop instead (to rule uvloop out when chasing a problem);
``LEOBATCH_EVENT_LOOP=uvloop`` insists on it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from leobatch.errors import LeobatchError

__all__ = ["LOOP_ENV", "backend_options", "run"]

LOOP_ENV = "LEOBATCH_EVENT_LOOP"
_CHOICES = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


def backend_options() -> dict[str, Any]:
    """anyio's asyncio backend options for the loop ``LEOBATCH_EVENT_LOOP`` asks for (``auto``,
    the default: uvloop when it can be imported)."""
    choice = os.environ.get(LOOP_ENV, "").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise LeobatchError(
            f"{LOOP_ENV}={os.environ[LOOP_ENV]!r} is not one of: {', '.join(_CHOICES)}"
        )
    if choice == "asyncio":
        return {}
    if importlib.util.find_spec("uvloop") is None:
        if choice == "uvloop":
            raise LeobatchError(f"{LOOP_ENV}=uvloop, but uvloop is not installed")
        return {}
    return {"use_uvloop": True}


def run(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run(func, *args)`` on the event loop :func:`backend_options` chooses."""
    return anyio.run(func, *args, backend_options=backend_options())
